/**
 * Calibration from audited prompts: each is an unbiased label for the predictor, its pass
 * rate over its full sample set (s passes of K), against the p it was predicted. Pure.
 *
 * - The reliability plot: per tenth of predicted p, the prompts, the mean predicted and the
 *   observed pass rate with a 95% Wilson interval (pooled over the bin's samples).
 * - ECE: the prompt-weighted mean |predicted − observed| over the bins.
 * - A refit for one tenant's traffic: a temperature T on the predictor's logit,
 *   p' = σ(logit(p) / T), the maximum-likelihood one over every audited sample (binomial
 *   log-likelihood, golden-section search over log T in [log 1/4, log 4]: bounded, so a
 *   few odd audits cannot turn the predictor upside down), and the waves prior's strength
 *   refitted on p' (waves.ts fitStrength). Applied on top of the shipped calibration, and
 *   reversible: T = 1 and the manifest's strength are the predictor as shipped.
 */
import { fitStrength } from "../allocation/waves.js";

export interface Labelled {
  /** The predictor's single-sample success, as served. */
  readonly p: number;
  readonly successes: number;
  readonly samples: number;
}

export interface ReliabilityBin {
  readonly n: number;
  readonly predicted: number;
  readonly observed: number;
  readonly ci95: readonly [number, number];
}

export const BINS = 10;

const clamp = (p: number) => Math.min(1 - 1e-6, Math.max(1e-6, p));
const logit = (p: number) => Math.log(clamp(p) / (1 - clamp(p)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** p after a temperature T on its logit. */
export const scaled = (p: number, T: number): number => sigmoid(logit(p) / T);

/** Wilson's 95% interval for s successes in n trials. */
function wilson(s: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.959964;
  const ph = s / n;
  const d = 1 + (z * z) / n;
  const c = (ph + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((ph * (1 - ph)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

/** A bin's sums, which add across tenants: prompts, their predicted p and pass rates summed, and the samples and successes pooled. */
export interface BinSums {
  readonly n: number;
  readonly predicted: number;
  readonly observed: number;
  readonly successes: number;
  readonly samples: number;
}

/** Per tenth of predicted p (after a temperature T), the sums of the labelled prompts in it. */
export function binSums(data: readonly Labelled[], T = 1): BinSums[] {
  const bins = Array.from({ length: BINS }, () => ({ n: 0, predicted: 0, observed: 0, successes: 0, samples: 0 }));
  for (const d of data) {
    if (d.samples <= 0) continue;
    const p = scaled(d.p, T);
    const b = bins[Math.min(BINS - 1, Math.floor(p * BINS))];
    b.n++;
    b.predicted += p;
    b.observed += d.successes / d.samples;
    b.successes += d.successes;
    b.samples += d.samples;
  }
  return bins;
}

/** a + b, bin by bin. */
export const addBinSums = (a: readonly BinSums[], b: readonly BinSums[]): BinSums[] =>
  a.map((x, i) => ({ n: x.n + b[i].n, predicted: x.predicted + b[i].predicted, observed: x.observed + b[i].observed, successes: x.successes + b[i].successes, samples: x.samples + b[i].samples }));

/**
 * The reliability plot's bins from their sums: mean predicted, mean observed pass rate,
 * and a 95% Wilson interval on the bin's pooled samples.
 */
export const reliabilityOf = (sums: readonly BinSums[]): ReliabilityBin[] =>
  sums.map((b) => ({ n: b.n, predicted: b.n ? b.predicted / b.n : 0, observed: b.n ? b.observed / b.n : 0, ci95: wilson(b.successes, b.samples) }));

/** Expected calibration error of reliability bins (prompt-weighted). */
export function eceOf(bins: readonly ReliabilityBin[]): number {
  const n = bins.reduce((s, b) => s + b.n, 0);
  return n === 0 ? 0 : bins.reduce((s, b) => s + (b.n / n) * Math.abs(b.predicted - b.observed), 0);
}

/**
 * The reliability plot's bins.
 *
 * @example reliability([{ p: 0.3, successes: 3, samples: 10 }])[3] // { n: 1, predicted: 0.3, observed: 0.3, ci95: […] }
 */
export function reliability(data: readonly Labelled[], T = 1): ReliabilityBin[] {
  return reliabilityOf(binSums(data, T));
}

/** Expected calibration error over the bins (prompt-weighted). */
export function ece(data: readonly Labelled[], T = 1): number {
  return eceOf(reliability(data, T));
}

/** The binomial log-likelihood of the audits under temperature T. */
function logLik(data: readonly Labelled[], T: number): number {
  let ll = 0;
  for (const d of data) {
    const q = clamp(scaled(d.p, T));
    ll += d.successes * Math.log(q) + (d.samples - d.successes) * Math.log(1 - q);
  }
  return ll;
}

export interface Refit {
  readonly prompts: number;
  readonly temperature: number;
  /** The waves prior's strength on the refitted p. */
  readonly strength: number;
  readonly ece_before: number;
  readonly ece_after: number;
}

/**
 * The temperature and prior strength that best explain the audits.
 *
 * @example refit(audits).temperature // 1.3: the predictor was overconfident on this traffic
 */
export function refit(data: readonly Labelled[]): Refit {
  let lo = Math.log(0.25);
  let hi = Math.log(4);
  const phi = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - phi * (hi - lo);
  let x2 = lo + phi * (hi - lo);
  let f1 = logLik(data, Math.exp(x1));
  let f2 = logLik(data, Math.exp(x2));
  for (let it = 0; it < 60; it++) {
    if (f1 < f2) {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = logLik(data, Math.exp(x2));
    } else {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = logLik(data, Math.exp(x1));
    }
  }
  const temperature = Math.exp((lo + hi) / 2);
  const strength = fitStrength(data.map((d) => ({ p: scaled(d.p, temperature), successes: d.successes, samples: d.samples })));
  return { prompts: data.length, temperature, strength, ece_before: ece(data), ece_after: ece(data, temperature) };
}
