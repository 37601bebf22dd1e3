/**
 * A tenant's refit (calibration.ts: a temperature T on the logit of the single-sample
 * success) applied to a predictor whose output is a curve, q(1..K) = the expected best of
 * k samples (real-valued rewards). Pure.
 *
 * The refit was fitted on q(1) (an audit labels a curve predictor by its curve's first point
 * against the mean reward of the prompt's samples), so q(1) becomes q'(1) = σ(logit q(1) / T).
 * The rest of the curve follows by a power of its shortfall:
 *
 *   1 − q'(k) = (1 − q(k))^α,   α = log(1 − q'(1)) / log(1 − q(1)).
 *
 * Why this map: on a pass/fail curve, 1 − q(k) = (1 − p)^k, it gives exactly
 * (1 − p')^k with p' = σ(logit p / T): the binary refit, so both kinds of predictor are
 * served by one rule. For any curve it keeps q in [0, 1], q'(1) as refitted, and the curve
 * non-decreasing (u ↦ 1 − (1 − u)^α is increasing); with α ≥ 1 (T lowering a q(1) below ½,
 * or raising one above, i.e. the predictor was overconfident about success) it is also
 * concave, so the gains stay diminishing. With α < 1 the map is convex and could bend a
 * curve that is not pass/fail upwards somewhere, so the result's gains are made
 * non-increasing (`diminishing`: each capped by the one before), as DESIGN.md requires of
 * any predicted curve; the refitted q'(1) stays exact and no point is raised.
 * Bounded and reversible as the binary refit: T lies in [1/4, 4], T = 1 gives the curve as
 * shipped, and the tenant's calibration "shipped" serves it as published.
 */
import { scaled } from "./calibration.js";

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/**
 * The curve under temperature T: q'(1) = σ(logit q(1) / T) and the rest by the power of the
 * shortfall above, non-decreasing and concave.
 *
 * @example refitCurve([0.5, 0.75, 0.875], 1) // [0.5, 0.75, 0.875]: T = 1 is the curve as shipped
 * @example refitCurve([0.5, 0.75, 0.875], 2)[0] // 0.5: a temperature leaves ½ where it is
 */
export function refitCurve(curve: readonly number[], T: number): number[] {
  const q = curve.map(clamp01);
  // A temperature leaves a certain 0 or 1 where it is (σ(±∞ / T)); and a best-of-k curve that starts at 0 stays 0 (q(k) ≤ k·q(1)).
  if (q.length === 0 || T === 1 || q[0] <= 0 || q[0] >= 1) return [...curve];
  const t1 = scaled(q[0], T);
  const alpha = Math.log1p(-t1) / Math.log1p(-q[0]);
  // exp(α · log(1 − x)): a point at 1 stays at 1 (log 0 = −∞).
  const mapped = q.map((x, k) => (k === 0 ? t1 : 1 - Math.exp(alpha * Math.log1p(-x))));
  return diminishing(mapped).map(clamp01);
}

/**
 * The curve with its gains made non-negative and non-increasing from the first point on,
 * each gain capped by the one before: the first point (the refitted q'(1)) stays exact, and
 * no point rises, so the projection never promises more than the map gave.
 *
 * @example diminishing([0.1, 0.15, 0.35]) // [0.1, 0.15, 0.2]
 */
export function diminishing(q: readonly number[]): number[] {
  const out = [...q];
  let gain = Math.max(0, q[0] ?? 0);
  for (let k = 1; k < out.length; k++) {
    gain = Math.min(gain, Math.max(0, q[k] - q[k - 1]));
    out[k] = out[k - 1] + gain;
  }
  return out;
}
