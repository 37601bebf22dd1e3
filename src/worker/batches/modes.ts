/**
 * A batch's allocation modes behind one interface: what predicts its prompts, and what
 * each prompt draws once every prompt is predicted. One round fixed up front (uniform;
 * learned: the exact solver over the predicted curves; routed: the menu solver over every
 * (model, k)), or rounds decided by the sequential core as they go (waves for best-of-k,
 * a cascade for a router), which `planRounds` plans for every mode alike.
 */
import { mulberry32, shuffleInPlace } from "../../core/allocation/select.js";
import { solveBatch } from "../../core/allocation/batch.js";
import { buildBatch } from "../../core/allocation/build.js";
import { solveMenu } from "../../core/allocation/menu.js";
import { atomsFromCurve } from "../../core/allocation/pandora.js";
import { type RouteChoice, predictedMenu } from "../../core/allocation/route.js";
import type { BatchRequest } from "../../core/contracts/batches.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { Invalid } from "../../core/errors.js";
import { planRound } from "../../core/sequential/index.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { type Prediction, choosePredictor, marginalsOf, predict, predictRoute } from "../predictor/predict.js";
import { type Predictor, findPredictor, findRouter } from "../predictor/registry.js";
import type { BatchArm, Items, Rounds } from "./items.js";
import { batchThinking, levelArms, startLearnedThinking, startWavesThinking, uniformThinking } from "./thinking.js";

/** A batch as kept in its row: the request without its prompts, its allocation resolved at submission. */
export type BatchSpec = Omit<BatchRequest, "prompts" | "allocation"> & { allocation: NonNullable<BatchRequest["allocation"]> };

/** What a mode fixed when every prompt was predicted. */
export interface Started {
  readonly predictor: string | null;
  /** Units allocated up front (one round), or the batch's budget (rounds share it as they go). */
  readonly allocated: number;
  /** How prompts are drawn in rounds; null when each draws one round fixed up front. */
  readonly rounds: Rounds | null;
  /** A thinking batch drawn in one round: its levels as arms (an item's `arm` is its level). */
  readonly levels?: readonly BatchArm[];
}

export interface BatchMode {
  /** What predicts the prompts (null: nothing to predict). `chosen` is the predictor named when the first page was predicted. */
  source(env: Env, spec: BatchSpec, chosen: string | null): Promise<Predictor | null>;
  /** Predictions for a page of prompts, in order (hidden states read from the LM: prefills). */
  predict(env: Env, source: Predictor, page: readonly LmInput[]): Promise<unknown[]>;
  /** Every prompt predicted: what each draws, within `budget` units. */
  start(items: Items, spec: BatchSpec, budget: number, source: Predictor | null, env: Env): Started | Promise<Started>;
}

const lmModel = (env: Env, spec: BatchSpec) => spec.model ?? settings(env).LM_MODEL;

/**
 * Best-of-B for everyone; a fractional B gives the remainder's extra samples to prompts
 * picked at random (seeded by the batch's sampling seed), not to the first ones: a file
 * ordered by difficulty would otherwise bias the baseline every comparison is made against.
 */
const uniform: BatchMode = {
  source: async () => null,
  predict: async () => [],
  async start(items, spec, budget, _source, env) {
    const model = lmModel(env, spec);
    // A model that thinks: the same thinking budget and samples for every prompt (nothing is predicted; the levels are its predictor's).
    const thinking = batchThinking(env, model, settings(env).THINKING_MODELS?.has(model) ? await findPredictor(env, { lmModel: model }) : null);
    if (thinking) {
      const arms = levelArms(model, thinking);
      const u = uniformThinking(spec.budget.average, arms);
      let allocated = 0;
      for (const i of items.pendingIdx()) {
        allocated += u.cost;
        items.fix(i, { model, samples: u.k, units: u.cost, p: null, arm: u.level });
      }
      return { predictor: null, allocated, rounds: null, levels: arms };
    }
    const idx = items.pendingIdx();
    const base = Math.floor(spec.budget.average);
    const extra = budget - base * idx.length;
    const order = shuffleInPlace([...idx.keys()], mulberry32(spec.sampling.seed ?? idx.length));
    const rank = new Array<number>(idx.length);
    order.forEach((n, r) => (rank[n] = r));
    let allocated = 0;
    idx.forEach((i, n) => {
      const k = Math.min(spec.budget.max, Math.max(spec.budget.min, base + (rank[n] < extra ? 1 : 0)));
      allocated += k;
      items.fix(i, { model: lmModel(env, spec), samples: k, units: k, p: null });
    });
    return { predictor: null, allocated, rounds: null };
  },
};

const bestOfKSource = async (env: Env, spec: BatchSpec, chosen: string | null) => choosePredictor(env, { ...spec, predictor: chosen ?? spec.predictor });
const bestOfKPredict = (env: Env, source: Predictor, page: readonly LmInput[]) => predict(env, source, page, () => "prompt");

/** Learned: the exact solver shares the whole budget over the predicted curves (the paper's setting). */
const learned: BatchMode = {
  source: bestOfKSource,
  predict: bestOfKPredict,
  start(items, spec, budget, source, env) {
    const model = lmModel(env, spec);
    const thinking = batchThinking(env, model, source);
    if (thinking) {
      const allocated = startLearnedThinking(items, model, budget, spec.budget, thinking);
      return { predictor: source!.manifest.name, allocated, rounds: null, levels: levelArms(model, thinking) };
    }
    const ok = items.predictions<Prediction>();
    let allocated = 0;
    if (ok.length > 0) {
      const problem = buildBatch({
        budget,
        min: spec.budget.min,
        max: spec.budget.max,
        queries: ok.map(({ pr, idx }) => ("p" in pr ? { id: String(idx), p: pr.p } : { id: String(idx), marginals: marginalsOf(pr.curve) })),
      });
      const solved = solveBatch(problem, budget);
      ok.forEach(({ pr, idx }, k) => {
        allocated += solved.units[k];
        items.fix(idx, { model: lmModel(env, spec), samples: solved.units[k], units: solved.units[k], p: "p" in pr ? pr.p : pr.curve[0] });
      });
    }
    return { predictor: source!.manifest.name, allocated, rounds: null };
  },
};

/** Waves: rounds of best-of-k on the batch's model, each prompt believed Beta around its p, or (real-valued rewards) the distribution its curve implies. */
const waves: BatchMode = {
  source: bestOfKSource,
  predict: bestOfKPredict,
  start(items, spec, budget, source, env) {
    const model = lmModel(env, spec);
    const thinking = batchThinking(env, model, source);
    if (thinking) {
      // One arm per thinking level: after a failure the core may think longer or sample again.
      startWavesThinking(items, model, thinking);
      return { predictor: source!.manifest.name, allocated: budget, rounds: { arms: levelArms(model, thinking), strength: source!.manifest.prior_strength, min: spec.budget.min, max: spec.budget.max } };
    }
    for (const { pr, idx } of items.predictions<Prediction>()) {
      if ("p" in pr) items.startRounds(idx, [pr.p], null, model);
      else items.startRounds(idx, [pr.curve[0]], Array.from(atomsFromCurve(pr.curve), (x) => Number(x.toFixed(6))), model);
    }
    return { predictor: source!.manifest.name, allocated: budget, rounds: { arms: [{ model, cost: 1 }], strength: source!.manifest.prior_strength, min: spec.budget.min, max: spec.budget.max } };
  },
};

const routerSource = async (env: Env, spec: BatchSpec) => {
  const name = spec.model ?? "route";
  const router = await findRouter(env, name);
  if (!router) throw new Invalid({ message: `no router named "${name}"`, param: "model" });
  return router;
};
const routerPredict = (env: Env, router: Predictor, page: readonly LmInput[]) => predictRoute(env, router, page);

/**
 * Routing in one round: each prompt's menu of (model, k) with cost between the budget's
 * min and max (plus "nothing" when min is 0), valued by the router; the multiple-choice
 * knapsack picks one option per prompt within the batch's units.
 */
const routed: BatchMode = {
  source: routerSource,
  predict: routerPredict,
  start(items, spec, budget, source) {
    const options = source!.manifest.route!.options;
    const ok = items.predictions<number[]>();
    let allocated = 0;
    if (ok.length > 0) {
      const nothing: RouteChoice = { option: -1, k: 0, cost: 0, value: 0 };
      const menus = ok.map(({ pr }) => [...(spec.budget.min === 0 ? [nothing] : []), ...predictedMenu(options, pr, spec.budget.min, spec.budget.max)]);
      if (menus[0].length === 0) throw new Invalid({ message: `no (model, k) of ${source!.manifest.name} costs between ${spec.budget.min} and ${spec.budget.max} units`, param: "budget" });
      const solution = solveMenu(menus, budget);
      ok.forEach(({ pr, idx }, k) => {
        const c = menus[k][solution.choice[k]];
        allocated += c.cost;
        items.fix(idx, { model: c.option >= 0 ? options[c.option].model : null, samples: c.k, units: c.cost, p: c.option >= 0 ? pr[c.option] : null });
      });
    }
    return { predictor: source!.manifest.name, allocated, rounds: null };
  },
};

/** A cascade: rounds over the router's models, each prompt's p per model believed Beta around the router's. */
const cascade: BatchMode = {
  source: routerSource,
  predict: routerPredict,
  start(items, spec, budget, source) {
    const options = source!.manifest.route!.options;
    for (const { pr, idx } of items.predictions<number[]>()) items.startRounds(idx, pr, null, options[0].model);
    return { predictor: source!.manifest.name, allocated: budget, rounds: { arms: options.map((o) => ({ model: o.model, cost: o.cost })), strength: source!.manifest.prior_strength!, min: spec.budget.min, max: spec.budget.max } };
  },
};

/** The mode of a batch. */
export function modeOf(spec: BatchSpec): BatchMode {
  if (spec.mode === "route") return spec.allocation === "waves" ? cascade : routed;
  return spec.allocation === "uniform" ? uniform : spec.allocation === "waves" ? waves : learned;
}

/**
 * The next round of a batch drawn in rounds: the core plans every open prompt within the
 * units the batch has left (core/sequential planRound), and each prompt's draw is written
 * to its row. False when it draws nothing: every prompt is done with what it drew.
 */
export function planRounds(items: Items, rounds: Rounds, budgetLeft: number): boolean {
  const open = items.toPlan(rounds);
  const draws = open.length > 0 ? planRound(open.map((o) => o.query), { budget: Math.max(0, budgetLeft) }) : [];
  if (draws.every((d) => d === null)) {
    items.finishRounds();
    return false;
  }
  open.forEach((o, k) => {
    const d = draws[k];
    if (d) items.plan(o.idx, d.arm, d.count);
  });
  return true;
}
