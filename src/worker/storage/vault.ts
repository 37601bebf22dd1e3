/**
 * One stored object of a tenant's, in a Durable Object of its own (SQLite storage), named
 * by the object's id: a stored response (resp_…), an uploaded file (file-…), the OpenAI
 * shape of a batch (batch:b_…). One object per id, so nothing is a hot spot, and a lookup
 * by id is one call. It keeps its owner (another tenant asking sees nothing), a small JSON
 * `meta`, and a body of any size in chunks (SQLite values are limited to 2 MB), and
 * deletes itself when it expires (an alarm).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.js";
import { type Migration, migrate, tableExists } from "./migrations.js";

/** Characters per chunk: at most 1.5 MB of UTF-8, within SQLite's value limit. */
const CHUNK = 512 * 1024;

const MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(`
      CREATE TABLE IF NOT EXISTS obj (k INTEGER PRIMARY KEY CHECK (k = 0), tenant TEXT NOT NULL, meta TEXT NOT NULL, chars INTEGER NOT NULL,
        chunks INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER);
      CREATE TABLE IF NOT EXISTS chunk (i INTEGER PRIMARY KEY, data TEXT NOT NULL);`),
];

type Row = { tenant: string; meta: string; chars: number; chunks: number; created_at: number; expires_at: number | null };

export interface VaultEntry {
  /** The meta, as JSON text. */
  readonly meta: string;
  readonly chars: number;
  readonly chunks: number;
  readonly createdAt: number;
  readonly expiresAt: number | null;
}

export class Vault extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  private row(): Row | null {
    if (!tableExists(this.sql, "obj")) return null;
    const r = this.sql.exec<Row>("SELECT tenant, meta, chars, chunks, created_at, expires_at FROM obj").toArray()[0] ?? null;
    if (r && r.expires_at !== null && r.expires_at <= Date.now()) return null;
    return r;
  }

  /** Stores the object for `tenant` (replacing what was there), expiring at `expiresAt` (epoch ms; null: never). */
  async put(tenant: string, meta: unknown, body: string, expiresAt: number | null): Promise<void> {
    migrate(this.sql, MIGRATIONS);
    this.sql.exec("DELETE FROM chunk");
    const chunks = Math.ceil(body.length / CHUNK);
    for (let i = 0; i < chunks; i++) this.sql.exec("INSERT INTO chunk (i, data) VALUES (?, ?)", i, body.slice(i * CHUNK, (i + 1) * CHUNK));
    this.sql.exec(
      "INSERT INTO obj (k, tenant, meta, chars, chunks, created_at, expires_at) VALUES (0, ?, ?, ?, ?, ?, ?) ON CONFLICT(k) DO UPDATE SET tenant = excluded.tenant, meta = excluded.meta, chars = excluded.chars, chunks = excluded.chunks, created_at = excluded.created_at, expires_at = excluded.expires_at",
      tenant,
      JSON.stringify(meta),
      body.length,
      chunks,
      Date.now(),
      expiresAt,
    );
    if (expiresAt !== null) await this.ctx.storage.setAlarm(expiresAt);
  }

  /** The object's meta (JSON text) and size, if `tenant` owns it and it has not expired. */
  async entry(tenant: string): Promise<VaultEntry | null> {
    const r = this.row();
    if (!r || r.tenant !== tenant) return null;
    return { meta: r.meta, chars: r.chars, chunks: r.chunks, createdAt: r.created_at, expiresAt: r.expires_at };
  }

  /** Replaces the meta (the body stays); false when there is nothing of `tenant`'s here. */
  async setMeta(tenant: string, meta: unknown): Promise<boolean> {
    const r = this.row();
    if (!r || r.tenant !== tenant) return false;
    this.sql.exec("UPDATE obj SET meta = ?", JSON.stringify(meta));
    return true;
  }

  /** Chunk `i` of the body (read them in order for the whole); null when not `tenant`'s. */
  async chunk(tenant: string, i: number): Promise<string | null> {
    const r = this.row();
    if (!r || r.tenant !== tenant) return null;
    return this.sql.exec<{ data: string }>("SELECT data FROM chunk WHERE i = ?", i).toArray()[0]?.data ?? "";
  }

  /** The meta (JSON text) and the whole body, in one call (for bodies that fit one RPC answer: stored responses). */
  async read(tenant: string): Promise<{ meta: string; body: string } | null> {
    const r = this.row();
    if (!r || r.tenant !== tenant) return null;
    const body = this.sql.exec<{ data: string }>("SELECT data FROM chunk ORDER BY i").toArray().map((c) => c.data).join("");
    return { meta: r.meta, body };
  }

  /** Deletes the object; false when there was nothing of `tenant`'s. */
  async remove(tenant: string): Promise<boolean> {
    const r = this.row();
    if (!r || r.tenant !== tenant) return false;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    return true;
  }

  override async alarm(): Promise<void> {
    if (!tableExists(this.sql, "obj")) return;
    const r = this.sql.exec<Row>("SELECT expires_at FROM obj").toArray()[0];
    if (!r || (r.expires_at !== null && r.expires_at <= Date.now())) await this.ctx.storage.deleteAll();
    else if (r.expires_at !== null) await this.ctx.storage.setAlarm(r.expires_at);
  }
}

/** The vault object of id `id`. */
export const vault = (env: Env, id: string) => env.VAULT.get(env.VAULT.idFromName(id));
