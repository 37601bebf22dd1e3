/**
 * A tenant's feedback on the answers it got (POST /v1/feedback, docs/audits.md#feedback):
 * one row per response, the latest feedback replacing the earlier (counted once), the
 * last FEEDBACK_RETENTION kept. Storage only: the Durable Object (ledger.ts) serialises
 * the calls, and the route has checked that the id was given to this tenant.
 */
import type { FeedbackSummary } from "../../core/contracts/feedback.js";
import { agreementOf, passRate } from "../../core/feedback/agreement.js";

/** Responses with feedback kept: the last ones (about: a replaced row leaves a gap). With a 1 KiB comment each, at most ~50 MB. */
export const FEEDBACK_RETENTION = 50_000;

export interface FeedbackRow {
  readonly response_id: string;
  readonly reward: number;
  readonly comment: string | null;
}

export class FeedbackStore {
  constructor(private readonly sql: SqlStorage) {}

  /**
   * Records feedback on a response, replacing any earlier on the same one (it moves to the
   * newest, so retention keeps what was said last); whether it replaced some.
   */
  put(f: FeedbackRow, now: number): { replaced: boolean } {
    const replaced = this.sql.exec("SELECT 1 FROM feedback WHERE response_id = ?", f.response_id).toArray().length > 0;
    if (replaced) this.sql.exec("DELETE FROM feedback WHERE response_id = ?", f.response_id);
    this.sql.exec("INSERT INTO feedback (response_id, reward, comment, at) VALUES (?, ?, ?, ?)", f.response_id, f.reward, f.comment, now);
    this.sql.exec("DELETE FROM feedback WHERE seq <= (SELECT MAX(seq) FROM feedback) - ?", FEEDBACK_RETENTION);
    return { replaced };
  }

  /**
   * How many responses have feedback and their mean reward; and on the audited prompts among
   * them (joined by response id, whichever came first, the feedback or the audit), how the
   * clients' rewards agree with the verifier's of the same answers.
   */
  summary(): FeedbackSummary {
    const r = this.sql.exec<{ n: number; mean: number | null }>("SELECT COUNT(*) AS n, AVG(reward) AS mean FROM feedback").one();
    // Driven from the audits (at most AUDIT_RETENTION, each one lookup in feedback's unique
    // index), never from the feedback (up to FEEDBACK_RETENTION): SQLite's CROSS JOIN keeps
    // that order. The console reads this for every tenant it lists.
    const rated = this.sql
      .exec<{ feedback: number; reward: number; rewards: string }>(
        "SELECT f.reward AS feedback, a.reward AS reward, a.rewards AS rewards FROM audit a CROSS JOIN feedback f ON f.response_id = a.response_id WHERE a.response_id IS NOT NULL",
      )
      .toArray()
      .map((x) => ({ feedback: x.feedback, reward: x.reward, passRate: passRate(JSON.parse(x.rewards) as number[]) }));
    return { count: r.n, mean_reward: r.mean, audited: agreementOf(rated) };
  }
}
