/** What the console records of an online request (its tenant's rollups: counts, latency, what allot earned, calibration). */
import type { RequestRecord, Served } from "../../core/contracts/metrics.js";
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
  /** The model whose sample was kept. */
  readonly model: string;
  /** The first sample's model and that model's predicted single-sample success. */
  readonly first?: { readonly model: string; readonly predicted: number | null } | null;
  /** Samples drawn per model, and their units. */
  readonly byModel?: Readonly<Record<string, { readonly samples: number; readonly units: number }>>;
}

/** The predictor or router that decided a prompt's spend, if one did. */
const deciderOf = (p: PromptPlan | undefined): string | undefined => p?.curve?.predictor ?? p?.router;

/**
 * The record of a request that ended with `status`, having drawn `drawn` (none if it
 * failed): its counts; for prompts whose spend the price decided, what allot earned
 * (best-of-k only: a routed prompt's uniform comparison would need every model's curve)
 * and a calibration point (the first sample's reward against its model's predicted
 * success); for prompts a predictor or router decided, what was drawn per model; and
 * `decided`, the units per prompt the price decided (what the price controller saw).
 */
export function recordOf(
  req: OnlineRequest,
  status: number,
  priced: boolean,
  meter: CallMeter,
  started: number,
  plans: readonly PromptPlan[] = [],
  drawn: readonly DrawnForRecord[] = [],
  decided: readonly number[] | null = null,
): RequestRecord {
  let earned: EarnedSums | null = null;
  const points: { predicted: number; observed: number }[] = [];
  const served: Served = {};
  drawn.forEach((d, i) => {
    const decider = deciderOf(plans[i]);
    if (!decider || !d.result) return;
    const models = (served[decider] ??= {});
    for (const [m, x] of Object.entries(d.byModel ?? {})) {
      const into = (models[m] ??= { prompts: 0, samples: 0, units: 0 });
      into.samples += x.samples;
      into.units += x.units;
    }
    (models[d.model] ??= { prompts: 0, samples: 0, units: 0 }).prompts++;
    if (!priced || d.result.reward === null) return;
    const curve = plans[i].curve;
    if (curve) {
      earned = addEarned(earned ?? emptyEarned(), earnedOf(d.result.reward, d.units, curve.points));
      points.push({ predicted: curve.points[0], observed: d.result.rewards[0] });
    } else if (d.first && d.first.predicted !== null && d.result.rewards.length > 0) {
      points.push({ predicted: d.first.predicted, observed: d.result.rewards[0] });
    }
  });
  const predictor = deciderOf(plans.find((p) => deciderOf(p)));
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
    ...(Object.keys(served).length > 0 ? { served } : {}),
    ...(decided && decided.length > 0 ? { decided: [...decided] } : {}),
  };
}
