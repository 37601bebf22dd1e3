/**
 * Audits of a batch's prompts (docs/audits.md#audits-of-batches). The tenant's audit_rate
 * picks prompts when the batch is submitted, at random whatever their prediction, so a
 * batch's audited prompts are a random sample of it. Each is drawn by the batch's policy
 * like any other (learned, waves or uniform: the answer and the charge are the policy's),
 * and its rewards are kept in draw order. Once the batch is done and settled, each picked
 * prompt draws the rest of its audit set (the batch's `budget.max` samples in all) with a
 * seed of its own, outside the batch's budget: nothing reserves it and nothing charges it;
 * it is counted apart (the tenant's `audits` and `audit_units`), as online.
 *
 * Durable and idempotent, as a batch's steps are: a prompt's audit moves picked → drawn
 * (its rewards kept in its row) → recorded, and the ledger keys a batch's audit by batch
 * and prompt (`ref`), so a batch evicted between the two records nothing twice; one evicted
 * mid-draw draws again (the same seeds) and records once. A draw that fails is not retried
 * (as online: the failure is logged).
 *
 * Why after the batch rather than with its rounds: the samples are independent draws
 * either way, and drawing them last keeps every round of the policy, its allocation and its
 * budget exactly what they are without audits.
 */
import { MIN_AUDITS, auditedEarned } from "../../core/audit/earned.js";
import type { BatchAudits } from "../../core/contracts/batches.js";
import { curvePoints } from "../../core/metrics/earned.js";
import { printable } from "../../core/log.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import type { Prediction } from "../predictor/predict.js";
import { twice } from "../tenants/account.js";
import type { AuditRecord } from "../tenants/audits.js";
import { tenantLedger } from "../tenants/lookup.js";
import type { AuditRow, Items } from "./items.js";
import type { BatchSpec } from "./modes.js";
import { drawWork, roundSeedOf } from "./work.js";

/** Whether a batch's prompts can be audited: best-of-k of one model (a routed batch's samples come from several models: docs/audits.md). */
export const auditable = (spec: Pick<BatchSpec, "mode" | "model">, env: Env): boolean => {
  // A model that thinks is not audited either: its audit set would need samples at every thinking level (docs/thinking.md).
  const s = settings(env);
  return spec.mode !== "route" && !s.THINKING_MODELS?.has(spec.model ?? s.LM_MODEL);
};

/** A batch's audit set: its `budget.max` samples per prompt (what the policy could have drawn at most). */
export const auditSize = (spec: Pick<BatchSpec, "budget">): number => spec.budget.max;

/** The batch a step audits for. */
export interface AuditedBatch {
  readonly id: string;
  readonly tenant: string;
  readonly predictor: string | null;
  readonly spec: BatchSpec;
  /** The model a prompt drew when its row names none. */
  readonly model: string;
}

/** The rewards of a drawn audit in draw order: the policy's rounds, then the audit's. */
const rewardsOf = (r: Pick<AuditRow, "drawn" | "audit_rewards">): number[] => [...(JSON.parse(r.drawn ?? "[]") as number[][]).flat(), ...(JSON.parse(r.audit_rewards ?? "[]") as number[])];

/** A drawn audit as the tenant's ledger records it. */
function recordOf(b: AuditedBatch, r: AuditRow): AuditRecord {
  const rewards = rewardsOf(r);
  const samples = r.samples ?? 0;
  const prediction = r.prediction ? (JSON.parse(r.prediction) as Prediction) : null;
  return {
    model: r.model ?? b.model,
    predictor: b.predictor,
    // A batch serves its predictor as shipped (no tenant refit), so the p it stored is the shipped one.
    predicted: b.predictor === null ? null : r.p,
    curve: prediction ? curvePoints(prediction) : null,
    rewards,
    samples,
    units: r.delivered,
    reward: r.reward ?? 0,
    audit_units: rewards.length - samples,
    hidden: null,
    form: "prompt",
    source: b.id,
    ref: `${b.id}:${r.idx}`,
  };
}

/**
 * One audit step of a done batch: draws the audits of up to `limit` picked prompts, then
 * records every drawn one not yet recorded in the tenant's ledger. Returns whether audits
 * are still to draw.
 */
export async function auditStep(env: Env, items: Items, b: AuditedBatch, limit: number): Promise<boolean> {
  items.dropFailedAudits();
  const due = items.toAudit(limit);
  const size = auditSize(b.spec);
  const work = due.flatMap((d) => {
    // Samples without a reward (a file batch's prompt with tools, ranked by agreement): nothing to replay, nothing drawn.
    if ((d.samples ?? 0) > 0 && d.reward === null) {
      items.auditDrawn(d.idx, null);
      return [];
    }
    const extra = size - (d.samples ?? 0);
    if (extra <= 0) {
      items.auditDrawn(d.idx, []);
      return [];
    }
    // The seed of the round after the policy's last: what the policy would have drawn next, never one of its own seeds.
    const seed = roundSeedOf(b.spec.sampling.seed, d.idx, d.rounds);
    return [{ idx: d.idx, round: d.rounds, prompt: d.prompt, model: d.model ?? b.model, units: extra, ...(seed === undefined ? {} : { seed }), ...(d.request ? { request: d.request } : {}) }];
  });
  if (work.length > 0) {
    for (const o of await drawWork(env, b.spec.sampling, work)) {
      if (o.ok && o.reward !== null) items.auditDrawn(o.idx, o.rewards);
      else {
        items.auditDrawn(o.idx, null);
        console.error(`batch ${b.id}: the audit of prompt ${o.idx} failed, and is not recorded: ${printable(o.ok ? "no reward" : o.failure.reason)}`);
      }
    }
  }
  const drawn = items.drawnAudits();
  if (drawn.length > 0) {
    await twice(() => tenantLedger(env, b.tenant).recordAudits(drawn.map((r) => recordOf(b, r))));
    items.auditsRecorded(drawn.map((r) => r.idx));
  }
  return items.auditsDue() > 0;
}

/**
 * The batch's audited figure: its policy replayed against uniform best-of-k on its own
 * audited prompts (core/audit/earned.ts), null below MIN_AUDITS with a note saying how many.
 */
export function batchAudits(items: Items, rate: number): BatchAudits {
  const rows = items.audits();
  const audits = rows.map((r) => ({ rewards: rewardsOf(r), units: r.delivered, reward: r.reward ?? 0 }));
  const units = audits.reduce((s, a, i) => s + a.rewards.length - (rows[i].samples ?? 0), 0);
  const picked = items.auditsPicked();
  const due = items.auditsDue();
  const enough = audits.length >= MIN_AUDITS;
  const note = enough
    ? null
    : `too few audits to tell: ${audits.length} of ${MIN_AUDITS}` + (due > 0 ? ` (${due} more picked, drawn once the batch is done)` : " (raise the tenant's audit_rate, or audit a larger batch)");
  const a = enough ? auditedEarned(audits) : null;
  const audited = a ? { ...a, gain_ci95: [...a.gain_ci95], saved_ci95: a.saved_ci95 ? [...a.saved_ci95] : null } : null;
  return { rate, picked, prompts: audits.length, needed: MIN_AUDITS, units, note, audited };
}

/**
 * batchAudits, computed again only when the batch's audits or picks change: a bootstrap
 * over 2,000 audits takes about half a second, and a client polls a batch's status
 * several times a second. Kept in the object's memory (an evicted object computes it once more).
 */
export class BatchAuditsMemo {
  private memo: { key: string; value: BatchAudits } | null = null;

  of(items: Items, rate: number): BatchAudits {
    const key = `${rate}:${items.auditsPicked()}:${items.auditsDue()}:${items.auditsDrawn()}`;
    if (this.memo?.key !== key) this.memo = { key, value: batchAudits(items, rate) };
    return this.memo.value;
  }
}
