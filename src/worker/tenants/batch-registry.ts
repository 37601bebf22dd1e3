/**
 * The batches a tenant runs now, each holding a slot (max_concurrent_batches) by a lease
 * its BatchRun renews while it runs, so a batch that dies without ending cannot hold its
 * slot for ever.
 */
export class BatchRegistry {
  constructor(private readonly sql: SqlStorage) {}

  /** Registers a running batch if the tenant has room for one more (idempotent); false otherwise. */
  start(id: string, max: number, now: number, leaseMs: number): boolean {
    if (this.sql.exec("SELECT id FROM active_batch WHERE id = ? AND expires_at > ?", id, now).toArray().length > 0) return true;
    const active = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM active_batch WHERE expires_at > ?", now).one().n;
    if (active >= max) return false;
    this.sql.exec("INSERT OR REPLACE INTO active_batch (id, started_at, expires_at) VALUES (?, ?, ?)", id, now, now + leaseMs);
    return true;
  }

  renew(id: string, now: number, leaseMs: number): boolean {
    return this.sql.exec("UPDATE active_batch SET expires_at = ? WHERE id = ? AND expires_at > ?", now + leaseMs, id, now).rowsWritten > 0;
  }

  end(id: string): void {
    this.sql.exec("DELETE FROM active_batch WHERE id = ?", id);
  }

  expire(now: number): number {
    return this.sql.exec("DELETE FROM active_batch WHERE expires_at <= ?", now).rowsWritten;
  }

  nextExpiry(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM active_batch").one().t;
  }
}

/** A batch as the tenant's list shows it: what it was submitted as, and once it has ended, its final status. */
export type LoggedBatch = {
  id: string;
  created_at: number;
  prompts: number;
  mode: string;
  model: string | null;
  status: string;
  ended_at: number | null;
  /** The final status and what the batch earned (JSON), once ended. */
  summary: string | null;
};

/**
 * Every batch the tenant submitted, newest first, for GET /v1/batches and the console.
 * A row is written when the batch is accepted and completed when it settles; rows go
 * when the batch's own data does (BATCH_RETENTION_SECONDS after it ends).
 */
export class BatchLog {
  constructor(private readonly sql: SqlStorage) {}

  add(b: { id: string; prompts: number; mode: string; model: string | null }, now: number): void {
    this.sql.exec("INSERT OR IGNORE INTO batch_log (id, created_at, prompts, mode, model, status) VALUES (?, ?, ?, ?, ?, 'queued')", b.id, now, b.prompts, b.mode, b.model);
  }

  /** The batch ended (idempotent: the first ending is kept). */
  /** Whether the batch ended now (false: it had ended before, a settlement repeated). */
  end(id: string, status: string, summary: string, now: number): boolean {
    return this.sql.exec("UPDATE batch_log SET status = ?, ended_at = ?, summary = ? WHERE id = ? AND ended_at IS NULL", status, now, summary, id).rowsWritten > 0;
  }

  /** The model a batch was submitted for (null for a routed one, or one not listed). */
  model(id: string): string | null {
    return this.sql.exec<{ model: string | null }>("SELECT model FROM batch_log WHERE id = ?", id).toArray()[0]?.model ?? null;
  }

  /** A submission that never started (refused after its row was written). */
  drop(id: string): void {
    this.sql.exec("DELETE FROM batch_log WHERE id = ?", id);
  }

  /** Up to `limit` batches older than `after` (a batch id; the newest when null), and whether more follow; null if `after` is not in the list. */
  page(limit: number, after: string | null, now: number, retentionMs: number): { rows: LoggedBatch[]; more: boolean } | null {
    this.sql.exec("DELETE FROM batch_log WHERE ended_at IS NOT NULL AND ended_at < ?", now - retentionMs);
    const cursor = after === null ? null : this.sql.exec<{ created_at: number }>("SELECT created_at FROM batch_log WHERE id = ?", after).toArray()[0];
    if (after !== null && !cursor) return null;
    const rows = cursor
      ? this.sql.exec<LoggedBatch>("SELECT * FROM batch_log WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?", cursor.created_at, after, limit + 1).toArray()
      : this.sql.exec<LoggedBatch>("SELECT * FROM batch_log ORDER BY created_at DESC, id DESC LIMIT ?", limit + 1).toArray();
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }
}
