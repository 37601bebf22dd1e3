import { AllocationError } from "./errors.js";
import { bernoulliCount, bernoulliGain, bernoulliValue, projectNonIncreasing } from "./curves.js";

/**
 * A batch of queries in the solver's compact form (struct of arrays), so a million
 * queries cost a few typed arrays rather than a million objects.
 *
 * Query i may take units min[i]..max[i]. Its curve is either Bernoulli (p[i] in [0, 1])
 * or explicit (p[i] is NaN): the gain of unit j is gains[offsets[i] + j − 1], and the
 * explicit curve has at least max[i] entries.
 */
export interface BatchProblem {
  readonly n: number;
  readonly min: Int32Array;
  readonly max: Int32Array;
  readonly p: Float64Array;
  readonly offsets: Int32Array;
  readonly gains: Float64Array;
}

/** What `prepareBatch` did to make every curve's free part non-increasing. */
export interface Projection {
  /** Indices of the queries whose free units' gains were projected. */
  readonly projected: number[];
  /** Their original gains over units 1..max, for reporting the objective honestly. */
  readonly original: Map<number, Float64Array>;
}

/**
 * Projects, in place, the free part (units min+1..max) of every explicit curve onto a
 * non-increasing one; the greedy/threshold solver is exact only on such curves. The
 * forced units 1..min are left alone: they are taken whatever their gains, so their
 * order cannot change the allocation.
 */
export function prepareBatch(problem: BatchProblem): Projection {
  const projected: number[] = [];
  const original = new Map<number, Float64Array>();
  const { n, min, max, p, offsets, gains } = problem;
  for (let i = 0; i < n; i++) {
    if (min[i] < 0 || max[i] < min[i]) throw new AllocationError({ message: `min ${min[i]} and max ${max[i]} are not 0 ≤ min ≤ max`, param: `queries[${i}]` });
    if (!Number.isNaN(p[i])) {
      if (!(p[i] >= 0 && p[i] <= 1)) throw new AllocationError({ message: `p must be in [0, 1], got ${p[i]}`, param: `queries[${i}].p` });
      continue;
    }
    if (offsets[i] + max[i] > offsets[i + 1]) {
      throw new AllocationError({ message: `max ${max[i]} exceeds the ${offsets[i + 1] - offsets[i]} marginals given`, param: `queries[${i}].max` });
    }
    // One pass: every gain finite, and is the free part (from offsets[i] + min) monotone?
    const from = offsets[i] + min[i];
    const to = offsets[i] + max[i];
    let monotone = true;
    for (let j = offsets[i]; j < to; j++) {
      const g = gains[j];
      if (!Number.isFinite(g)) {
        throw new AllocationError({ message: `marginal gains must be finite numbers, got ${g}`, param: `queries[${i}].marginals[${j - offsets[i]}]` });
      }
      if (j > from && g > gains[j - 1]) monotone = false;
    }
    if (monotone) continue;
    projected.push(i);
    original.set(i, gains.slice(offsets[i], to));
    projectNonIncreasing(gains, from, to);
  }
  return { projected, original };
}

/**
 * Number of query i's free units (min < j ≤ max) whose gain is above `price`
 * (`strict`) or at least `price`. Requires the free part to be non-increasing
 * (after `prepareBatch`), so it is a prefix: O(1) for Bernoulli, O(log max) otherwise.
 */
export function freeUnitsAbove(problem: BatchProblem, i: number, price: number, strict: boolean): number {
  const lo = problem.min[i];
  const hi = problem.max[i];
  if (hi <= lo) return 0;
  const p = problem.p[i];
  if (!Number.isNaN(p)) return Math.max(0, bernoulliCount(p, price, hi, strict) - lo);
  const g = problem.gains;
  const base = problem.offsets[i];
  // First index in [lo, hi) (0-based unit j−1) whose gain fails the test.
  let a = lo;
  let b = hi;
  while (a < b) {
    const mid = (a + b) >>> 1;
    const v = g[base + mid];
    if (strict ? v > price : v >= price) a = mid + 1;
    else b = mid;
  }
  return a - lo;
}

/** Gain of query i's unit j (1-based) as the solver sees it (after projection). */
export function unitGain(problem: BatchProblem, i: number, j: number): number {
  const p = problem.p[i];
  return Number.isNaN(p) ? problem.gains[problem.offsets[i] + j - 1] : bernoulliGain(p, j);
}

/**
 * Σ_{j ≤ units} of query i's gains as the caller gave them (the original gains of a
 * projected curve), i.e. the predicted value of giving query i that many units.
 */
export function valueOf(problem: BatchProblem, projection: Projection | null, i: number, units: number): number {
  const p = problem.p[i];
  if (!Number.isNaN(p)) return bernoulliValue(p, units);
  const orig = projection?.original.get(i);
  let s = 0;
  if (orig) {
    for (let j = 0; j < units; j++) s += orig[j];
  } else {
    const base = problem.offsets[i];
    for (let j = 0; j < units; j++) s += problem.gains[base + j];
  }
  return s;
}
