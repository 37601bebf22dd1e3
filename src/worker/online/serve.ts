/**
 * One online request, whatever its wire format: predict each prompt's curve, buy the
 * samples whose predicted gain is worth the tenant's current price, reserve them against
 * the hard budget (fewer, chosen optimally, when the budget has less left), sample and
 * rerank, charge, and let the price controller see the spend. The OpenAI-compatible
 * routes (completions, chat) only translate in and out.
 */
import { fitToBudget } from "../../core/allocation/fit.js";
import { singleQuery, unitsAtPrice } from "../../core/allocation/price.js";
import { type RouteChoice, chooseAtPrice, predictedMenu, routeMenu } from "../../core/allocation/route.js";
import { type CascadeArm, nextArm } from "../../core/allocation/cascade.js";
import { atomsFromCurve } from "../../core/allocation/pandora.js";
import { type Belief, PASSING_REWARD, gainsOf, meanOf, priorOf, roundSeed, roundSize, wantedAtPrice } from "../../core/allocation/waves.js";
import type { SamplingParams } from "../../core/backends/completions.js";
import { lmConfig } from "../backends/config.js";
import { upstreamError } from "../backends/upstream-error.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { type RerankResult, mapBounded, sampleAndRerank } from "../../core/backends/best-of-k.js";
import type { Env } from "../env.js";
import { BudgetExceeded, Invalid, isUpstream } from "../../core/errors.js";
import { httpError } from "../http/errors.js";
import { choosePredictor, marginalsOf, predict, predictRoute } from "../predictor/predict.js";
import { type Predictor, findRouter } from "../predictor/registry.js";
import type { RequestRecord } from "../../core/contracts/metrics.js";
import { CallMeter } from "../../core/lm/meter.js";
import { type EarnedSums, addEarned, curvePoints, earnedOf, emptyEarned } from "../../core/metrics/earned.js";
import { budgetExceeded } from "../tenants/budget-error.js";
import { onlineLedger } from "../tenants/online-ledger.js";

/** Below this temperature vLLM samples greedily (_SAMPLING_EPS): k samples would be k copies of one. */
export const GREEDY_TEMPERATURE = 1e-5;

export interface OnlineRequest {
  /** One or more prompts (a completions prompt array), or one conversation. */
  readonly inputs: readonly LmInput[];
  readonly model: string;
  readonly params: SamplingParams;
  readonly seed?: number;
  /** Samples the caller pinned (x-allot-units, body allot.units, best_of), and where it said so. */
  readonly pinned?: { readonly units: number; readonly param: string };
  /** The most rounds the caller allows (x-allot-rounds or body allot.rounds), within the tenant's max_rounds. */
  readonly rounds?: { readonly max: number; readonly param: string };
  /** The API route it came by, for the console's counts (default completions). */
  readonly route?: RequestRecord["route"];
}

export interface ServedChoice {
  /** The model that answered: the request's, or the one the router chose. */
  readonly model: string;
  /** Samples drawn. */
  readonly samples: number;
  /** Units charged: the samples × their model's cost (1 per sample without routing). */
  readonly units: number;
  /** The predictor's single-sample success of the chosen model (q(1) for a curve predictor); null when not predicted. */
  readonly predicted: number | null;
  /** Rounds of sampling (round trips to the LM): 1 unless the request sampled in waves. */
  readonly rounds: number;
  readonly result: RerankResult;
}

export interface OnlineResult {
  readonly choices: readonly ServedChoice[];
  readonly price: number;
  /** Units planned at the price (for waves and cascades, their caps), and charged. */
  readonly planned: number;
  /** The budget had fewer units left than planned, so the plan was cut to fit. */
  readonly budgetLimited: boolean;
  readonly units: number;
}

/**
 * An integer setting from a request header (validated here: 400 naming the header) or
 * from the body (validated by its schema); the header wins. Undefined when neither is set.
 */
function headerOrBody(header: string | undefined, headerName: string, max: number, body: number | undefined, bodyParam: string): { value: number; param: string } | undefined {
  if (header !== undefined) {
    const n = Number(header);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Invalid({ message: `${headerName} must be an integer from 1 to ${max}, got "${header}"`, param: headerName });
    return { value: n, param: headerName };
  }
  return body === undefined ? undefined : { value: body, param: bodyParam };
}

/** The x-allot-units header or the body's allot.units (or best_of), validated; the header wins. */
export function pinnedUnits(header: string | undefined, body: number | undefined, bodyParam = "allot.units"): OnlineRequest["pinned"] {
  const v = headerOrBody(header, "x-allot-units", 1_000, body, bodyParam);
  return v && { units: v.value, param: v.param };
}

/** The x-allot-rounds header or the body's allot.rounds, validated; the header wins. */
export function roundsCap(header: string | undefined, body: number | undefined): OnlineRequest["rounds"] {
  const v = headerOrBody(header, "x-allot-rounds", 16, body, "allot.rounds");
  return v && { max: v.value, param: v.param };
}

/** One way to answer a prompt: a model, its samples, what they cost and are predicted to be worth. */
interface Option extends RouteChoice {
  readonly model: string;
  readonly predicted: number | null;
}

/** A prompt's options, cheapest usable first, and the one planned at the price. */
interface Plan {
  readonly options: readonly Option[];
  readonly chosen: number;
  /** Set when the prompt samples in waves: what is believed of its p (the options' k are then caps). */
  readonly belief?: Belief;
  /** Set when a routed prompt samples in a cascade: its models (the options' costs are then caps on units). */
  readonly cascade?: readonly (CascadeArm & { readonly model: string })[];
  /**
   * Set when a best-of-k predictor decided the spend: its name and the prompt's expected
   * best of k (k = 1..CURVE_UNITS), what the console's "what allot earned" compares with.
   */
  readonly predicted?: { readonly predictor: string; readonly curve: readonly number[] };
}

type OnlineSettings = { min_units: number; max_units: number; max_rounds: number; price: number };

const fixed = (model: string, samples: number, cost = samples, predicted: number | null = null): Plan => ({
  options: [{ option: 0, k: samples, cost, value: 0, model, predicted }],
  chosen: 0,
});

/** Best-of-k on the request's model: k = the samples worth the price; any k from the minimum up to it can be served. */
async function planBestOfK(env: Env, req: OnlineRequest, online: OnlineSettings, greedy: boolean, rounds: number, meter: CallMeter): Promise<Plan[]> {
  if (req.pinned) return req.inputs.map(() => fixed(req.model, req.pinned!.units));
  const predictor = await choosePredictor(env, { model: req.model });
  // One sample under greedy decoding: the model is still checked above, so an unknown one is a 404 either way.
  if (greedy) return req.inputs.map(() => fixed(req.model, 1));
  const preds = await predict(env, predictor, req.inputs, () => ("messages" in req.inputs[0] ? "messages" : "prompt"), meter);
  const bounds = { min: online.min_units, max: online.max_units };
  const strength = predictor.manifest.prior_strength;
  return preds.map((pr) => ({ ...planOne(pr), predicted: { predictor: predictor.manifest.name, curve: curvePoints(pr) } }));

  function planOne(pr: (typeof preds)[number]): Plan {
    if (rounds > 1 && "p" in pr && strength !== undefined) return planWaves(req.model, { prior: priorOf(pr.p, strength) }, pr.p, online);
    if (rounds > 1 && "curve" in pr) return planWaves(req.model, { atoms: atomsFromCurve(pr.curve), strength }, pr.curve[0], online);
    const curve = "p" in pr ? singleQuery({ p: pr.p, ...bounds }) : singleQuery({ marginals: marginalsOf(pr.curve), ...bounds });
    const k = Math.max(online.min_units, unitsAtPrice(curve, online.price));
    const q = (j: number) => ("p" in pr ? 1 - Math.pow(1 - pr.p, j) : pr.curve[Math.min(j, pr.curve.length) - 1]);
    const predicted = "p" in pr ? pr.p : pr.curve[0];
    const options = Array.from({ length: k - online.min_units + 1 }, (_, i) => {
      const j = online.min_units + i;
      return { option: 0, k: j, cost: j, value: q(j), model: req.model, predicted };
    });
    return { options, chosen: options.length - 1 };
  }
}

/**
 * Waves: for a binary-reward predictor, sample until the first pass while the posterior
 * chance that the next sample passes is at least the price (allocation/waves.ts); for a
 * curve predictor (real-valued rewards), while the best reward so far is below Pandora's
 * reservation value at the price, under the distribution the curve implies
 * (allocation/pandora.ts). The options are caps: k = the samples the rule would draw if
 * none ended the query, valued by the expected best of k; the request reserves its cap and
 * pays for what it draws.
 */
function planWaves(model: string, belief: Belief, predicted: number, online: OnlineSettings): Plan {
  const start = { drawn: 0, best: 0 };
  const cap = Math.max(online.min_units, wantedAtPrice(belief, start, online.price, online.max_units));
  const gains = gainsOf(belief, start, cap);
  let within = 0;
  const value = Array.from(gains, (g) => (within += g));
  const options = Array.from({ length: cap - online.min_units + 1 }, (_, i) => {
    const k = online.min_units + i;
    return { option: 0, k, cost: k, value: value[k - 1], model, predicted };
  });
  return { options, chosen: options.length - 1, belief };
}

/**
 * One prompt's waves: rounds of 1, 1, 2, 4, … samples (the last allowed round takes all
 * the rule still wants), stopping at the first passing sample, when the rule says another
 * sample is not worth the price, or at the cap. Returns the best sample of all
 * rounds and what was drawn.
 */
async function sampleInWaves(
  cfg: ReturnType<typeof lmConfig>,
  input: LmInput,
  option: Option,
  belief: Belief,
  online: OnlineSettings,
  maxRounds: number,
  req: OnlineRequest,
): Promise<{ result: RerankResult; samples: number; rounds: number }> {
  let drawn = 0;
  let rounds = 0;
  let best: RerankResult | null = null;
  while (drawn < option.k && rounds < maxRounds) {
    const owed = Math.max(0, online.min_units - drawn);
    const want = Math.max(owed, wantedAtPrice(belief, { drawn, best: best?.reward ?? 0, seen: best?.rewards }, online.price, option.k - drawn));
    if (want === 0) break;
    const d = rounds === maxRounds - 1 ? want : Math.min(want, Math.max(owed, roundSize(rounds)));
    const [r] = await sampleAndRerank({ ...cfg, model: option.model }, [{ input, units: d, seed: roundSeed(req.seed, rounds) }], req.params);
    drawn += d;
    rounds++;
    best = best === null ? r : mergeRounds(best, r);
    if ((r.reward ?? 0) >= PASSING_REWARD) break;
  }
  return { result: best!, samples: drawn, rounds };
}

/** What one prompt drew: its best sample, from which model, and what it cost. */
interface Drawn {
  readonly result: RerankResult;
  readonly samples: number;
  readonly rounds: number;
  /** The model whose sample was kept. */
  readonly model: string;
  readonly units: number;
}

/**
 * One routed prompt's cascade: each round samples the model the rule picks (a slice of
 * the run it would draw: 1, 1, 2, 4, …; the last allowed round takes the whole run), until
 * a pass, the rule says stop, or the units cap. Returns the best sample of all rounds.
 */
async function sampleCascade(
  cfg: ReturnType<typeof lmConfig>,
  input: LmInput,
  cap: number,
  arms: NonNullable<Plan["cascade"]>,
  online: OnlineSettings,
  maxRounds: number,
  req: OnlineRequest,
): Promise<Drawn> {
  const failures = arms.map(() => 0);
  let units = 0;
  let samples = 0;
  let rounds = 0;
  let best: { r: RerankResult; model: string } | null = null;
  while (rounds < maxRounds) {
    // The first sample is owed (min_units); after it, only what is worth the price.
    const affordable = arms.map((a, j) => ({ ...a, max: Math.min(a.max, failures[j] + Math.floor((cap - units) / a.cost)) }));
    const next = nextArm(affordable, failures, samples === 0 ? 0 : online.price);
    if (!next) break;
    const arm = arms[next.arm];
    const d = rounds === maxRounds - 1 ? next.run : Math.min(next.run, roundSize(rounds));
    const [r] = await sampleAndRerank({ ...cfg, model: arm.model }, [{ input, units: d, seed: roundSeed(req.seed, rounds) }], req.params);
    failures[next.arm] += d;
    units += d * arm.cost;
    samples += d;
    rounds++;
    best = best === null ? { r, model: arm.model } : { r: mergeRounds(best.r, r), model: (r.reward ?? -Infinity) > (best.r.reward ?? -Infinity) ? arm.model : best.model };
    if ((r.reward ?? 0) >= PASSING_REWARD) break;
  }
  return { result: best!.r, samples, rounds, model: best!.model, units };
}

/** The better of two rounds' results (the earlier on a tie), with every sample's tokens counted. */
function mergeRounds(a: RerankResult, b: RerankResult): RerankResult {
  const keep = (b.reward ?? -Infinity) > (a.reward ?? -Infinity) ? b : a;
  return {
    ...keep,
    samples: [...a.samples, ...b.samples],
    rewards: [...a.rewards, ...b.rewards],
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
  };
}

/**
 * Routing in waves (allocation/cascade.ts): after each round, the model with the highest
 * posterior success per unit of cost, while that is worth the price. The options are caps
 * on units along the path the rule takes if every sample fails (valued by the predictive
 * chance of a pass within it); the request reserves its cap and pays for what it draws.
 */
function planCascade(arms: NonNullable<Plan["cascade"]>, p: readonly number[], online: OnlineSettings): Plan {
  const failures = arms.map(() => 0);
  const options: Option[] = [];
  let cost = 0;
  let missAll = 1;
  for (;;) {
    const next = nextArm(arms, failures, options.length === 0 ? 0 : online.price);
    if (!next || cost + arms[next.arm].cost > online.max_units) break;
    const arm = arms[next.arm];
    // The chance this sample is the first pass, given every earlier one (of any model) failed.
    missAll *= 1 - meanOf(arm.belief, failures[next.arm]);
    failures[next.arm]++;
    cost += arm.cost;
    // Labelled by the model sampled first (the one that answers unless it fails).
    const first = options.length === 0 ? next.arm : options[0].option;
    options.push({ option: next.arm, k: options.length + 1, cost, value: 1 - missAll, model: arms[first].model, predicted: p[first] });
  }
  if (options.length === 0) throw new Invalid({ message: `no model of the router costs at most this tenant's max of ${online.max_units} units`, param: "model" });
  // The first sample is owed whatever the price (min_units); the cap is where the rule stops if all fail.
  return { options, chosen: options.length - 1, cascade: arms };
}

/**
 * Routing: every (model, k) within the tenant's min/max units, valued by the router's
 * p for that model; the option worth most at the price, or, when the caller pins units,
 * the most valuable one those units buy; under greedy decoding, one sample of some model.
 */
async function planRoute(env: Env, router: Predictor, req: OnlineRequest, online: OnlineSettings, greedy: boolean, rounds: number, meter: CallMeter): Promise<Plan[]> {
  const models = router.manifest.route!.options;
  const ps = await predictRoute(env, router, req.inputs, meter);
  const maxCost = req.pinned?.units ?? online.max_units;
  const minCost = req.pinned ? 0 : online.min_units;
  const strength = router.manifest.prior_strength;
  return ps.map((p) => {
    if (rounds > 1 && strength !== undefined && !req.pinned && !greedy) {
      const arms = models.map((m, j) => ({ model: m.model, cost: m.cost, belief: { prior: priorOf(p[j], strength) }, max: Math.floor(online.max_units / m.cost) }));
      return planCascade(arms, p, online);
    }
    const menu = greedy ? routeMenu(models, 1, (j) => p[j], { max: maxCost }) : predictedMenu(models, p, minCost, maxCost);
    if (menu.length === 0) {
      const cheapest = Math.min(...models.map((o) => o.cost));
      throw new Invalid({ message: `no option of ${router.manifest.name} costs between ${minCost || 1} and ${maxCost} units (the cheapest costs ${cheapest})`, param: req.pinned?.param ?? "model" });
    }
    const choice = chooseAtPrice(menu, req.pinned ? 0 : online.price);
    const option = (o: RouteChoice): Option => ({ ...o, model: models[o.option].model, predicted: p[o.option] });
    // A pinned request gets what it pinned, or nothing: no cheaper fallback.
    if (req.pinned) return { options: [option(choice)], chosen: 0 };
    const options = menu.filter((o) => o.cost <= choice.cost).map(option);
    return { options, chosen: options.findIndex((o) => o.option === choice.option && o.k === choice.k) };
  });
}

/**
 * Serves the request. `waitUntil` (the Worker's ExecutionContext's) keeps the sampling and
 * the settlement running when the client goes away, so what was drawn is charged and the
 * rest released; a gateway that dies outright leaves a reservation whose lease
 * (ONLINE_LEASE_SECONDS) ends it.
 */
export function serveOnline(env: Env, tenant: string, req: OnlineRequest, waitUntil: (p: Promise<unknown>) => void = () => {}): Promise<OnlineResult> {
  const meter = new CallMeter();
  return serveMetered(env, tenant, req, waitUntil, meter, Date.now());
}

/** What the console records of a request that ended with `status`, having drawn `drawn` (none if it failed). */
function recordOf(req: OnlineRequest, status: number, priced: boolean, meter: CallMeter, started: number, plans: readonly Plan[] = [], drawn: readonly Drawn[] = []): RequestRecord {
  let earned: EarnedSums | null = null;
  const points: { predicted: number; observed: number }[] = [];
  drawn.forEach((d, i) => {
    const p = plans[i]?.predicted;
    if (!priced || !p || d.result.reward === null) return;
    earned = addEarned(earned ?? emptyEarned(), earnedOf(d.result.reward, d.units, p.curve));
    points.push({ predicted: p.curve[0], observed: d.result.rewards[0] });
  });
  const predictor = plans.find((p) => p.predicted)?.predicted?.predictor;
  return {
    route: req.route ?? "completions",
    status,
    prompts: req.inputs.length,
    samples: drawn.reduce((s, d) => s + d.samples, 0),
    rounds: drawn.reduce((s, d) => Math.max(s, d.rounds), 0),
    priced,
    total_ms: Date.now() - started,
    lm_ms: meter.elapsed(),
    lm_retries: meter.retries,
    lm_errors: meter.errors,
    earned,
    calibration: predictor && points.length > 0 ? { predictor, points } : null,
  };
}

/** The HTTP status an error leaves with (as errorResponse sends it). */
const statusOf = (e: unknown): number => httpError(e).status;

async function serveMetered(env: Env, tenant: string, req: OnlineRequest, waitUntil: (p: Promise<unknown>) => void, meter: CallMeter, started: number): Promise<OnlineResult> {
  const ledger = onlineLedger(env, tenant);
  const greedy = req.params.temperature < GREEDY_TEMPERATURE;
  const router = await findRouter(env, req.model);
  // One ledger (or budget shard) call before the LM work (settings, price, and a reservation
  // of all this request could spend, or a refusal before any LM work) and one after (`finish`).
  const online = await ledger.begin({
    prompts: req.inputs.length,
    pinned: req.pinned?.units ?? null,
    rounds: req.rounds?.max ?? null,
    greedy: greedy && !router,
    unitCost: router ? Math.min(...router.manifest.route!.options.map((o) => o.cost)) : 1,
    route: req.route ?? "completions",
  });
  if (online.invalid === "units") throw new Invalid({ message: `${req.pinned!.units} units is above this tenant's max of ${online.max_units}`, param: req.pinned!.param });
  if (online.invalid === "rounds") throw new Invalid({ message: `${req.rounds!.max} rounds is above this tenant's max of ${online.max_rounds}`, param: req.rounds!.param });
  const reservation = online.reservation!;
  if (!reservation.ok) throw budgetExceeded(tenant, reservation, "this request");
  const maxRounds = req.rounds?.max ?? online.max_rounds;
  const priced = !req.pinned && !greedy;

  let plans: Plan[] = [];
  let chosen: Option[];
  let planned: number;
  try {
    plans = router ? await planRoute(env, router, req, online, greedy, maxRounds, meter) : await planBestOfK(env, req, online, greedy, maxRounds, meter);
    planned = plans.reduce((s, p) => s + p.options[p.chosen].cost, 0);
    const cheapest = plans.reduce((s, p) => s + Math.min(...p.options.map((o) => o.cost)), 0);
    if (cheapest > reservation.units) {
      throw new BudgetExceeded({ tenant, message: `tenant ${tenant} has ${reservation.units} units left for this request; its cheapest option costs ${cheapest}` });
    }
    const picks = fitToBudget(plans.map((p) => p.options), plans.map((p) => p.chosen), reservation.units);
    chosen = plans.map((p, i) => p.options[picks[i]]);
  } catch (e) {
    // Planning failed (an unknown model, an unusable hidden state, …): nothing is drawn, nothing held.
    await ledger.release(reservation.id, recordOf(req, statusOf(e), priced, meter, started, plans));
    throw e;
  }

  // Sampling and settlement run to the end whatever happens to the client.
  const work = (async () => {
    try {
      const cfg = { ...lmConfig(env), meter };
      const drawn = await mapBounded(chosen, 6, async (o, i): Promise<Drawn> => {
        const { belief, cascade } = plans[i];
        if (cascade) return sampleCascade(cfg, req.inputs[i], o.cost, cascade, online, maxRounds, req);
        if (belief) {
          const w = await sampleInWaves(cfg, req.inputs[i], o, belief, online, maxRounds, req);
          return { ...w, model: o.model, units: w.samples };
        }
        const [result] = await sampleAndRerank({ ...cfg, model: o.model }, [{ input: req.inputs[i], units: o.k, seed: req.seed }], req.params);
        return { result, samples: o.k, rounds: 1, model: o.model, units: o.cost };
      });
      // Charged: what was drawn (waves and cascades may stop before their cap), each sample
      // at its model's cost. The price sees what the price decided (the plan, or what waves
      // drew, even when the budget's end cut it short), and nothing of requests whose spend
      // it did not decide (pinned, or greedy).
      const observed = priced ? plans.map((p, i) => (p.belief || p.cascade ? drawn[i].units : p.options[p.chosen].cost)) : null;
      await ledger.finish(reservation.id, drawn.reduce((s, d) => s + d.units, 0), observed, recordOf(req, 200, priced, meter, started, plans, drawn));
      return drawn;
    } catch (e) {
      await ledger.release(reservation.id, recordOf(req, statusOf(e), priced, meter, started, plans));
      throw e;
    }
  })();
  waitUntil(work.catch(() => undefined));
  let results: Drawn[];
  try {
    results = await work;
  } catch (e) {
    if (isUpstream(e)) {
      const sent = ["temperature", "top_p", "max_tokens", "stop", "seed", ...Object.keys(req.params.extra ?? {})];
      throw upstreamError(e, "sampling", "messages" in req.inputs[0] ? "messages" : "prompt", sent);
    }
    throw e;
  }
  const choices = chosen.map((o, i) => ({
    model: results[i].model,
    samples: results[i].samples,
    units: results[i].units,
    predicted: req.pinned || greedy ? null : o.predicted,
    rounds: results[i].rounds,
    result: results[i].result,
  }));
  // Cut by the budget: the options kept cost less than the plan (waves and cascades that
  // stop before their cap are not, though they charge less than planned).
  const budgetLimited = chosen.reduce((s, o) => s + o.cost, 0) < planned;
  return { choices, price: online.price, planned, budgetLimited, units: choices.reduce((s, c) => s + c.units, 0) };
}

/** What allot did, as response headers: per choice, comma-separated, where choices differ. */
export function allotHeaders(r: OnlineResult): Record<string, string> {
  const each = (f: (c: ServedChoice) => string) => r.choices.map(f).join(",");
  const predicted = r.choices.every((c) => c.predicted !== null);
  return {
    "x-allot-model": [...new Set(r.choices.map((c) => c.model))].join(","),
    "x-allot-samples": each((c) => String(c.samples)),
    "x-allot-units": String(r.units),
    "x-allot-rounds": each((c) => String(c.rounds)),
    "x-allot-price": String(r.price),
    ...(r.budgetLimited ? { "x-allot-planned-units": String(r.planned), "x-allot-budget-limited": "true" } : {}),
    ...(predicted ? { "x-allot-predicted-success": each((c) => c.predicted!.toFixed(4)) } : {}),
  };
}
