/**
 * What allot earned: the quality gained over uniform best-of-k at the same spend, and the
 * compute uniform would need for the same quality, from what was recorded at serving time.
 *
 * For each prompt whose spend allot decided, serving records the reward it got (the best
 * of what it drew, observed) and the predictor's curve f(k) = expected best of k samples,
 * k = 1..CURVE_UNITS. Summed over prompts, Σf(k)/n is the quality uniform best-of-k is
 * predicted to reach on the same prompts; at allot's mean spend m (fractional: uniform
 * gives ⌈m⌉ to some prompts and ⌊m⌋ to the rest) it is interpolated linearly.
 *
 *   gain  = observed mean reward − F(m)           F(k) = Σ f_i(k) / n
 *   (± the observed mean's standard error: on a few hundred prompts, a few points)
 *   units = F⁻¹(observed mean reward)             saved = 1 − m / units
 *
 * Where it is biased: allot's side is measured, uniform's is predicted, so the estimate is
 * as good as the predictor's calibration on this traffic. A predictor that over-predicts
 * (its curve above the rewards) makes uniform look better and the gain smaller; one that
 * under-predicts inflates it. The live calibration (first sample's reward against the
 * predicted single-sample success, recorded alongside) shows which. Pure.
 */

/** Curve points recorded per prompt: f(1..CURVE_UNITS); uniform beyond it is not estimated. */
export const CURVE_UNITS = 32;

/** What is summed over the prompts of a minute, a tenant, or a batch. */
export interface EarnedSums {
  /** Prompts whose spend allot decided, with a prediction and a reward. */
  prompts: number;
  /** Units those prompts were charged. */
  units: number;
  /** Σ of their observed rewards (the best sample of each), and of their squares (for the standard error). */
  reward: number;
  reward_sq: number;
  /** Σ f_i(k), k = 1..CURVE_UNITS. */
  curve: number[];
}

export const emptyEarned = (): EarnedSums => ({ prompts: 0, units: 0, reward: 0, reward_sq: 0, curve: new Array<number>(CURVE_UNITS).fill(0) });

/** One prompt's sums: the reward it got, the units it cost, its predicted curve. */
export const earnedOf = (reward: number, units: number, curve: readonly number[]): EarnedSums => ({ prompts: 1, units, reward, reward_sq: reward * reward, curve: [...curve] });

export function addEarned(a: EarnedSums, b: EarnedSums): EarnedSums {
  return {
    prompts: a.prompts + b.prompts,
    units: a.units + b.units,
    reward: a.reward + b.reward,
    reward_sq: (a.reward_sq ?? 0) + (b.reward_sq ?? 0),
    curve: a.curve.map((v, i) => v + (b.curve[i] ?? 0)),
  };
}

/** One prompt's expected best of k, k = 1..CURVE_UNITS: from p (binary rewards) or a curve predictor's q(1..b_max), held flat past b_max. */
export function curvePoints(pred: { p: number } | { curve: readonly number[] }): number[] {
  return Array.from({ length: CURVE_UNITS }, (_, i) => ("p" in pred ? 1 - Math.pow(1 - pred.p, i + 1) : pred.curve[Math.min(i, pred.curve.length - 1)]));
}

/** F at a fractional k in [1, CURVE_UNITS] (linear between integers), per prompt. */
function at(s: EarnedSums, k: number): number {
  const lo = Math.floor(k);
  const hi = Math.min(CURVE_UNITS, lo + 1);
  const f = (j: number) => s.curve[j - 1] / s.prompts;
  return lo >= CURVE_UNITS ? f(CURVE_UNITS) : f(lo) + (k - lo) * (f(hi) - f(lo));
}

export interface Earned {
  prompts: number;
  /** allot's mean units per prompt. */
  mean_units: number;
  /** Observed mean reward of allot's answers, and its standard error (the sampling noise of the prompts seen). */
  quality: number;
  quality_se: number;
  /** Uniform best-of-mean_units, predicted. Null past CURVE_UNITS or below 1 unit. */
  uniform_quality: number | null;
  /** quality − uniform_quality. */
  gain: number | null;
  /** Mean units per prompt uniform is predicted to need for allot's quality; null if it never gets there within CURVE_UNITS. */
  uniform_units: number | null;
  /** 1 − mean_units / uniform_units: the share of compute allot saved (negative: it spent more). */
  saved: number | null;
}

export function estimateEarned(s: EarnedSums): Earned | null {
  if (s.prompts === 0) return null;
  const m = s.units / s.prompts;
  const quality = s.reward / s.prompts;
  const variance = s.prompts > 1 ? Math.max(0, (s.reward_sq - s.prompts * quality * quality) / (s.prompts - 1)) : 0;
  const uniform = m >= 1 && m <= CURVE_UNITS ? at(s, m) : null;
  // F is non-decreasing in k: the first k where it reaches allot's quality, interpolated.
  let units: number | null = null;
  if (quality <= at(s, 1)) units = 1;
  else
    for (let k = 1; k < CURVE_UNITS; k++) {
      const a = at(s, k);
      const b = at(s, k + 1);
      if (b >= quality) {
        units = b === a ? k + 1 : k + (quality - a) / (b - a);
        break;
      }
    }
  return {
    prompts: s.prompts,
    mean_units: m,
    quality,
    quality_se: Math.sqrt(variance / s.prompts),
    uniform_quality: uniform,
    gain: uniform === null ? null : quality - uniform,
    uniform_units: units,
    saved: units === null ? null : 1 - m / units,
  };
}

/** Live calibration: per tenth of predicted single-sample success, the prompts, Σ predicted, Σ the first sample's reward. */
export const CALIBRATION_BINS = 10;
export type CalibrationBins = { n: number; predicted: number; observed: number }[];
export const emptyCalibration = (): CalibrationBins => Array.from({ length: CALIBRATION_BINS }, () => ({ n: 0, predicted: 0, observed: 0 }));
export const calibrationBin = (p: number): number => Math.min(CALIBRATION_BINS - 1, Math.max(0, Math.floor(p * CALIBRATION_BINS)));
