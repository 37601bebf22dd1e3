import { AllocationError } from "./errors.js";
import { type BatchProblem, type Projection, freeUnitsAbove, prepareBatch, unitGain, valueOf } from "./problem.js";
import { kthLargest, mulberry32 } from "./select.js";

export interface BatchSolution {
  /** Units per query, in input order. */
  readonly units: Int32Array;
  /** Σ of the gains taken, counting every query's first min units (input gains). */
  readonly objective: number;
  /** Σ units. At most the budget; less when the remaining units would gain nothing. */
  readonly used: number;
  /**
   * The shadow price of the budget: 0 when it does not bind (every unit with a positive
   * gain was taken); otherwise the threshold gain v, where every free unit gaining more
   * than v was taken and none gaining less. A single query priced at v gets the same
   * units as here, up to ties at v (see `unitsAtPrice`).
   */
  readonly price: number;
  /** Indices of queries whose curve had to be projected onto a non-increasing one. */
  readonly projected: readonly number[];
}

export interface SolveOptions {
  /** Above this many gains near the threshold, narrow by bisection before selecting. */
  readonly maxCandidates?: number;
  /** Free gains sampled to bracket the threshold. */
  readonly sampleSize?: number;
}

const DEFAULTS: Required<SolveOptions> = { maxCandidates: 1 << 22, sampleSize: 50_000 };

/**
 * Allocates `budget` units to maximise Σ_i q_i(units_i) subject to Σ units ≤ budget and
 * min_i ≤ units_i ≤ max_i.
 *
 * Exact for non-increasing marginal gains (curves are projected onto such first, see
 * `prepareBatch`): the optimum takes the first min_i units of each query and then the
 * (budget − Σ min) largest positive free gains overall. Rather than sorting n·max
 * numbers, it finds the threshold gain v (the R-th largest) and gives each query the
 * prefix of its free units with gain above v; since each curve is sorted, counting a
 * query's units above a price is a binary search (O(1) for Bernoulli curves), and v is
 * located from a random sample, then selected exactly among the few gains near it.
 * Cost: one pass to read/project the curves plus a few O(n log max) counting passes.
 *
 * Units with gain ≤ 0 are never taken beyond min: compute that buys nothing is not
 * spent, so `used` can be below the budget.
 *
 * Ties at the threshold go to the earlier query in input order, so the result is
 * deterministic.
 *
 * Mutates `problem.gains` (the projection). Throws AllocationError when budget < Σ min.
 */
export function solveBatch(problem: BatchProblem, budget: number, options: SolveOptions = {}): BatchSolution {
  const { n, min } = problem;
  if (!Number.isSafeInteger(budget) || budget < 0) {
    throw new AllocationError(`budget must be a non-negative integer, got ${budget}`, "budget");
  }
  let forced = 0;
  for (let i = 0; i < n; i++) forced += min[i];
  if (budget < forced) {
    throw new AllocationError(
      `budget ${budget} is below the ${forced} units that min requires across ${n} queries`,
      "budget",
    );
  }
  const projection = prepareBatch(problem);
  const units = Int32Array.from(min);
  const free = budget - forced;

  let positive = 0;
  for (let i = 0; i < n; i++) positive += freeUnitsAbove(problem, i, 0, true);

  let price = 0;
  if (positive <= free) {
    // The budget does not bind: every unit that gains anything is taken, at price 0.
    for (let i = 0; i < n; i++) units[i] += freeUnitsAbove(problem, i, 0, true);
  } else {
    price = free === 0 ? largestFreeGain(problem) : kthLargestFreeGain(problem, free, { ...DEFAULTS, ...options });
    let remaining = free;
    for (let i = 0; i < n; i++) {
      const above = freeUnitsAbove(problem, i, price, true);
      units[i] += above;
      remaining -= above;
    }
    for (let i = 0; i < n && remaining > 0; i++) {
      const ties = freeUnitsAbove(problem, i, price, false) - freeUnitsAbove(problem, i, price, true);
      const take = Math.min(ties, remaining);
      units[i] += take;
      remaining -= take;
    }
  }
  return finish(problem, projection, units, price);
}

function finish(problem: BatchProblem, projection: Projection, units: Int32Array, price: number): BatchSolution {
  let objective = 0;
  let used = 0;
  for (let i = 0; i < problem.n; i++) {
    objective += valueOf(problem, projection, i, units[i]);
    used += units[i];
  }
  return { units, objective, used, price, projected: projection.projected };
}

/** The largest gain among all free units (each curve's first free unit). */
function largestFreeGain(problem: BatchProblem): number {
  let largest = -Infinity;
  for (let i = 0; i < problem.n; i++) {
    if (problem.max[i] > problem.min[i]) largest = Math.max(largest, unitGain(problem, i, problem.min[i] + 1));
  }
  return largest;
}

/**
 * The k-th largest free gain over all queries, 1 ≤ k < #positive free gains.
 *
 * Keeps an interval [lo, hi] with A(lo) ≥ k and G(hi) < k, where A(x) = #gains ≥ x and
 * G(x) = #gains > x; the answer lies in it. A sample of the free gains gives a tight
 * first interval; if it holds few enough gains they are collected and selected exactly,
 * otherwise it is bisected (each step one counting pass) until it does.
 */
function kthLargestFreeGain(problem: BatchProblem, k: number, options: Required<SolveOptions>): number {
  const { n, min, max } = problem;
  const cum = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) cum[i + 1] = cum[i] + Math.max(0, max[i] - min[i]);
  const maxFree = largestFreeGain(problem);
  const total = cum[n];

  // Sample free gains uniformly and bracket the k-th largest with a margin of a few
  // standard deviations of the sample rank.
  const s = Math.min(options.sampleSize, total);
  const sample = new Float64Array(s);
  const rand = mulberry32(0x5eed);
  for (let t = 0; t < s; t++) {
    const idx = Math.floor(rand() * total);
    let a = 0;
    let b = n - 1;
    while (a < b) {
      const mid = (a + b + 1) >>> 1;
      if (cum[mid] <= idx) a = mid;
      else b = mid - 1;
    }
    sample[t] = unitGain(problem, a, min[a] + 1 + (idx - cum[a]));
  }
  sample.sort().reverse();
  const rank = ((k - 1) / total) * s;
  const margin = 4 * Math.sqrt(s) + 2;
  let hi = rank - margin < 0 ? maxFree : sample[Math.floor(rank - margin)];
  let lo = rank + margin >= s ? 0 : sample[Math.ceil(rank + margin)];

  let [atLeastLo, aboveHi] = countBoth(problem, lo, hi);
  if (atLeastLo < k) [lo, atLeastLo] = [0, countAbove(problem, 0, false)];
  if (aboveHi >= k) [hi, aboveHi] = [maxFree, 0];

  while (atLeastLo - aboveHi > options.maxCandidates) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break; // lo and hi are adjacent doubles
    const c = countAbove(problem, mid, false);
    if (c >= k) [lo, atLeastLo] = [mid, c];
    else [hi, aboveHi] = [mid, countAbove(problem, mid, true)];
  }
  if (atLeastLo - aboveHi > options.maxCandidates) return countAbove(problem, hi, false) >= k ? hi : lo;

  const candidates = new Float64Array(atLeastLo - aboveHi);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const from = min[i] + freeUnitsAbove(problem, i, hi, true);
    const to = min[i] + freeUnitsAbove(problem, i, lo, false);
    for (let j = from + 1; j <= to; j++) candidates[m++] = unitGain(problem, i, j);
  }
  return kthLargest(candidates, m, k - aboveHi);
}

function countAbove(problem: BatchProblem, price: number, strict: boolean): number {
  let c = 0;
  for (let i = 0; i < problem.n; i++) c += freeUnitsAbove(problem, i, price, strict);
  return c;
}

function countBoth(problem: BatchProblem, lo: number, hi: number): [number, number] {
  let atLeastLo = 0;
  let aboveHi = 0;
  for (let i = 0; i < problem.n; i++) {
    atLeastLo += freeUnitsAbove(problem, i, lo, false);
    aboveHi += freeUnitsAbove(problem, i, hi, true);
  }
  return [atLeastLo, aboveHi];
}
