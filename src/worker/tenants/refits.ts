/**
 * Calibration that learns from a tenant's traffic (docs/audits.md#calibration-that-learns):
 * per predictor, its temperature and the waves prior's strength refitted on the tenant's
 * audited prompts (core/audit/calibration.ts refit), when core/audit/recalibration.ts says
 * one is due. Kept in the ledger's SQLite (table `refit`): the latest is applied, the
 * REFIT_HISTORY before it are the record. Storage only: the Durable Object (ledger.ts)
 * serialises the calls, and decides whether the tenant applies them.
 */
import { type Labelled, refit } from "../../core/audit/calibration.js";
import { type Applied, REFIT_HISTORY, REFIT_WINDOW, drifted, dueForRefit } from "../../core/audit/recalibration.js";
import type { CalibrationStatus } from "../../core/contracts/tenants.js";

type RefitRow = { id: number; predictor: string; at: number; audits: number; last_audit: number; temperature: number; strength: number; ece_before: number; ece_after: number };

/** An audit row as a label: its predicted p against its pass rate over every sample (as audits.ts labelledOf). */
function labelOf(r: { predicted: number; rewards: string }): Labelled | null {
  const rewards = JSON.parse(r.rewards) as number[];
  if (rewards.length === 0) return null;
  return { p: r.predicted, successes: rewards.reduce((s, x) => s + Math.min(1, Math.max(0, x)), 0), samples: rewards.length };
}

export class Refits {
  constructor(private readonly sql: SqlStorage) {}

  private latest(predictor: string): RefitRow | null {
    return this.sql.exec<RefitRow>("SELECT * FROM refit WHERE predictor = ? ORDER BY id DESC LIMIT 1", predictor).toArray()[0] ?? null;
  }

  /**
   * After audits of these predictors were recorded: refits each that is due (its first
   * MIN_AUDITS, then every REFIT_EVERY new audits), on its latest REFIT_WINDOW audits.
   * Two counts per predictor when none is due, so recording audits stays cheap.
   */
  update(predictors: Iterable<string>, now: number): void {
    for (const predictor of new Set(predictors)) {
      const last = this.latest(predictor);
      const count = (after: number) => this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit WHERE predictor = ? AND predicted IS NOT NULL AND id > ?", predictor, after).one().n;
      const total = count(0);
      if (!dueForRefit(total, last ? count(last.last_audit) : null)) continue;
      const rows = this.sql
        .exec<{ id: number; predicted: number; rewards: string }>("SELECT id, predicted, rewards FROM audit WHERE predictor = ? AND predicted IS NOT NULL ORDER BY id DESC LIMIT ?", predictor, REFIT_WINDOW)
        .toArray();
      const data = rows.map(labelOf).filter((d): d is Labelled => d !== null);
      if (data.length === 0) continue;
      const r = refit(data);
      this.sql.exec(
        "INSERT INTO refit (predictor, at, audits, last_audit, temperature, strength, ece_before, ece_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        predictor,
        now,
        r.prompts,
        rows[0].id,
        r.temperature,
        r.strength,
        r.ece_before,
        r.ece_after,
      );
      // The record is bounded: the latest REFIT_HISTORY refits of each predictor.
      this.sql.exec("DELETE FROM refit WHERE predictor = ? AND id NOT IN (SELECT id FROM refit WHERE predictor = ? ORDER BY id DESC LIMIT ?)", predictor, predictor, REFIT_HISTORY);
    }
  }

  /** The latest refit of every predictor. */
  private all(): RefitRow[] {
    return this.sql.exec<RefitRow>("SELECT * FROM refit WHERE id IN (SELECT MAX(id) FROM refit GROUP BY predictor) ORDER BY predictor").toArray();
  }

  /** What serving applies, per predictor name: the latest refit's temperature and strength. */
  applied(): Record<string, Applied> {
    return Object.fromEntries(this.all().map((r) => [r.predictor, { temperature: r.temperature, strength: r.strength }]));
  }

  /** Per predictor refitted, its calibration now: the ECE of what is served (`applied`: the refit; else as shipped) on the audits its latest refit used, and whether that has drifted. */
  status(applied: boolean): CalibrationStatus[] {
    const shown = (r: RefitRow) => ({ temperature: r.temperature, strength: r.strength, audits: r.audits, ece_before: r.ece_before, ece_after: r.ece_after, at: new Date(r.at).toISOString() });
    return this.all().map((r) => {
      const ece = applied ? r.ece_after : r.ece_before;
      return { predictor: r.predictor, ece, drifted: drifted(ece), applied, refit: shown(r), history: this.history(r.predictor).slice(1).map(shown) };
    });
  }

  /** A predictor's refits, newest first (the latest is applied). */
  history(predictor: string): RefitRow[] {
    return this.sql.exec<RefitRow>("SELECT * FROM refit WHERE predictor = ? ORDER BY id DESC", predictor).toArray();
  }
}

