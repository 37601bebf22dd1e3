/**
 * The headline figures of an `allot eval` report, kept in the predictor's manifest
 * (metrics.test_*) so that whoever uses the predictor sees what it was measured to do:
 * GET /admin/predictors lists them, and the console shows them beside the live
 * calibration. Written by `allot eval` after every report.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { EvalResult } from "./eval-report.js";
import type { RouteEvalResult } from "./route-report.js";

/** Spearman and ECE on the test prompts, and compute saved at equal quality (full mix) at B = 2, 4, 8: one round (learned) and waves. */
export function predictorEvalMetrics(r: Pick<EvalResult, "spearman" | "ece" | "mixes">): Record<string, number> {
  const out: Record<string, number> = { test_spearman: r.spearman };
  if (r.ece !== null) out.test_ece = r.ece;
  for (const s of r.mixes.full?.savings ?? []) {
    if (s.saved.learned != null) out[`test_saved_b${s.budget}`] = s.saved.learned;
    if (s.saved.waves != null) out[`test_saved_waves_b${s.budget}`] = s.saved.waves;
  }
  return out;
}

/** A router: cost saved at the quality of always-strong best-of-k, one-shot routing and (with a prior) the cascade. */
export function routerEvalMetrics(r: Pick<RouteEvalResult, "savings">): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of r.savings) {
    const k = /k = (\d+)$/.exec(s.reference)?.[1];
    if (!k || !s.reference.startsWith("always")) continue;
    if (s.saved.allot !== null) out[`test_saved_k${k}`] = s.saved.allot;
    if (s.saved.cascade != null) out[`test_saved_cascade_k${k}`] = s.saved.cascade;
  }
  return out;
}

/** Merges `metrics` into `PREFIX.manifest.json` (test_* keys from an earlier report are replaced). */
export async function recordEvalMetrics(prefix: string, metrics: Record<string, number>): Promise<void> {
  const path = `${prefix}.manifest.json`;
  const manifest = JSON.parse(await readFile(path, "utf8")) as { metrics: Record<string, number> };
  const kept = Object.fromEntries(Object.entries(manifest.metrics).filter(([k]) => !k.startsWith("test_")));
  manifest.metrics = { ...kept, ...metrics };
  await writeFile(path, JSON.stringify(manifest, null, 2) + "\n");
}
