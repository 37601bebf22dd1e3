/**
 * Latency histograms with fixed bucket bounds, so that histograms of different minutes,
 * tenants and isolates add up by adding counts: what a per-minute rollup can store, a
 * range of minutes can merge, and Prometheus can scrape (cumulative `le` buckets).
 * Pure: no platform API.
 */

/** Upper bounds (ms) of the buckets; one more bucket counts everything above the last. */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000] as const;

/** Counts per bucket: LATENCY_BOUNDS_MS.length + 1 entries. */
export type Histogram = number[];

export const emptyHistogram = (): Histogram => new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);

/** The bucket a duration falls in (a value on a bound falls in that bound's bucket, as Prometheus's `le`). */
export function bucketOf(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((b) => ms <= b);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

export function observe(h: Histogram, ms: number): Histogram {
  h[bucketOf(ms)]++;
  return h;
}

/** a + b, bucket by bucket (either may be shorter, e.g. a stored histogram read back as []). */
export function addHistograms(a: readonly number[], b: readonly number[]): Histogram {
  return emptyHistogram().map((_, i) => (a[i] ?? 0) + (b[i] ?? 0));
}

/**
 * The q-quantile, interpolated linearly within its bucket (as Prometheus's
 * histogram_quantile): exact to the bucket's width, and the last bound when the quantile
 * lies above it. Null for an empty histogram.
 */
export function quantile(h: readonly number[], q: number): number | null {
  const total = h.reduce((s, n) => s + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < h.length; i++) {
    if (below + h[i] >= rank && h[i] > 0) {
      if (i === LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[i - 1];
      const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1];
      return lo + ((LATENCY_BOUNDS_MS[i] - lo) * (rank - below)) / h[i];
    }
    below += h[i];
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}
