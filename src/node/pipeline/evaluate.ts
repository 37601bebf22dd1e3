/**
 * Quality-vs-compute evaluation of allocation methods on prompts with K samples each.
 * Pure: takes empirical curves and predictions, returns curves and savings.
 *
 * Quality of an allocation b = the mean over prompts of q̂ᵢ(bᵢ), the unbiased best-of-bᵢ
 * estimate from that prompt's K samples (see estimators.ts): no subset is re-drawn, so
 * every method is scored on the same samples without sampling noise of its own.
 */
import { bernoulliGain } from "../../core/allocation/curves.js";
import { atomsFromCurve } from "../../core/allocation/pandora.js";
import type { BatchProblem } from "../../core/allocation/problem.js";
import { solveBatch } from "../../core/allocation/batch.js";
import { mulberry32, shuffleInPlace } from "../../core/allocation/select.js";
import { type RecordedPrompt, curveBelief, distributionOracle, oracleBelief, predictedBelief, replayBestThreshold, replayStopFirst, replayWaves } from "./sequential.js";

export interface EvalPrompt {
  /** q̂(0..bMax): q̂[0] = 0, q̂[b] the unbiased best-of-b estimate. */
  readonly empirical: Float64Array;
  /** The predictor's view: p (bernoulli) or its predicted q(1..bMax) (curve). */
  readonly predicted: { p: number } | { q: Float64Array; atoms?: Float64Array };
  /** The recorded rewards, for the sequential policies' replays. */
  readonly outcomes?: readonly number[];
}

/** Allocations fixed before any sample is drawn. */
export type OneShot = "uniform" | "learned" | "oracle" | "random";
/** Policies that look at each sample's reward before drawing the next (sequential.ts). */
export type Sequential = "stop-first" | "waves" | "waves-oracle";
export type Method = OneShot | Sequential;
export const ONE_SHOT: readonly OneShot[] = ["uniform", "learned", "oracle", "random"];
export const SEQUENTIAL: readonly Sequential[] = ["stop-first", "waves", "waves-oracle"];
/** The methods of a curve: the one-shot ones, and the sequential ones when they were replayed. */
export const METHODS: readonly OneShot[] = ONE_SHOT;

function problemOf(prompts: readonly EvalPrompt[], bMax: number, gainsOf: (p: EvalPrompt, j: number) => number | null): BatchProblem {
  const n = prompts.length;
  const p = new Float64Array(n).fill(NaN);
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + bMax;
  const gains = new Float64Array(n * bMax);
  prompts.forEach((pr, i) => {
    const direct = gainsOf(pr, 0);
    if (direct !== null) p[i] = direct;
    else for (let j = 1; j <= bMax; j++) gains[i * bMax + j - 1] = gainsOf(pr, j)!;
  });
  return { n, min: new Int32Array(n).fill(1), max: new Int32Array(n).fill(bMax), p, offsets, gains };
}

/** Units per prompt for a method at total budget `total` (n ≤ total ≤ n·bMax). */
export function allocateWith(method: OneShot, prompts: readonly EvalPrompt[], total: number, bMax: number, seed = 1): Int32Array {
  const n = prompts.length;
  if (method === "uniform" || method === "random") {
    const units = new Int32Array(n).fill(1);
    const rand = mulberry32(seed);
    if (method === "uniform") {
      const base = Math.floor(total / n);
      units.fill(base);
      // The remainder goes to prompts in a seeded random order, not the first ones.
      const order = shuffleInPlace(Array.from({ length: n }, (_, i) => i), rand);
      for (let k = 0; k < total - base * n; k++) units[order[k]]++;
      return units;
    }
    for (let left = total - n; left > 0; ) {
      const i = Math.floor(rand() * n);
      if (units[i] < bMax) {
        units[i]++;
        left--;
      }
    }
    return units;
  }
  const problem =
    method === "oracle"
      ? problemOf(prompts, bMax, (pr, j) => (j === 0 ? null : pr.empirical[j] - pr.empirical[j - 1]))
      : problemOf(prompts, bMax, (pr, j) => {
          if ("p" in pr.predicted) return j === 0 ? pr.predicted.p : bernoulliGain(pr.predicted.p, j);
          if (j === 0) return null;
          return pr.predicted.q[j - 1] - (j > 1 ? pr.predicted.q[j - 2] : 0);
        });
  return solveBatch(problem, total).units;
}

export function quality(prompts: readonly EvalPrompt[], units: Int32Array): number {
  let s = 0;
  prompts.forEach((p, i) => (s += p.empirical[units[i]]));
  return s / prompts.length;
}

export interface CurvePoint {
  readonly budget: number;
  /** Per method computed (sequential ones only where replayed). */
  readonly quality: Partial<Record<Method, number>> & Record<OneShot, number>;
  readonly used: Partial<Record<Method, number>> & Record<OneShot, number>;
}

/** How the sequential policies are replayed: the prior's strength for binary waves (none for real-valued rewards), and the orders averaged over. */
export interface SequentialOptions {
  readonly strength?: number;
  readonly orders?: number;
}

/** The sequential replays at budget B: binary rewards (a p per prompt) or real-valued (a curve per prompt). */
function replaysAt(recorded: readonly RecordedPrompt[], B: number, bMax: number, sequential: SequentialOptions) {
  const orders = sequential.orders ?? 8;
  const binary = recorded[0]?.curve === undefined;
  if (binary) {
    return {
      "stop-first": replayStopFirst(recorded, B, orders),
      waves: replayWaves(recorded, predictedBelief(recorded, sequential.strength!), B, { max: bMax, orders }),
      "waves-oracle": replayWaves(recorded, oracleBelief(recorded), B, { max: bMax, orders }),
    };
  }
  return {
    "stop-first": replayBestThreshold(recorded, B, orders),
    waves: replayWaves(recorded, curveBelief(recorded, sequential.strength), B, { max: bMax, orders }),
    "waves-oracle": replayWaves(recorded, distributionOracle(recorded), B, { max: bMax, orders }),
  };
}

/** The prompts as the sequential replays take them, or null when some prompt has no recorded rewards. */
export function recordedOf(prompts: readonly EvalPrompt[]): RecordedPrompt[] | null {
  if (!prompts.every((p) => p.outcomes)) return null;
  return prompts.map((p) =>
    "p" in p.predicted
      ? { p: p.predicted.p, outcomes: p.outcomes! }
      : { p: p.predicted.q[0], curve: p.predicted.q, atoms: p.predicted.atoms ?? atomsFromCurve(p.predicted.q), outcomes: p.outcomes! },
  );
}

/**
 * Quality of every method at average budgets 1, 1 + step, …, bMax. With `sequential`
 * (and every prompt's outcomes), also stop-first (cap = B), waves (budget B per prompt)
 * and waves-oracle, replayed on the recorded samples. Binary waves need the prior's
 * strength; without it only the real-valued replays (curve predictors) run.
 */
export function qualityCurves(prompts: readonly EvalPrompt[], bMax: number, step = 0.25, sequential?: SequentialOptions): CurvePoint[] {
  const n = prompts.length;
  const all = sequential ? recordedOf(prompts) : null;
  const recorded = all && (all[0]?.curve !== undefined || sequential?.strength !== undefined) ? all : null;
  const out: CurvePoint[] = [];
  for (let B = 1; B <= bMax + 1e-9; B += step) {
    const total = Math.round(B * n);
    const q = {} as CurvePoint["quality"];
    const used = {} as CurvePoint["used"];
    for (const m of ONE_SHOT) {
      const units = allocateWith(m, prompts, total, bMax);
      q[m] = quality(prompts, units);
      used[m] = units.reduce((a, b) => a + b, 0) / n;
    }
    if (recorded && sequential) {
      for (const [m, r] of Object.entries(replaysAt(recorded, B, bMax, sequential))) {
        q[m as Sequential] = r.quality;
        used[m as Sequential] = r.used;
      }
    }
    out.push({ budget: B, quality: q, used });
  }
  return out;
}

/** The methods a curve has. */
export const methodsOf = (curve: readonly CurvePoint[]): Method[] => [...ONE_SHOT, ...SEQUENTIAL.filter((m) => curve[0]?.quality[m] !== undefined)];

/**
 * The smallest average budget at which `method` reaches `target` quality, interpolating
 * linearly between grid points; null if it never does. The budget counted is what the
 * method actually spent (it may leave units unspent when they gain nothing).
 */
export function budgetToReach(curve: readonly CurvePoint[], method: Method, target: number): number | null {
  for (let k = 0; k < curve.length; k++) {
    const q = curve[k].quality[method]!;
    if (q >= target - 1e-12) {
      if (k === 0) return curve[0].used[method]!;
      const prev = curve[k - 1];
      const frac = (target - prev.quality[method]!) / (q - prev.quality[method]!);
      return prev.used[method]! + frac * (curve[k].used[method]! - prev.used[method]!);
    }
  }
  return null;
}

export interface Savings {
  readonly budget: number;
  readonly uniformQuality: number;
  /** The smallest average budget at which uniform reaches its quality at `budget`. */
  readonly uniformBudget: number;
  /**
   * 1 − (budget the method needs to match uniform's quality) / uniformBudget; null if it
   * never matches. Measured against uniformBudget, not `budget`, so that where uniform's
   * curve is flat (more samples gain nothing) no method is credited for not spending.
   */
  readonly saved: Partial<Record<Method, number | null>> & Record<OneShot, number | null>;
  /** Method quality − uniform quality at the same budget. */
  readonly gain: Partial<Record<Method, number>> & Record<OneShot, number>;
}

export function savingsAt(curve: readonly CurvePoint[], budget: number): Savings {
  const at = curve.find((c) => Math.abs(c.budget - budget) < 1e-9);
  if (!at) throw new Error(`budget ${budget} is not on the curve`);
  const target = at.quality.uniform;
  const uniformBudget = budgetToReach(curve, "uniform", target) ?? budget;
  const saved = {} as Savings["saved"];
  const gain = {} as Savings["gain"];
  for (const m of methodsOf(curve)) {
    const need = budgetToReach(curve, m, target);
    saved[m] = need === null ? null : 1 - need / uniformBudget;
    gain[m] = at.quality[m]! - target;
  }
  return { budget, uniformQuality: target, uniformBudget, saved, gain };
}
