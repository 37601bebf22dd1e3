/**
 * A tenant's audited prompts (docs/audits.md), newest kept: per prompt, what the policy was
 * told (the predictor's p and curve), what it did (its samples, units and answer's
 * reward), and every sample's reward in draw order, so allot's policy and uniform
 * best-of-k can be replayed on them (core/audit/earned.ts). Storage only: the Durable
 * Object (ledger.ts) serialises the calls.
 */
import { type BinSums, type Labelled, binSums } from "../../core/audit/calibration.js";
import type { Audit } from "../../core/audit/earned.js";
import { type EarnedReport, earnedReport } from "../../core/audit/report.js";
import type { Earned } from "../../core/metrics/earned.js";
import { units } from "./budget.js";

import { AUDIT_RETENTION } from "../../core/audit/earned.js";

export { AUDIT_RETENTION };

/** One audited prompt as serving reports it. */
export interface AuditRecord {
  /** The model sampled (an audit is of one model: routed requests are not audited). */
  readonly model: string;
  /** The predictor that decided the spend, its single-sample success and its curve (expected best of 1..CURVE_UNITS); null when not predicted. */
  readonly predictor: string | null;
  readonly predicted: number | null;
  readonly curve: readonly number[] | null;
  /** Every sample's reward in draw order: the policy's first, then the audit's. */
  readonly rewards: readonly number[];
  /** What the policy drew and charged (samples, and units at the model's cost), and the reward of the answer it gave. */
  readonly samples: number;
  readonly units: number;
  readonly reward: number;
  /** Units the audit drew beyond the policy's: the cost of proof. */
  readonly audit_units: number;
  /**
   * The prompt's hidden state the prediction was made from, and the form it was read in (a
   * bare prompt, or a conversation under the chat template), so audited prompts make a
   * dataset `allot train` reads (`allot audits export`); null for audits recorded before.
   * Kept as float32, as read (4 bytes a value: 16 KB for a width of 4,096).
   */
  readonly hidden?: readonly number[] | null;
  readonly form?: "prompt" | "chat";
  /**
   * The id of the response the answer went out in (made before serving), so a client's
   * feedback on it is joined to this audit (feedback.ts); null for audits recorded before.
   * A completions request of several prompts gives one id to all of them.
   */
  readonly response_id?: string | null;
  /** Where the prompt came from: null or absent, an online request; else the id of the batch it was a prompt of. */
  readonly source?: string | null;
  /** A batch's audit's key (its id and the prompt's index): recorded once, however often a resumed batch records it. */
  readonly ref?: string | null;
}

/** An audited prompt as stored, with when. */
export type StoredAudit = AuditRecord & { readonly at: number };

/** An audited prompt as exported (GET /admin/tenants/{id}/audits): with its id (its order) and hidden state. */
export type ExportedAudit = StoredAudit & { readonly id: number; readonly hidden: readonly number[] | null; readonly form: "prompt" | "chat" };

export class Audits {
  constructor(private readonly sql: SqlStorage) {}

  /** Records audited prompts, but none whose `ref` is already recorded, then forgets all but the last AUDIT_RETENTION; returns those recorded. */
  add(rows: readonly AuditRecord[], now: number): AuditRecord[] {
    const added: AuditRecord[] = [];
    for (const a of rows) {
      if (a.ref && this.sql.exec("SELECT 1 FROM audit WHERE ref = ?", a.ref).toArray().length > 0) continue;
      added.push(a);
      this.sql.exec(
        "INSERT INTO audit (at, model, predictor, predicted, curve, rewards, samples, units, reward, audit_units, hidden, form, response_id, source, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        now,
        a.model,
        a.predictor,
        a.predicted,
        a.curve ? JSON.stringify(a.curve) : null,
        JSON.stringify(a.rewards),
        a.samples,
        a.units,
        a.reward,
        a.audit_units,
        a.hidden ? new Float32Array(a.hidden).buffer : null,
        a.form ?? "prompt",
        a.response_id ?? null,
        a.source ?? null,
        a.ref ?? null,
      );
    }
    this.sql.exec("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", AUDIT_RETENTION);
    return added;
  }

  /** Audited prompts recorded in [from, to), oldest first. */
  list(from = 0, to = Number.MAX_SAFE_INTEGER): StoredAudit[] {
    type Row = { at: number; model: string; predictor: string | null; predicted: number | null; curve: string | null; rewards: string; samples: number; units: number; reward: number; audit_units: number; response_id: string | null; source: string | null };
    return this.sql
      .exec<Row>("SELECT at, model, predictor, predicted, curve, rewards, samples, units, reward, audit_units, response_id, source FROM audit WHERE at >= ? AND at < ? ORDER BY id", from, to)
      .toArray()
      .map((r) => ({ ...r, curve: r.curve ? (JSON.parse(r.curve) as number[]) : null, rewards: JSON.parse(r.rewards) as number[] }));
  }

  /** Up to `limit` audited prompts after the one with id `after`, oldest first, with their hidden states; and whether more follow. */
  page(after: number, limit: number): { rows: ExportedAudit[]; more: boolean } {
    type Row = { id: number; at: number; model: string; predictor: string | null; predicted: number | null; curve: string | null; rewards: string; samples: number; units: number; reward: number; audit_units: number; hidden: ArrayBuffer | null; form: string | null };
    const rows = this.sql
      .exec<Row>("SELECT id, at, model, predictor, predicted, curve, rewards, samples, units, reward, audit_units, hidden, form FROM audit WHERE id > ? ORDER BY id LIMIT ?", after, limit + 1)
      .toArray()
      .map((r) => ({
        ...r,
        curve: r.curve ? (JSON.parse(r.curve) as number[]) : null,
        rewards: JSON.parse(r.rewards) as number[],
        hidden: r.hidden ? Array.from(new Float32Array(r.hidden)) : null,
        form: r.form === "chat" ? ("chat" as const) : ("prompt" as const),
      }));
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }
}

/**
 * An audited prompt as a label for its predictor (core/audit/calibration.ts): the p it was
 * served with against its pass rate over every sample drawn (rewards summed: for pass/fail
 * rewards, the passes). Null when nothing predicted it.
 */
export const labelledOf = (a: AuditRecord): (Labelled & { predictor: string }) | null =>
  a.predictor === null || a.predicted === null || a.rewards.length === 0
    ? null
    : { predictor: a.predictor, p: a.predicted, successes: a.rewards.reduce((s, r) => s + Math.min(1, Math.max(0, r)), 0), samples: a.rewards.length };

/** Per predictor, the reliability bins' sums over these audits. */
export function auditedBins(audits: readonly AuditRecord[]): Record<string, BinSums[]> {
  const by = new Map<string, Labelled[]>();
  for (const a of audits) {
    const l = labelledOf(a);
    if (l) by.set(l.predictor, [...(by.get(l.predictor) ?? []), l]);
  }
  return Object.fromEntries([...by].map(([p, data]) => [p, binSums(data)]));
}

/** What core/audit/earned.ts replays of a stored audit. */
export const auditOf = (a: AuditRecord): Audit => ({ rewards: a.rewards, units: a.units, reward: a.reward });

/** The report of what allot earned from stored audits (the cost of proof: their audit units) and a prediction. */
export const reportOf = (audits: readonly StoredAudit[], predicted: Earned | null): EarnedReport =>
  earnedReport(audits.map(auditOf), units(audits.reduce((s, a) => s + a.audit_units, 0)), predicted);
