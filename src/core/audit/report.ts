/**
 * What the usage API and the console say allot earned: the audited figure (unbiased, with
 * its interval: earned.ts) when there are enough audits, else plainly how many there are
 * of how many it takes; beside it the model-based estimate, labelled a prediction. Pure.
 */
import type { Earned } from "../metrics/earned.js";
import { type Audit, type AuditedEarned, MIN_AUDITS, auditedEarned } from "./earned.js";

export interface EarnedReport {
  /** Measured on audited prompts; null with fewer than MIN_AUDITS (`audits.note` says so). */
  readonly audited: AuditedEarned | null;
  readonly audits: {
    readonly prompts: number;
    readonly needed: number;
    /** Units audits drew beyond the policy's: the cost of proof, never charged to the tenant. */
    readonly units: number;
    /** Why there is no audited figure, in words; null when there is one. */
    readonly note: string | null;
  };
  /** The estimate from the predictor's own curves: only as good as its calibration on this traffic. */
  readonly predicted: Earned | null;
}

/**
 * The report from the audits kept (each in draw order), the audit units spent, and the prediction.
 *
 * @example earnedReport([], 0, null).audits.note // "too few audits to tell: 0 of 30 (…)"
 */
export function earnedReport(audits: readonly Audit[], auditUnits: number, predicted: Earned | null): EarnedReport {
  const enough = audits.length >= MIN_AUDITS;
  const note = enough
    ? null
    : `too few audits to tell: ${audits.length} of ${MIN_AUDITS} (raise the tenant's audit_rate, or wait for more traffic)`;
  return { audited: enough ? auditedEarned(audits) : null, audits: { prompts: audits.length, needed: MIN_AUDITS, units: auditUnits, note }, predicted };
}
