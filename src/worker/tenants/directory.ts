import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.js";
import { type Migration, migrate } from "../storage/migrations.js";

const MIGRATIONS: readonly Migration[] = [
  (sql) => sql.exec("CREATE TABLE tenant (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL)"),
];

/**
 * The list of tenants, for the console and /metrics: each tenant's ledger is its own
 * object, found by id, and Durable Objects cannot be enumerated. One instance ("all")
 * holds a row per tenant, written when the tenant is created (tenants made before the
 * directory existed join it when GET /admin/tenants/{id} first reads them). It is read
 * only by admin routes, so one object is not a bottleneck for traffic.
 */
export class TenantDirectory extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, MIGRATIONS);
  }

  /** Lists a tenant (idempotent). */
  add(id: string, name: string, createdAt: number): void {
    this.sql.exec("INSERT INTO tenant VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name", id, name, createdAt);
  }

  /** Up to `limit` tenant ids in creation order after `after` (the first when null), and whether more follow. */
  page(limit: number, after: string | null): { ids: string[]; more: boolean } {
    const cursor = after === null ? null : this.sql.exec<{ created_at: number }>("SELECT created_at FROM tenant WHERE id = ?", after).toArray()[0];
    const rows = cursor
      ? this.sql.exec<{ id: string }>("SELECT id FROM tenant WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?", cursor.created_at, after, limit + 1).toArray()
      : this.sql.exec<{ id: string }>("SELECT id FROM tenant ORDER BY created_at, id LIMIT ?", limit + 1).toArray();
    return { ids: rows.slice(0, limit).map((r) => r.id), more: rows.length > limit };
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM tenant").one().n;
  }
}

/** The one directory object. */
export const tenantDirectory = (env: Env) => env.TENANT_DIRECTORY.get(env.TENANT_DIRECTORY.idFromName("all"));
