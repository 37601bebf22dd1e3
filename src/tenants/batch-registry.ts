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
