/**
 * The k-th largest value (1-based) of values[0..len), by iterative quickselect with a
 * median-of-three pivot and Hoare partitioning (which stays balanced on many equal
 * values). Reorders `values`. Expected O(len).
 *
 * @example kthLargest(new Float64Array([3, 1, 2]), 3, 1) // 3
 */
export function kthLargest(values: Float64Array, len: number, k: number): number {
  if (k < 1 || k > len) throw new RangeError(`k = ${k} is outside 1..${len}`);
  let lo = 0;
  let hi = len - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    // Median of three, for descending order.
    const a = values[lo], b = values[mid], c = values[hi];
    const pivot = a > b ? (b > c ? b : a > c ? c : a) : a > c ? a : b > c ? c : b;
    let i = lo - 1;
    let j = hi + 1;
    for (;;) {
      do i++; while (values[i] > pivot);
      do j--; while (values[j] < pivot);
      if (i >= j) break;
      const t = values[i];
      values[i] = values[j];
      values[j] = t;
    }
    if (target <= j) hi = j;
    else lo = j + 1;
  }
  return values[lo];
}

/** Shuffles `xs` in place (Fisher–Yates, one draw of `rand` per position from the end) and returns it. */
export function shuffleInPlace<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Deterministic 32-bit PRNG (mulberry32): the solver's sampling must not depend on Math.random. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
