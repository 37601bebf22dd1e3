/** What the console records of an online request (its tenant's rollups: counts, latency, what allot earned, calibration). */
import type { RequestRecord } from "../../core/contracts/metrics.js";
import type { CallMeter } from "../../core/lm/meter.js";
import { type EarnedSums, addEarned, earnedOf, emptyEarned } from "../../core/metrics/earned.js";
import type { PromptPlan } from "./plan.js";
import type { OnlineRequest } from "./request.js";

/** What one prompt drew, as far as the record needs it. */
export interface DrawnForRecord {
  readonly result: { readonly reward: number | null; readonly rewards: readonly number[] } | null;
  readonly samples: number;
  readonly rounds: number;
  readonly units: number;
}

/** The record of a request that ended with `status`, having drawn `drawn` (none if it failed). */
export function recordOf(req: OnlineRequest, status: number, priced: boolean, meter: CallMeter, started: number, plans: readonly PromptPlan[] = [], drawn: readonly DrawnForRecord[] = []): RequestRecord {
  let earned: EarnedSums | null = null;
  const points: { predicted: number; observed: number }[] = [];
  drawn.forEach((d, i) => {
    const curve = plans[i]?.curve;
    if (!priced || !curve || !d.result || d.result.reward === null) return;
    earned = addEarned(earned ?? emptyEarned(), earnedOf(d.result.reward, d.units, curve.points));
    points.push({ predicted: curve.points[0], observed: d.result.rewards[0] });
  });
  const predictor = plans.find((p) => p.curve)?.curve?.predictor;
  return {
    route: req.route ?? "completions",
    status,
    prompts: req.inputs.length,
    samples: drawn.reduce((s, d) => s + d.samples, 0),
    rounds: drawn.reduce((s, d) => Math.max(s, d.rounds), 0),
    priced,
    total_ms: Date.now() - started,
    lm_ms: meter.elapsed(),
    lm_retries: meter.retries,
    lm_errors: meter.errors,
    earned,
    calibration: predictor && points.length > 0 ? { predictor, points } : null,
  };
}
