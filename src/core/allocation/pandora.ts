/**
 * Waves for real-valued rewards (a reward model's score in [0, 1]): what one more sample
 * is worth when the best reward so far is y, and when to stop. Pure.
 *
 * A query's one-sample reward X is described by weighted atoms (a Sketch): the recorded
 * rewards themselves for the oracle, or G equally likely atoms fitted to the predictor's
 * best-of-b curve (`atomsFromCurve`), updated by the prompt's own samples as they come
 * (`posteriorSketch`).
 *
 * - The value of drawing j more samples on top of a best y is
 *     E[max(y, X₁, …, X_j)] = y + ∫_y^1 (1 − F(t)^j) dt,
 *   whose increments (`improvementGains`) are non-increasing in j, so the exact batch
 *   solver can share a budget over them exactly as over the binary posterior gains.
 * - One query at a price λ per sample (the online rule) is Pandora's problem with
 *   identical boxes (Weitzman, "Optimal Search for the Best Alternative", Econometrica
 *   1979): the reservation value σ solves E[(X − σ)⁺] = λ, and the optimal policy draws
 *   while the best so far is below σ (and samples are left). `reservationValue` solves it
 *   exactly on the atoms, where E[(X − σ)⁺] is piecewise linear in σ.
 *
 * Why atoms fitted to the curve rather than a second trained head: the curve q(b) =
 * E[max of b] = ∫₀¹ X(u)·b·u^(b−1) du is a family of moments of the quantile function
 * X(u), so the distribution the curve implies is the one the waves must use for their
 * stop decisions to agree with the allocation's values; it needs no second model, and
 * `allot eval` reports how calibrated it is (P(X ≥ t) per prompt against the recorded
 * samples). It cannot see rewards rarer than about 1 in b_max samples: the curve does not
 * go further.
 */

/** Atoms of the quantile sketch fitted to a curve. */
export const CURVE_ATOMS = 32;

/**
 * G equally likely atoms whose best-of-b curve is closest (least squares) to `q`
 * (q[b − 1] = E[max of b], b = 1..m, rewards in [0, 1]). The quantile function is a sum
 * of non-negative steps c_j at u_j = j/G, X(u) = Σ_{u_j < u} c_j, so that
 * E[max of b] = Σ_j c_j (1 − u_j^b): non-negative least squares, by cyclic coordinate
 * descent. Rewards are at most 1: atoms above 1 (steps summing past it, which a curve
 * that stays below 1 rarely asks for) are cut to 1. A sum constraint inside the descent
 * would stall it: once active, no single coordinate can move.
 */
export function atomsFromCurve(q: ArrayLike<number>, atoms = CURVE_ATOMS, sweeps = 200): Float64Array {
  const m = q.length;
  const G = atoms;
  // Column j: 1 − u_j^b for b = 1..m.
  const A = Array.from({ length: G }, (_, j) => Float64Array.from({ length: m }, (_, b) => 1 - Math.pow(j / G, b + 1)));
  const norm2 = A.map((col) => col.reduce((s, x) => s + x * x, 0));
  const c = new Float64Array(G);
  const residual = Float64Array.from(q, (x) => Math.min(1, Math.max(0, x)));
  // Start from a point mass at q(1): c_0 = q(1).
  c[0] = residual[0];
  for (let b = 0; b < m; b++) residual[b] -= c[0] * A[0][b];
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let moved = 0;
    for (let j = 0; j < G; j++) {
      if (norm2[j] === 0) continue;
      let dot = 0;
      for (let b = 0; b < m; b++) dot += A[j][b] * residual[b];
      const next = Math.max(0, c[j] + dot / norm2[j]);
      const d = next - c[j];
      if (d !== 0) {
        for (let b = 0; b < m; b++) residual[b] -= d * A[j][b];
        c[j] = next;
        moved = Math.max(moved, Math.abs(d));
      }
    }
    if (moved < 1e-9) break;
  }
  // Atom k sits in (k/G, (k + 1)/G]: X = the steps at u_j ≤ k/G.
  const out = new Float64Array(G);
  let level = 0;
  for (let k = 0; k < G; k++) {
    level += c[k];
    out[k] = Math.min(1, level);
  }
  return out;
}

/** The recorded rewards as atoms (ascending). */
export const atomsFromSamples = (rewards: readonly number[]): Float64Array => Float64Array.from(rewards).sort();

/** A distribution on [0, 1] as weighted atoms: x ascending, w summing to 1. */
export interface Sketch {
  readonly x: Float64Array;
  readonly w: Float64Array;
}

/** Equally likely atoms as a sketch. */
export const sketchOf = (atoms: Float64Array): Sketch => ({ x: Float64Array.from(atoms).sort(), w: new Float64Array(atoms.length).fill(1 / atoms.length) });

/**
 * The predictive distribution of the next sample after `seen` rewards, under a Dirichlet
 * process prior with base distribution `atoms` and strength s: (s·F̂ + Σ δ_xᵢ) / (s + n)
 * (Ferguson, "A Bayesian analysis of some nonparametric problems", Ann. Statist. 1973).
 * With binary rewards it is exactly the Beta(s·p̂, s·(1 − p̂)) posterior of waves.ts; here
 * it lets a prompt's own samples overrule its prediction as they accumulate.
 */
export function posteriorSketch(atoms: Float64Array, strength: number, seen: readonly number[]): Sketch {
  const G = atoms.length;
  const n = seen.length;
  const pairs: [number, number][] = [...Array.from(atoms, (x): [number, number] => [x, strength / G / (strength + n)]), ...seen.map((x): [number, number] => [x, 1 / (strength + n)])];
  pairs.sort((a, b) => a[0] - b[0]);
  return { x: Float64Array.from(pairs, (p) => p[0]), w: Float64Array.from(pairs, (p) => p[1]) };
}

/** E[max(best, X₁, …, X_j)] for i.i.d. X from the sketch (j ≥ 0). */
export function expectedBestWith(d: Sketch, best: number, j: number): number {
  let value = best;
  // ∫_best^1 (1 − F(t)^j) dt, F piecewise constant between atoms.
  let F = 0;
  let prev = -Infinity;
  for (let k = 0; k < d.x.length; k++) {
    const lo = Math.max(best, prev);
    const hi = d.x[k];
    if (hi > lo) value += (hi - lo) * (1 - Math.pow(Math.min(1, F), j));
    F += d.w[k];
    prev = hi;
  }
  return value;
}

/** Δ(1..count): what each further sample adds to the expected best, given the best so far. */
export function improvementGains(d: Sketch, best: number, count: number): Float64Array {
  const out = new Float64Array(Math.max(0, count));
  let prev = expectedBestWith(d, best, 0);
  for (let j = 1; j <= count; j++) {
    const v = expectedBestWith(d, best, j);
    out[j - 1] = Math.max(0, v - prev);
    prev = v;
  }
  return out;
}

/** E[(X − σ)⁺]. */
export function expectedExcess(d: Sketch, sigma: number): number {
  let s = 0;
  d.x.forEach((x, k) => {
    if (x > sigma) s += d.w[k] * (x - sigma);
  });
  return s;
}

/**
 * Pandora's reservation value: σ with E[(X − σ)⁺] = price. The excess is piecewise linear
 * and decreasing in σ, with slope −P(X > σ); below the smallest atom it is E[X] − σ, so σ
 * is negative when even one sample is not worth its price, and a price of 0 gives the
 * largest atom.
 */
export function reservationValue(d: Sketch, price: number): number {
  const n = d.x.length;
  let excess = 0;
  let above = 0;
  // Walk down from the top: on [x_{k−1}, x_k] the excess rises with slope (mass at or above x_k).
  for (let k = n - 1; k >= 0; k--) {
    above += d.w[k];
    const lower = k === 0 ? -Infinity : d.x[k - 1];
    const atLower = lower === -Infinity ? Infinity : excess + (d.x[k] - lower) * above;
    if (atLower >= price) return d.x[k] - (price - excess) / above;
    excess = atLower;
  }
  return d.x[0];
}

/** P(X ≥ t). */
export function exceedance(d: Sketch, t: number): number {
  let s = 0;
  d.x.forEach((x, k) => {
    if (x >= t - 1e-12) s += d.w[k];
  });
  return s;
}
