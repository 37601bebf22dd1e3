/**
 * How each prompt of an online request will be served, decided from its prediction at the
 * tenant's price: either one round fixed up front (k samples of a model: pinned units,
 * greedy decoding, one allowed round, or a predictor without a fitted prior), or rounds
 * decided one after another by the sequential core (core/sequential: waves for best-of-k,
 * a cascade for a router).
 */
import { atomsFromCurve } from "../../core/allocation/pandora.js";
import { singleQuery, unitsAtPrice } from "../../core/allocation/price.js";
import { type RouteChoice, chooseAtPrice, predictedMenu, routeMenu } from "../../core/allocation/route.js";
import { priorOf } from "../../core/allocation/waves.js";
import { scaled } from "../../core/audit/calibration.js";
import { refitCurve } from "../../core/audit/refit-curve.js";
import type { Applied } from "../../core/audit/recalibration.js";
import type { CallMeter } from "../../core/lm/meter.js";
import { curvePoints } from "../../core/metrics/earned.js";
import { Invalid } from "../../core/errors.js";
import { type Query, capAtPrice, startState } from "../../core/sequential/index.js";
import type { Env } from "../env.js";
import { choosePredictor, defaultUnits, marginalsOf, predictOrDefault, predictRoute } from "../predictor/predict.js";
import type { Predictor } from "../predictor/registry.js";
import type { OnlineRequest } from "./request.js";

/** One way to answer a prompt in a single round: k samples of a model, what they cost and are predicted to be worth. */
export interface FixedOption {
  readonly model: string;
  readonly k: number;
  readonly cost: number;
  readonly value: number;
  /** The predictor's single-sample success of this model; null when not predicted. */
  readonly predicted: number | null;
  /** A thinking model's budget for each sample, in tokens (-1 unlimited); absent: none sent. */
  readonly budget?: number;
  /** A thinking model's most units one sample can cost (reserved before drawing); absent: cost / k. */
  readonly ceiling?: number;
}

interface Common {
  /**
   * Set when a best-of-k predictor decided the spend: its name and the prompt's expected
   * best of k (k = 1..CURVE_UNITS), what the console's "what allot earned" compares with.
   */
  readonly curve?: { readonly predictor: string; readonly points: readonly number[] };
  /** Set when a router decided the model and spend: its name (the console counts its prompts per model, and its calibration). */
  readonly router?: string;
  /**
   * Set when the deployment could not predict (a Misconfigured hidden-state server or no
   * predictor for the input's form): the prompt gets the tenant's target units instead of
   * failing, and no prefill is charged for a prediction that did not happen.
   */
  readonly unpredicted?: string;
  /**
   * The predictor's single-sample success as shipped, when the tenant's refit (refits.ts)
   * changed what was served: audits label the shipped p, so each refit is of the predictor
   * as published, never of an earlier refit.
   */
  readonly shipped?: number;
  /**
   * Set for a model that thinks (THINKING_MODELS): a sample is charged the tokens it
   * generated, this many to a unit, not its planned cost.
   */
  readonly tokensPerUnit?: number;
  /** The prompt's hidden state the prediction was made from: an audit keeps it, so audited prompts can train a predictor (docs/audits.md). */
  readonly hidden?: Float32Array | readonly number[];
}

/** One round, decided now: `options` are what it may fall back to when the budget is short (no dearer than `chosen`). */
export interface FixedPlan extends Common {
  readonly kind: "fixed";
  readonly options: readonly FixedOption[];
  readonly chosen: number;
}

/** Rounds decided by the sequential core; arm j draws `models[j]`, predicted `predicted[j]`. */
export interface RoundsPlan extends Common {
  readonly kind: "rounds";
  readonly query: Query;
  readonly models: readonly string[];
  readonly predicted: readonly (number | null)[];
  /** The units the rule could spend at the price if nothing ended the prompt (its cap). */
  readonly cap: number;
  /** A thinking model's arms: each one's budget in tokens (absent: none sent) and the most units one sample can cost. */
  readonly thinking?: { readonly budgets: readonly (number | undefined)[]; readonly ceiling: readonly number[] };
}

export type PromptPlan = FixedPlan | RoundsPlan;

/** The tenant's online settings a plan is made under. */
export interface PlanSettings {
  readonly min_units: number;
  readonly max_units: number;
  readonly target_units: number;
  readonly price: number;
  /** The tenant's refits per predictor name, when it serves them (calibration "audited"). */
  readonly refits?: Readonly<Record<string, Applied>>;
}

/** Units the plan intends to spend: the chosen option, or the rounds' cap. */
export const plannedUnits = (p: PromptPlan): number => (p.kind === "fixed" ? p.options[p.chosen].cost : p.cap);

const fixed = (model: string, k: number, cost = k, predicted: number | null = null): FixedPlan => ({
  kind: "fixed",
  options: [{ model, k, cost, value: 0, predicted }],
  chosen: 0,
});

/** A rounds plan for `arms`, with its cap at the price. */
function rounds(query: Query, models: readonly string[], predicted: readonly (number | null)[], price: number, curve?: Common["curve"], router?: string): RoundsPlan {
  return { kind: "rounds", query, models, predicted, cap: capAtPrice(query, price), ...(curve ? { curve } : {}), ...(router ? { router } : {}) };
}

/**
 * Best-of-k on the request's model. Pinned: k = the pinned units. Greedy decoding: one
 * sample (k greedy samples are k copies of one). Otherwise the predictor's curve: in
 * rounds when more than one is allowed and the predictor has a fitted prior (binary) or a
 * curve (real-valued rewards, Pandora's rule on the distribution it implies); else the k
 * whose predicted gains are worth the price, within the tenant's min and max.
 */
export async function planBestOfK(env: Env, req: OnlineRequest, s: PlanSettings, greedy: boolean, maxRounds: number, meter: CallMeter): Promise<PromptPlan[]> {
  const n = req.n ?? 1;
  if (req.pinned) {
    if (req.pinned.units < n) throw new Invalid({ message: `${req.pinned.units} samples pinned by ${req.pinned.param} are fewer than the n = ${n} answers asked for`, param: req.pinned.param });
    return req.inputs.map(() => fixed(req.model, req.pinned!.units));
  }
  if (n > s.max_units) throw new Invalid({ message: `n = ${n} is above this tenant's max_units of ${s.max_units} samples per prompt`, param: "n" });
  const predictor = await choosePredictor(env, { model: req.model });
  // One sample under greedy decoding (n if more are asked for): the model is still checked above, so an unknown one is a 404 either way.
  if (greedy) return req.inputs.map(() => fixed(req.model, n));
  const got = await predictOrDefault(env, predictor, req.inputs, () => ("messages" in req.inputs[0] ? "messages" : "prompt"), meter);
  // The deployment cannot predict: the tenant's target (uniform allocation at its average budget), at least n.
  if ("unpredicted" in got) return req.inputs.map(() => ({ ...fixed(req.model, Math.max(n, defaultUnits(s))), unpredicted: got.unpredicted.message }));
  // The tenant's refit of this predictor, if it serves one: p → σ(logit(p) / T), or a curve
  // by the same temperature on its first point (core/audit/refit-curve.ts), and the prior's strength refitted with it.
  const tuned = s.refits?.[predictor.manifest.name];
  const preds = tuned ? got.predictions.map((pr) => ("p" in pr ? { ...pr, p: scaled(pr.p, tuned.temperature) } : { ...pr, curve: refitCurve(pr.curve, tuned.temperature) })) : got.predictions;
  const strength = tuned && predictor.manifest.prior_strength !== undefined ? tuned.strength : predictor.manifest.prior_strength;
  // At least n samples per prompt: the tenant's min_units, raised to n.
  const least = Math.max(s.min_units, n);
  return preds.map((pr, i) => {
    const raw = got.predictions[i];
    return { ...planOne(pr), hidden: got.hidden[i], ...(tuned ? { shipped: "p" in raw ? raw.p : raw.curve[0] } : {}) };
  });
  function planOne(pr: (typeof preds)[number]): PromptPlan {
    const curve = { predictor: predictor.manifest.name, points: curvePoints(pr) };
    const one = (belief: Query["arms"][number]["belief"], p: number) =>
      rounds({ arms: [{ cost: 1, belief, max: s.max_units }], state: startState(1), min: least, max: s.max_units }, [req.model], [p], s.price, curve);
    if (maxRounds > 1 && "p" in pr && strength !== undefined) return one({ prior: priorOf(pr.p, strength) }, pr.p);
    if (maxRounds > 1 && "curve" in pr) return one({ atoms: atomsFromCurve(pr.curve), ...(strength !== undefined ? { strength } : {}) }, pr.curve[0]);
    const bounds = { min: least, max: s.max_units };
    const problem = "p" in pr ? singleQuery({ p: pr.p, ...bounds }) : singleQuery({ marginals: marginalsOf(pr.curve), ...bounds });
    const k = Math.max(least, unitsAtPrice(problem, s.price));
    const q = (j: number) => ("p" in pr ? 1 - Math.pow(1 - pr.p, j) : pr.curve[Math.min(j, pr.curve.length) - 1]);
    const predicted = "p" in pr ? pr.p : pr.curve[0];
    const options = Array.from({ length: k - least + 1 }, (_, i) => {
      const j = least + i;
      return { model: req.model, k: j, cost: j, value: q(j), predicted };
    });
    return { kind: "fixed", options, chosen: options.length - 1, curve };
  }
}

/**
 * Routing: in rounds (a cascade over the router's models, cheapest per success first) when
 * more than one round is allowed, the router has a fitted prior and nothing is pinned;
 * otherwise every (model, k) within the tenant's min/max units valued by the router's p,
 * and the option worth most at the price (or, pinned, the most valuable one those units
 * buy; under greedy decoding, one sample of some model).
 */
export async function planRoute(env: Env, router: Predictor, req: OnlineRequest, s: PlanSettings, greedy: boolean, maxRounds: number, meter: CallMeter): Promise<PromptPlan[]> {
  const models = router.manifest.route!.options;
  const ps = await predictRoute(env, router, req.inputs, meter);
  const maxCost = req.pinned?.units ?? s.max_units;
  const minCost = req.pinned ? 0 : s.min_units;
  const strength = router.manifest.prior_strength;
  // n answers: options of at least n samples, decided up front (a cascade may end with fewer).
  const n = req.n ?? 1;
  const enough = (o: RouteChoice) => o.k >= n;
  return ps.map((p): PromptPlan => {
    if (maxRounds > 1 && strength !== undefined && !req.pinned && !greedy && n === 1) {
      const arms = models.map((m, j) => ({ cost: m.cost, belief: { prior: priorOf(p[j], strength) }, max: Math.floor(s.max_units / m.cost) }));
      if (arms.every((a) => a.max === 0)) throw new Invalid({ message: `no model of the router costs at most this tenant's max of ${s.max_units} units`, param: "model" });
      return rounds({ arms, state: startState(arms.length), min: s.min_units, max: s.max_units }, models.map((m) => m.model), p, s.price, undefined, router.manifest.name);
    }
    const menu = (greedy ? routeMenu(models, n, (j) => p[j], { max: maxCost }).filter((o) => o.k === n) : predictedMenu(models, p, minCost, maxCost)).filter(enough);
    if (menu.length === 0) {
      const cheapest = Math.min(...models.map((o) => o.cost));
      if (n > 1) throw new Invalid({ message: `no option of ${router.manifest.name} draws n = ${n} samples within ${maxCost} units (the cheapest sample costs ${cheapest})`, param: "n" });
      throw new Invalid({ message: `no option of ${router.manifest.name} costs between ${minCost || 1} and ${maxCost} units (the cheapest costs ${cheapest})`, param: req.pinned?.param ?? "model" });
    }
    const choice = chooseAtPrice(menu, req.pinned ? 0 : s.price);
    const option = (o: RouteChoice): FixedOption => ({ model: models[o.option].model, k: o.k, cost: o.cost, value: o.value, predicted: p[o.option] });
    // A pinned request gets what it pinned, or nothing: no cheaper fallback.
    const by = router.manifest.name;
    if (req.pinned) return { kind: "fixed", options: [option(choice)], chosen: 0, router: by };
    const options = menu.filter((o) => o.cost <= choice.cost);
    return { kind: "fixed", options: options.map(option), chosen: options.findIndex((o) => o.option === choice.option && o.k === choice.k), router: by };
  });
}
