/**
 * Unbiased estimates of best-of-b quality from K samples of one prompt.
 *
 * Drawing b of the K samples without replacement, every b-subset equally likely, the
 * expected best reward is an average over all C(K, b) subsets. With the rewards sorted
 * ascending r₍₁₎ ≤ … ≤ r₍K₎, r₍ᵢ₎ is a subset's maximum in exactly C(i−1, b−1) subsets, so
 *
 *   E[max of b] = Σᵢ r₍ᵢ₎ · C(i−1, b−1) / C(K, b),
 *
 * an unbiased estimate of q(x, b) for b ≤ K (the paper's real-valued targets), with no
 * arbitrary subset chosen. For binary rewards with s passes this is the familiar
 * pass@b = 1 − C(K−s, b) / C(K, b).
 *
 * Pure; the weights use log-factorials, so K in the thousands is fine.
 */

const logFactorials: number[] = [0];

function logFactorial(n: number): number {
  for (let k = logFactorials.length; k <= n; k++) logFactorials.push(logFactorials[k - 1] + Math.log(k));
  return logFactorials[n];
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * E[max of b of the K rewards], b = 1..K.
 *
 * @example expectedBestOf([0, 1], 1) // 0.5
 * @example expectedBestOf([0, 1], 2) // 1
 */
export function expectedBestOf(rewards: readonly number[], b: number): number {
  const K = rewards.length;
  if (!Number.isInteger(b) || b < 1 || b > K) throw new RangeError(`b must be an integer in 1..${K}, got ${b}`);
  const sorted = [...rewards].sort((x, y) => x - y);
  const logTotal = logChoose(K, b);
  let sum = 0;
  for (let i = b; i <= K; i++) sum += sorted[i - 1] * Math.exp(logChoose(i - 1, b - 1) - logTotal);
  return sum;
}

/** q(b) for b = 1..bMax in one pass over the sorted rewards (bMax ≤ K). */
export function bestOfCurve(rewards: readonly number[], bMax: number): number[] {
  return Array.from({ length: bMax }, (_, j) => expectedBestOf(rewards, j + 1));
}

/**
 * pass@b from s passes out of K: 1 − C(K−s, b)/C(K, b).
 *
 * @example passAt(10, 5, 1) // 0.5
 */
export function passAt(K: number, s: number, b: number): number {
  if (b < 0 || b > K) throw new RangeError(`b must be in 0..${K}, got ${b}`);
  if (b === 0) return 0;
  if (K - s < b) return 1;
  return 1 - Math.exp(logChoose(K - s, b) - logChoose(K, b));
}
