/**
 * Calibration of a Bernoulli predictor on held-out prompts, each with K samples.
 *
 * Temperature scaling: p = σ(z / T) with one T fitted by minimising the binomial
 * negative log-likelihood on the validation split. It cannot change how prompts are
 * ranked (the allocation's order), only how confident the predicted p is, which sets how
 * many units each query is worth.
 */
import { softplus } from "./mlp.js";

function nll(logits: readonly number[], rates: readonly number[], weights: readonly number[], t: number, offsets?: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    if (!offsets) {
      s += weights[i] * (softplus(logits[i] / t) - (rates[i] * logits[i]) / t);
      continue;
    }
    const c = offsets[i] + logits[i] / t;
    s += weights[i] * (softplus(c) - rates[i] * c);
  }
  return s;
}

/**
 * T minimising the weighted binomial NLL of σ(offset + z / T), by golden-section search on
 * ln T ∈ [−3, 3]. Without offsets this is temperature scaling of the logits z; with them,
 * the temperature of an increment z added to a calibrated logit (a thinking level's
 * increment over the level below: it keeps the levels' order, since z ≥ 0 and T > 0).
 */
export function fitTemperature(logits: readonly number[], rates: readonly number[], weights: readonly number[], offsets?: readonly number[]): number {
  let lo = -3;
  let hi = 3;
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = hi - phi * (hi - lo);
  let b = lo + phi * (hi - lo);
  let fa = nll(logits, rates, weights, Math.exp(a), offsets);
  let fb = nll(logits, rates, weights, Math.exp(b), offsets);
  for (let it = 0; it < 80; it++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = nll(logits, rates, weights, Math.exp(a), offsets);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = nll(logits, rates, weights, Math.exp(b), offsets);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Expected calibration error over `bins` equal-width bins of predicted p: the weighted
 * mean, over bins, of |mean predicted p − observed pass rate|, where each prompt counts
 * with its K samples.
 *
 * @example expectedCalibrationError([0.5, 0.5], [0, 1], [10, 10]) // 0
 */
export function expectedCalibrationError(
  predicted: readonly number[],
  rates: readonly number[],
  weights: readonly number[],
  bins = 10,
): number {
  const w = new Float64Array(bins);
  const p = new Float64Array(bins);
  const r = new Float64Array(bins);
  let total = 0;
  predicted.forEach((pi, i) => {
    const b = Math.min(bins - 1, Math.floor(pi * bins));
    w[b] += weights[i];
    p[b] += weights[i] * pi;
    r[b] += weights[i] * rates[i];
    total += weights[i];
  });
  let ece = 0;
  for (let b = 0; b < bins; b++) if (w[b] > 0) ece += Math.abs(p[b] - r[b]) / total;
  return ece;
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (xs: readonly number[]) => {
    const order = xs.map((x, i) => [x, i] as const).sort((u, v) => u[0] - v[0]);
    const ranks = new Float64Array(xs.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) ranks[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return ranks;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  const mean = (n - 1) / 2;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) ** 2;
    vb += (rb[i] - mean) ** 2;
  }
  return va === 0 || vb === 0 ? 0 : cov / Math.sqrt(va * vb);
}
