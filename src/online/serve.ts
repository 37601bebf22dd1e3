/**
 * One online request, whatever its wire format: predict the prompt's curve, buy the
 * samples whose predicted gain is worth the tenant's current price, reserve them against
 * the hard budget, sample and rerank, charge, and let the price controller see the spend.
 * The OpenAI-compatible routes (completions, chat) only translate in and out.
 */
import { singleQuery, unitsAtPrice } from "../allocation/price.js";
import type { SamplingParams } from "../backends/completions.js";
import { lmConfig } from "../backends/config.js";
import type { LmInput } from "../contracts/lm-protocol.js";
import { type RerankResult, sampleAndRerank } from "../dispatch/best-of-k.js";
import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { BackendError } from "../lm/http.js";
import { choosePredictor, marginalsOf, predict } from "../predictor/predict.js";
import { budgetExceeded } from "../tenants/budget-error.js";
import { tenantLedger } from "../tenants/lookup.js";

export interface OnlineRequest {
  readonly input: LmInput;
  readonly model: string;
  readonly params: SamplingParams;
  readonly seed?: number;
  /** Samples the caller pinned (x-allot-units or body allot.units), and where it said so. */
  readonly pinned?: { readonly units: number; readonly param: string };
}

export interface OnlineResult {
  readonly units: number;
  readonly price: number;
  /** The predictor's single-sample success (or q(1) for a curve predictor); null when pinned. */
  readonly predicted: number | null;
  readonly result: RerankResult;
}

/** The x-allot-units header or the body's allot.units, validated; the header wins. */
export function pinnedUnits(header: string | undefined, body: number | undefined): OnlineRequest["pinned"] {
  if (header !== undefined) {
    const n = Number(header);
    if (!Number.isInteger(n) || n < 1 || n > 1_000) throw new ApiError(400, "invalid_request_error", `x-allot-units must be an integer from 1 to 1000, got "${header}"`, "x-allot-units");
    return { units: n, param: "x-allot-units" };
  }
  return body === undefined ? undefined : { units: body, param: "allot.units" };
}

export async function serveOnline(env: Env, tenant: string, req: OnlineRequest): Promise<OnlineResult> {
  const ledger = tenantLedger(env, tenant);
  const online = await ledger.online();
  if (req.pinned && req.pinned.units > online.max_units) {
    throw new ApiError(400, "invalid_request_error", `${req.pinned.units} units is above this tenant's max of ${online.max_units}`, req.pinned.param);
  }

  let units = req.pinned?.units ?? 0;
  let predicted: number | null = null;
  if (!req.pinned) {
    const shipped = choosePredictor(env, { model: req.model });
    const [pr] = await predict(env, shipped, [req.input], () => ("messages" in req.input ? "messages" : "prompt"));
    const bounds = { min: online.min_units, max: online.max_units };
    const curve = "p" in pr ? singleQuery({ p: pr.p, ...bounds }) : singleQuery({ marginals: marginalsOf(pr.curve), ...bounds });
    units = Math.max(online.min_units, unitsAtPrice(curve, online.price));
    predicted = "p" in pr ? pr.p : pr.curve[0];
  }

  const reservation = await ledger.reserve(units, null);
  if (!reservation.ok) throw budgetExceeded(tenant, reservation, "this request");
  let result: RerankResult;
  try {
    [result] = await sampleAndRerank({ ...lmConfig(env), model: req.model }, [{ input: req.input, units, seed: req.seed }], req.params);
  } catch (e) {
    await ledger.release(reservation.id);
    if (e instanceof BackendError) throw new ApiError(502, "upstream_error", `the LM or the reward model failed: ${e.message}`);
    throw e;
  }
  await ledger.commit(reservation.id, units);
  await ledger.release(reservation.id);
  await ledger.observe(units); // the price moves so that average spend tracks the target
  return { units, price: online.price, predicted, result };
}

/** What allot did, as response headers. */
export function allotHeaders(r: OnlineResult): Record<string, string> {
  return {
    "x-allot-units": String(r.units),
    "x-allot-price": String(r.price),
    ...(r.predicted !== null ? { "x-allot-predicted-success": r.predicted.toFixed(4) } : {}),
  };
}
