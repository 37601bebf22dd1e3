/**
 * Marginal-gain curves: the gain of each extra unit of compute for one query.
 *
 * Pure functions over plain numbers and typed arrays, shared by the batch solver, the
 * online price and the predictor's post-processing.
 */

/**
 * Gain of the j-th unit (1-based) of a Bernoulli curve: one sample passes with
 * probability p, so q(b) = 1 − (1 − p)^b and Δ(j) = p(1 − p)^(j−1).
 * p = 0 and p = 1 are exact: Δ ≡ 0, and Δ = [1, 0, 0, …].
 *
 * @example bernoulliGain(0.5, 2) // 0.25
 */
export function bernoulliGain(p: number, j: number): number {
  if (p >= 1) return j === 1 ? 1 : 0;
  if (p <= 0) return 0;
  return p * Math.pow(1 - p, j - 1);
}

/**
 * q(b) = Σ_{j≤b} Δ(j) = 1 − (1 − p)^b, the probability that one of b samples passes.
 *
 * @example bernoulliValue(0.5, 2) // 0.75
 */
export function bernoulliValue(p: number, units: number): number {
  if (units <= 0) return 0;
  if (p >= 1) return 1;
  if (p <= 0) return 0;
  return 1 - Math.pow(1 - p, units);
}

/**
 * How many of the units 1..cap of a Bernoulli curve have a gain above `price`
 * (`strict`) or at least `price`. Δ is non-increasing, so this is a prefix length.
 *
 * Closed form: Δ(j) ≥ price ⇔ j ≤ x = 1 + ln(price/p) / ln(1 − p), so the count is
 * ⌊x⌋ clipped to [0, cap]. ln(price/p) carries an absolute error of a few 1e-16, which
 * the division by ln(1 − p) ≈ −p magnifies for small p; so x is trusted only when it is
 * farther than that error (with a wide margin) from an integer. Near an integer, or near
 * underflow where gains lose relative precision, the count is checked unit by unit
 * against `bernoulliGain` itself, so it always agrees with the gains the solver sums.
 * O(1); this runs once per query per counting pass, so it avoids Math.pow where it can.
 *
 * @example bernoulliCount(0.5, 0.25, 32, false) // 2: gains 0.5, 0.25
 */
export function bernoulliCount(p: number, price: number, cap: number, strict: boolean): number {
  // No inner closures here: bundlers that keep function names (esbuild's keepNames, used
  // by tsx and wrangler) wrap every closure creation in a call that costs more than the
  // arithmetic.
  if (cap <= 0) return 0;
  if (p >= 1 || p <= 0 || !(price > 0) || price === Infinity) return checkedCount(p, price, cap, strict, price === Infinity ? 0 : cap);
  if (price >= p) return checkedCount(p, price, cap, strict, 0);
  return countFromLogs(p, Math.log(p), Math.log1p(-p), price, Math.log(price / p), cap, strict);
}

/**
 * bernoulliCount with ln p and ln(1 − p) computed once per curve and ln(price) once per
 * price, for a solver that counts a million curves at one price: ln(price/p) is taken as
 * ln(price) − ln(p), which costs no logarithm per curve. For 0 < p < 1 and 0 < price < p.
 * The difference of two logarithms errs by a few ulps of the larger one, at most ~1.6e-13
 * when x is near an integer below `cap` (there |ln price − ln p| < cap·|ln(1 − p)|, and
 * `safe` keeps both above −700); the tolerance below covers that with room.
 */
export function bernoulliCountLogs(p: number, logP: number, logStep: number, price: number, logPrice: number, cap: number, strict: boolean): number {
  if (cap <= 0) return 0;
  if (!(price > 0) || price === Infinity || price >= p) return bernoulliCount(p, price, cap, strict);
  return countFromLogs(p, logP, logStep, price, logPrice - logP, cap, strict);
}

/** The closed form of bernoulliCount, checked against the gains near an integer (see there). */
function countFromLogs(p: number, logP: number, logStep: number, price: number, logRatio: number, cap: number, strict: boolean): number {
  // The smallest gain in range, in logs: far from underflow, every gain is a normal double.
  const safe = logP + (cap - 1) * logStep > -700 && price > 1e-300;
  const x = 1 + logRatio / logStep;
  const tolerance = 1e-9 * (1 + Math.abs(x)) + 1e-12 / -logStep;
  if (safe) {
    if (x >= cap + tolerance) return cap;
    const k = Math.floor(x);
    if (x - k > tolerance && k + 1 - x > tolerance) return k;
  }
  return checkedCount(p, price, cap, strict, Math.max(0, Math.min(cap, Math.floor(x))));
}

/**
 * The exact count, found from a guess by comparing bernoulliGain with the price: gallop
 * from the guess to bracket the boundary, then bisect. The gains are non-increasing, so
 * "unit k passes" is true up to the count and false after it. O(log |count − guess|): a
 * good guess costs a step or two, and a useless one (a price of 0 over a cap of 10⁶, where
 * a walk would take 10⁶ steps) about 40.
 */
function checkedCount(p: number, price: number, cap: number, strict: boolean, guess: number): number {
  // Invariant: unit lo passes (lo = 0 stands for "none"), unit hi does not (hi = cap + 1 for "all").
  let lo: number;
  let hi: number;
  let step = 1;
  if (guess > 0 && !passesPrice(bernoulliGain(p, guess), price, strict)) {
    hi = guess;
    lo = Math.max(0, hi - step);
    while (lo > 0 && !passesPrice(bernoulliGain(p, lo), price, strict)) {
      hi = lo;
      step *= 2;
      lo = Math.max(0, hi - step);
    }
  } else {
    lo = guess;
    hi = Math.min(cap + 1, lo + step);
    while (hi <= cap && passesPrice(bernoulliGain(p, hi), price, strict)) {
      lo = hi;
      step *= 2;
      hi = Math.min(cap + 1, lo + step);
    }
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (passesPrice(bernoulliGain(p, mid), price, strict)) lo = mid;
    else hi = mid;
  }
  return lo;
}

function passesPrice(gain: number, price: number, strict: boolean): boolean {
  return strict ? gain > price : gain >= price;
}

/** True when gains[from..to) never increases. */
export function isNonIncreasing(gains: ArrayLike<number>, from: number, to: number): boolean {
  for (let i = from + 1; i < to; i++) if (gains[i] > gains[i - 1]) return false;
  return true;
}

/**
 * Projects gains[from..to) in place onto the closest non-increasing sequence (least
 * squares), by pool-adjacent-violators.
 *
 * Why this projection: for equal weights the antitonic regression of the marginals is
 * exactly the sequence of slopes of the least concave majorant of the cumulative curve
 * q (Barlow et al. 1972), i.e. the "upper concave envelope" the method calls for. It
 * keeps every pooled block's sum, so q at the end of the range is unchanged: a predictor
 * that says "8 samples reach 0.9" still says so after projection; only the order in
 * which the gains arrive is smoothed. O(to − from).
 *
 * @example
 * const g = new Float64Array([0.1, 0.5, 0.2]);
 * projectNonIncreasing(g, 0, 3); // g = [0.3, 0.3, 0.2]
 */
export function projectNonIncreasing(gains: Float64Array, from: number, to: number): void {
  const len = to - from;
  if (len < 2) return;
  const sums = new Float64Array(len);
  const counts = new Int32Array(len);
  let blocks = 0;
  for (let i = from; i < to; i++) {
    sums[blocks] = gains[i];
    counts[blocks] = 1;
    blocks++;
    // Merge while the newer block's mean exceeds the older one's (a violation).
    while (blocks > 1 && sums[blocks - 1] * counts[blocks - 2] > sums[blocks - 2] * counts[blocks - 1]) {
      sums[blocks - 2] += sums[blocks - 1];
      counts[blocks - 2] += counts[blocks - 1];
      blocks--;
    }
  }
  let at = from;
  for (let b = 0; b < blocks; b++) {
    const mean = sums[b] / counts[b];
    for (let c = 0; c < counts[b]; c++) gains[at++] = mean;
  }
}
