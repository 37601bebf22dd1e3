/**
 * One online request, whatever its wire format: predict the prompt's curve, buy the
 * samples whose predicted gain is worth the tenant's current price, reserve them against
 * the hard budget, sample and rerank, charge, and let the price controller see the spend.
 * The OpenAI-compatible routes (completions, chat) only translate in and out.
 */
import { singleQuery, unitsAtPrice } from "../allocation/price.js";
import { chooseAtPrice, predictedMenu } from "../allocation/route.js";
import type { SamplingParams } from "../backends/completions.js";
import { lmConfig } from "../backends/config.js";
import type { LmInput } from "../contracts/lm-protocol.js";
import { type RerankResult, sampleAndRerank } from "../dispatch/best-of-k.js";
import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { BackendError } from "../lm/http.js";
import { choosePredictor, marginalsOf, predict, predictRoute } from "../predictor/predict.js";
import { type Shipped, findRouter } from "../predictor/registry.js";
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
  /** The model that answered: the request's, or the one the router chose. */
  readonly model: string;
  /** Samples drawn. */
  readonly samples: number;
  /** Units charged: the samples × their model's cost (1 per sample without routing). */
  readonly units: number;
  readonly price: number;
  /** The predictor's single-sample success of the chosen model (q(1) for a curve predictor); null when pinned. */
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

interface Plan {
  readonly model: string;
  readonly samples: number;
  readonly units: number;
  readonly predicted: number | null;
}

type OnlineSettings = { min_units: number; max_units: number; price: number };

/** Best-of-k on the request's model: k = the units worth the price (or the pinned k). */
async function planBestOfK(env: Env, req: OnlineRequest, online: OnlineSettings): Promise<Plan> {
  if (req.pinned) return { model: req.model, samples: req.pinned.units, units: req.pinned.units, predicted: null };
  const shipped = choosePredictor(env, { model: req.model });
  const [pr] = await predict(env, shipped, [req.input], () => ("messages" in req.input ? "messages" : "prompt"));
  const bounds = { min: online.min_units, max: online.max_units };
  const curve = "p" in pr ? singleQuery({ p: pr.p, ...bounds }) : singleQuery({ marginals: marginalsOf(pr.curve), ...bounds });
  const k = Math.max(online.min_units, unitsAtPrice(curve, online.price));
  return { model: req.model, samples: k, units: k, predicted: "p" in pr ? pr.p : pr.curve[0] };
}

/**
 * Routing: every (model, k) within the tenant's min/max units, valued by the router's
 * p for that model; the option worth most at the price, or, when the caller pins units,
 * the most valuable one those units buy.
 */
async function planRoute(env: Env, router: Shipped, req: OnlineRequest, online: OnlineSettings): Promise<Plan> {
  const options = router.manifest.route!.options;
  const [p] = await predictRoute(env, router, [req.input]);
  const maxCost = req.pinned?.units ?? online.max_units;
  const menu = predictedMenu(options, p, req.pinned ? 0 : online.min_units, maxCost);
  if (menu.length === 0) {
    const cheapest = Math.min(...options.map((o) => o.cost));
    throw new ApiError(400, "invalid_request_error", `no option of ${router.manifest.name} costs between ${req.pinned ? 1 : online.min_units} and ${maxCost} units (the cheapest costs ${cheapest})`, req.pinned?.param ?? "model");
  }
  const choice = chooseAtPrice(menu, req.pinned ? 0 : online.price);
  return { model: options[choice.option].model, samples: choice.k, units: choice.cost, predicted: p[choice.option] };
}

export async function serveOnline(env: Env, tenant: string, req: OnlineRequest): Promise<OnlineResult> {
  const ledger = tenantLedger(env, tenant);
  const online = await ledger.online();
  if (req.pinned && req.pinned.units > online.max_units) {
    throw new ApiError(400, "invalid_request_error", `${req.pinned.units} units is above this tenant's max of ${online.max_units}`, req.pinned.param);
  }
  const router = findRouter(req.model);
  const plan = router ? await planRoute(env, router, req, online) : await planBestOfK(env, req, online);

  const reservation = await ledger.reserve(plan.units, null);
  if (!reservation.ok) throw budgetExceeded(tenant, reservation, "this request");
  let result: RerankResult;
  try {
    [result] = await sampleAndRerank({ ...lmConfig(env), model: plan.model }, [{ input: req.input, units: plan.samples, seed: req.seed }], req.params);
  } catch (e) {
    await ledger.release(reservation.id);
    if (e instanceof BackendError) throw new ApiError(502, "upstream_error", `the LM or the reward model failed: ${e.message}`);
    throw e;
  }
  await ledger.commit(reservation.id, plan.units);
  await ledger.release(reservation.id);
  await ledger.observe(plan.units); // the price moves so that average spend tracks the target
  return { ...plan, price: online.price, result };
}

/** What allot did, as response headers. */
export function allotHeaders(r: OnlineResult): Record<string, string> {
  return {
    "x-allot-model": r.model,
    "x-allot-samples": String(r.samples),
    "x-allot-units": String(r.units),
    "x-allot-price": String(r.price),
    ...(r.predicted !== null ? { "x-allot-predicted-success": r.predicted.toFixed(4) } : {}),
  };
}
