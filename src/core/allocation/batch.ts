import { AllocationError } from "./errors.js";
import { type BatchProblem, type Projection, freeUnitsAbove, prepareBatch, unitGain, valueOf } from "./problem.js";
import { bernoulliCountLogs } from "./curves.js";
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
const MIN_SAMPLE = 1_000;

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
    throw new AllocationError({ message: `budget must be a non-negative integer, got ${budget}`, param: "budget" });
  }
  let forced = 0;
  for (let i = 0; i < n; i++) forced += min[i];
  if (budget < forced) {
    throw new AllocationError({ message: `budget ${budget} is below the ${forced} units that min requires across ${n} queries`, param: "budget" });
  }
  const projection = prepareBatch(problem);
  const units = Int32Array.from(min);
  const free = budget - forced;

  let total = 0;
  for (let i = 0; i < n; i++) total += Math.max(0, problem.max[i] - min[i]);

  let price = 0;
  let bracket: Bracket | null = null;
  if (free === 0) {
    price = Math.max(0, largestFreeGain(problem));
  } else if (free < total) {
    bracket = bracketThreshold(problem, free, total, { ...DEFAULTS, ...options });
  }
  if (bracket && bracket.threshold > 0) {
    price = bracket.threshold;
    takeAboveThreshold(problem, bracket, free, units);
  } else if (free > 0) {
    // The budget does not bind: fewer units gain anything than it could buy. Take them
    // all, at price 0.
    for (let i = 0; i < n; i++) units[i] += freeUnitsAbove(problem, i, 0, true);
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

/** The smallest gain among all free units (each curve's last unit). */
function smallestFreeGain(problem: BatchProblem): number {
  let smallest = Infinity;
  for (let i = 0; i < problem.n; i++) {
    if (problem.max[i] > problem.min[i]) smallest = Math.min(smallest, unitGain(problem, i, problem.max[i]));
  }
  return smallest;
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
 * Where the threshold lies: [lo, hi] holds the k-th largest free gain, and for each query
 * aboveHi[i] of its free units gain more than hi and atLeastLo[i] at least lo. Queries
 * with aboveHi[i] = atLeastLo[i] have no gain near the threshold, so their allocation
 * is already known without recounting.
 */
interface Bracket {
  readonly threshold: number;
  readonly aboveHi: Int32Array;
  readonly atLeastLo: Int32Array;
}

/**
 * Finds the k-th largest free gain over all queries, 1 ≤ k < total free units.
 *
 * Keeps an interval [lo, hi] with A(lo) ≥ k and G(hi) < k, where A(x) = #gains ≥ x and
 * G(x) = #gains > x; the answer lies in it. A sample of the free gains gives a tight
 * first interval; if it holds few enough gains they are collected and selected exactly,
 * otherwise it is bisected (each step one counting pass) until it does.
 */
function bracketThreshold(problem: BatchProblem, k: number, total: number, options: Required<SolveOptions>): Bracket {
  const { n, min, max } = problem;

  // Sample free gains and bracket the k-th largest with a margin of three standard
  // deviations of its rank in the sample, √(s·q(1−q)) for quantile q. A miss (rare) costs
  // one more counting pass, never a wrong answer. About total^(2/3) samples balances
  // sorting the sample against collecting the ~8·total/√s candidates its bracket leaves.
  // The sample is stratified: one free unit drawn at random from each of s equal runs of
  // the free units in input order, so the positions come in order and one forward walk over
  // the queries finds them (drawing positions anywhere and binary-searching a prefix-sum
  // array cost a cache miss per step: 40 ms at 10⁶ queries). Random within each run, not
  // every (total/s)-th unit: curves of equal length would put that on the same unit of
  // every query it lands in.
  const s = Math.min(total, options.sampleSize, Math.max(MIN_SAMPLE, Math.ceil(Math.cbrt(total) ** 2)));
  const sample = new Float64Array(s);
  const stride = total / s;
  const rand = mulberry32(0x5eed);
  let next = rand() * stride;
  let t = 0;
  for (let i = 0, before = 0; i < n && t < s; i++) {
    const free = Math.max(0, max[i] - min[i]);
    while (t < s && next < before + free) {
      sample[t++] = unitGain(problem, i, min[i] + 1 + Math.floor(next - before));
      next = (t + rand()) * stride;
    }
    before += free;
  }
  sample.subarray(0, t).sort().reverse();
  const rank = ((k - 1) / total) * t;
  const q = k / total;
  const margin = 3 * Math.sqrt(t * q * (1 - q)) + 2;
  let hi = rank - margin < 0 ? largestFreeGain(problem) : sample[Math.floor(rank - margin)];
  let lo = sample[Math.min(t - 1, Math.ceil(rank + margin))];

  let aboveHi = new Int32Array(n);
  let atLeastLo = new Int32Array(n);
  let scratch = new Int32Array(n);
  let [nAbove, nAtLeast] = countBoth(problem, hi, lo, aboveHi, atLeastLo);
  if (nAtLeast < k) {
    lo = smallestFreeGain(problem); // every free gain is at least this: A(lo) = total ≥ k
    nAtLeast = countInto(problem, lo, false, atLeastLo);
  }
  if (nAbove >= k) {
    hi = largestFreeGain(problem);
    nAbove = countInto(problem, hi, true, aboveHi);
  }

  while (nAtLeast - nAbove > options.maxCandidates) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break; // lo and hi are adjacent doubles
    const c = countInto(problem, mid, false, scratch);
    if (c >= k) {
      [lo, nAtLeast] = [mid, c];
      [atLeastLo, scratch] = [scratch, atLeastLo];
    } else {
      [hi, nAbove] = [mid, countInto(problem, mid, true, aboveHi)];
    }
  }
  let threshold: number;
  if (nAtLeast - nAbove > options.maxCandidates) {
    threshold = countInto(problem, hi, false, scratch) >= k ? hi : lo;
  } else {
    const candidates = new Float64Array(nAtLeast - nAbove);
    let m = 0;
    for (let i = 0; i < n; i++) {
      for (let j = min[i] + aboveHi[i] + 1; j <= min[i] + atLeastLo[i]; j++) candidates[m++] = unitGain(problem, i, j);
    }
    threshold = kthLargest(candidates, m, k - nAbove);
  }
  return { threshold, aboveHi, atLeastLo };
}

/**
 * Gives each query its free units gaining more than the threshold, then the units gaining
 * exactly the threshold to the earliest queries until `free` units are used. Only the
 * queries with gains inside the bracket are looked at unit by unit.
 */
function takeAboveThreshold(problem: BatchProblem, bracket: Bracket, free: number, units: Int32Array): void {
  const { threshold, aboveHi, atLeastLo } = bracket;
  const ties = atLeastLo; // reused: ties per query once counted
  let remaining = free;
  for (let i = 0; i < problem.n; i++) {
    let above = aboveHi[i];
    let tied = 0;
    for (let j = problem.min[i] + aboveHi[i] + 1; j <= problem.min[i] + atLeastLo[i]; j++) {
      const g = unitGain(problem, i, j);
      if (g > threshold) above++;
      else if (g === threshold) tied++;
    }
    units[i] += above;
    remaining -= above;
    ties[i] = tied;
  }
  for (let i = 0; i < problem.n && remaining > 0; i++) {
    const take = Math.min(ties[i], remaining);
    units[i] += take;
    remaining -= take;
  }
}

/**
 * countInto for `hi` (strict) and `lo` (not strict, lo ≤ hi) in one pass: an explicit
 * curve's units above hi are a prefix of those at least lo, so the second search runs
 * within the first's answer.
 */
function countBoth(problem: BatchProblem, hi: number, lo: number, aboveHi: Int32Array, atLeastLo: Int32Array): [number, number] {
  const { n, min, max, p, offsets, gains } = problem;
  let nAbove = 0;
  let nAtLeast = 0;
  const logHi = Math.log(hi);
  const logLo = Math.log(lo);
  for (let i = 0; i < n; i++) {
    if (max[i] <= min[i]) {
      aboveHi[i] = 0;
      atLeastLo[i] = 0;
    } else if (!Number.isNaN(p[i])) {
      const q = p[i];
      if (q > 0 && q < 1) {
        // Two logarithms per curve, then none per price (bernoulliCountLogs).
        const logP = Math.log(q);
        const logStep = Math.log1p(-q);
        aboveHi[i] = Math.max(0, bernoulliCountLogs(q, logP, logStep, hi, logHi, max[i], true) - min[i]);
        atLeastLo[i] = Math.max(0, bernoulliCountLogs(q, logP, logStep, lo, logLo, max[i], false) - min[i]);
      } else {
        aboveHi[i] = freeUnitsAbove(problem, i, hi, true);
        atLeastLo[i] = freeUnitsAbove(problem, i, lo, false);
      }
    } else {
      const base = offsets[i];
      let a = min[i];
      let b = max[i];
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (gains[base + mid] >= lo) a = mid + 1;
        else b = mid;
      }
      atLeastLo[i] = a - min[i];
      b = a;
      a = min[i];
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (gains[base + mid] > hi) a = mid + 1;
        else b = mid;
      }
      aboveHi[i] = a - min[i];
    }
    nAbove += aboveHi[i];
    nAtLeast += atLeastLo[i];
  }
  return [nAbove, nAtLeast];
}

/** Fills out[i] with query i's free units above (or at least) `price`; returns the sum. */
function countInto(problem: BatchProblem, price: number, strict: boolean, out: Int32Array): number {
  let c = 0;
  for (let i = 0; i < problem.n; i++) {
    out[i] = freeUnitsAbove(problem, i, price, strict);
    c += out[i];
  }
  return c;
}
