/**
 * Does a served hidden state look like the ones a predictor was trained on? The cheap,
 * decisive statistic is its L2 norm: raw last-layer states have norms of order √d (after
 * a final LayerNorm) while an embed pooler's default output has norm 1, so a predictor
 * trained on one and fed the other is off by a factor of 10–100, not a few percent.
 * Pure: used by the trainers (to record the range) and the gateway (to check against it).
 */
import type { PredictorManifest } from "./manifest.js";

export type NormStats = NonNullable<PredictorManifest["hidden_norm"]>;

/** How far outside the training range a norm may fall and still be served. */
export const NORM_SLACK = 2;

export const l2 = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
};

/** The norm range of a training set. */
export function normStats(vectors: readonly ArrayLike<number>[]): NormStats {
  const norms = vectors.map(l2);
  return { min: Math.min(...norms), mean: norms.reduce((a, b) => a + b, 0) / norms.length, max: Math.max(...norms) };
}

/**
 * Null when `v` fits the predictor's training range (within a factor NORM_SLACK), else why not.
 *
 * @example normMismatch([0.6, 0.8], { min: 9, mean: 11, max: 13 }) // "norm 1.00, …"
 */
export function normMismatch(v: ArrayLike<number>, stats: NormStats | undefined): string | null {
  if (!stats) return null;
  const n = l2(v);
  if (n >= stats.min / NORM_SLACK && n <= stats.max * NORM_SLACK) return null;
  const unit = Math.abs(n - 1) < 1e-3 ? " (a unit vector: the server L2-normalises its pooled output)" : "";
  return `norm ${n.toFixed(2)}${unit}, while the predictor was trained on norms ${stats.min.toFixed(2)}–${stats.max.toFixed(2)}`;
}
