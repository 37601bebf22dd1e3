import { DurableObject } from "cloudflare:workers";
import { type PriceState, currentPrice, defaultPriceConfig, initialPriceState, observeSpend } from "../allocation/price.js";
import type { Budget, CreateTenant, Online, Tenant, Usage } from "../contracts/tenants.js";
import type { Env } from "../env.js";
import { randomHex as hex } from "./lookup.js";
import { WINDOWS, type Window, windowBounds } from "./windows.js";

export type ReserveResult =
  | { ok: true; id: string }
  | { ok: false; window: Window; limit: number; used: number; reserved: number; requested: number; resetsAt: number };

/** A reservation of between `atLeast` and `atMost` units: as many as every window has room for. */
export type ReserveUpToResult = { ok: true; id: string; units: number } | Extract<ReserveResult, { ok: false }>;


async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/**
 * One tenant's ledger: its settings, API keys (only hashes are stored) and compute
 * budget. Units are reserved before any sampling, committed as samples complete and
 * released when a batch ends under budget, fails or is cancelled. A reservation counts
 * against every window until it is committed or released.
 *
 * A Durable Object runs one call at a time, and these methods do not await between
 * reading and writing the ledger, so concurrent reservations can never overspend.
 */
export class TenantLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS tenant (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL,
        max_batch_size INTEGER NOT NULL, max_concurrent_batches INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS budget (window TEXT PRIMARY KEY, units INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS usage (window TEXT PRIMARY KEY, start INTEGER NOT NULL, used INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS reservation (id TEXT PRIMARY KEY, units INTEGER NOT NULL, committed INTEGER NOT NULL,
        created_at INTEGER NOT NULL, ref TEXT);
      CREATE TABLE IF NOT EXISTS api_key (id TEXT PRIMARY KEY, hash BLOB NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
      CREATE TABLE IF NOT EXISTS online (k INTEGER PRIMARY KEY CHECK (k = 0), target REAL NOT NULL, min INTEGER NOT NULL,
        max INTEGER NOT NULL, state TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS active_batch (id TEXT PRIMARY KEY, started_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS charge (reservation TEXT NOT NULL, key TEXT NOT NULL, units INTEGER NOT NULL, PRIMARY KEY (reservation, key));
    `);
  }

  /** Creates the tenant (once; a second call is refused so an id is never reused). */
  create(id: string, spec: CreateTenant): Tenant | null {
    if (this.sql.exec("SELECT id FROM tenant").toArray().length > 0) return null;
    this.sql.exec(
      "INSERT INTO tenant VALUES (?, ?, ?, ?, ?)",
      id,
      spec.name,
      Date.now(),
      spec.limits.max_batch_size,
      spec.limits.max_concurrent_batches,
    );
    this.writeBudget(spec.budget);
    return this.view();
  }

  /** Limits a batch must respect (null if the tenant does not exist). */
  batchLimits(): { maxBatchSize: number; maxConcurrentBatches: number } | null {
    const t = this.sql.exec<{ max_batch_size: number; max_concurrent_batches: number }>("SELECT max_batch_size, max_concurrent_batches FROM tenant").toArray()[0];
    return t ? { maxBatchSize: t.max_batch_size, maxConcurrentBatches: t.max_concurrent_batches } : null;
  }

  /** Online settings: target units per request (B), the bounds, and the controller's state. */
  private onlineRow(): { target: number; min: number; max: number; state: PriceState } {
    const r = this.sql.exec<{ target: number; min: number; max: number; state: string }>("SELECT target, min, max, state FROM online").toArray()[0];
    if (r) return { target: r.target, min: r.min, max: r.max, state: JSON.parse(r.state) as PriceState };
    const fresh = { target: 4, min: 1, max: 16 };
    return { ...fresh, state: initialPriceState(defaultPriceConfig(fresh.target)) };
  }

  setOnline(o: Online): Online | null {
    if (!this.view()) return null;
    const state = initialPriceState(defaultPriceConfig(o.target_units));
    this.sql.exec(
      "INSERT INTO online VALUES (0, ?, ?, ?, ?) ON CONFLICT(k) DO UPDATE SET target = excluded.target, min = excluded.min, max = excluded.max, state = excluded.state",
      o.target_units,
      o.min_units,
      o.max_units,
      JSON.stringify(state),
    );
    return this.online();
  }

  /** The price a unit of compute costs this tenant now, and its online settings. */
  online(): Online & { price: number; requests: number; mean_units: number } {
    const r = this.onlineRow();
    return { target_units: r.target, min_units: r.min, max_units: r.max, price: currentPrice(r.state), requests: r.state.requests, mean_units: r.state.meanUnits };
  }

  /** Requests spent `units` (one entry each): move the price so that the average spend tracks the target. */
  observe(units: number | readonly number[]): number {
    const r = this.onlineRow();
    const config = defaultPriceConfig(r.target);
    const state = [units].flat().reduce((s, u) => observeSpend(s, u, config), r.state);
    this.sql.exec(
      "INSERT INTO online VALUES (0, ?, ?, ?, ?) ON CONFLICT(k) DO UPDATE SET state = excluded.state",
      r.target,
      r.min,
      r.max,
      JSON.stringify(state),
    );
    return currentPrice(state);
  }

  /** Registers a running batch if the tenant has room for one more; false otherwise. */
  startBatch(id: string, now = Date.now()): boolean {
    const limits = this.batchLimits();
    if (!limits) return false;
    const active = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM active_batch").one().n;
    if (active >= limits.maxConcurrentBatches) return false;
    this.sql.exec("INSERT OR IGNORE INTO active_batch VALUES (?, ?)", id, now);
    return true;
  }

  endBatch(id: string): void {
    this.sql.exec("DELETE FROM active_batch WHERE id = ?", id);
  }

  view(): Tenant | null {
    const t = this.sql.exec<{ id: string; name: string; created_at: number; max_batch_size: number; max_concurrent_batches: number }>("SELECT * FROM tenant").toArray()[0];
    if (!t) return null;
    const budget = { hour: null, day: null, month: null } as Tenant["budget"];
    for (const b of this.sql.exec<{ window: Window; units: number }>("SELECT * FROM budget")) budget[b.window] = b.units;
    const keys = this.sql
      .exec<{ id: string; created_at: number; revoked_at: number | null }>("SELECT id, created_at, revoked_at FROM api_key ORDER BY created_at, id")
      .toArray()
      .map((k) => ({ id: k.id, created_at: new Date(k.created_at).toISOString(), revoked_at: k.revoked_at === null ? null : new Date(k.revoked_at).toISOString() }));
    return {
      id: t.id,
      name: t.name,
      created_at: new Date(t.created_at).toISOString(),
      budget,
      limits: { max_batch_size: t.max_batch_size, max_concurrent_batches: t.max_concurrent_batches },
      keys,
    };
  }

  setBudget(budget: Budget): Tenant | null {
    if (!this.view()) return null;
    this.writeBudget(budget);
    return this.view();
  }

  private writeBudget(budget: Budget): void {
    for (const w of WINDOWS) {
      const units = budget[w];
      if (units === undefined) continue; // absent: unchanged
      if (units === null) this.sql.exec("DELETE FROM budget WHERE window = ?", w);
      else this.sql.exec("INSERT INTO budget VALUES (?, ?) ON CONFLICT(window) DO UPDATE SET units = excluded.units", w, units);
    }
  }

  /** A new API key; its secret is returned once and only its hash is kept. */
  async addKey(tenantId: string): Promise<{ id: string; key: string } | null> {
    if (!this.view()) return null;
    const id = hex(4);
    const secret = hex(24);
    const hash = await sha256(secret);
    this.sql.exec("INSERT INTO api_key VALUES (?, ?, ?, NULL)", id, hash, Date.now());
    return { id, key: `ak_${tenantId}_${id}_${secret}` };
  }

  revokeKey(id: string): boolean {
    const r = this.sql.exec("UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", Date.now(), id);
    return r.rowsWritten > 0;
  }

  /** Whether `secret` is the live key `id`, compared in constant time. */
  async authenticate(id: string, secret: string): Promise<boolean> {
    const row = this.sql.exec<{ hash: ArrayBuffer }>("SELECT hash FROM api_key WHERE id = ? AND revoked_at IS NULL", id).toArray()[0];
    const given = await sha256(secret);
    // Compare even when the key is unknown, so timing does not reveal which ids exist.
    const stored = row?.hash ?? new ArrayBuffer(32);
    return crypto.subtle.timingSafeEqual(given, stored) && row !== undefined;
  }

  /** Units committed in the current period of each window (rolling the period over as needed). */
  private used(now: number): Record<Window, number> {
    const out = {} as Record<Window, number>;
    for (const w of WINDOWS) {
      const { start } = windowBounds(w, now);
      const row = this.sql.exec<{ start: number; used: number }>("SELECT start, used FROM usage WHERE window = ?", w).toArray()[0];
      out[w] = row && row.start === start ? row.used : 0;
    }
    return out;
  }

  private reservedTotal(): number {
    return this.sql.exec<{ r: number }>("SELECT COALESCE(SUM(units - committed), 0) AS r FROM reservation").one().r;
  }

  private limits(): Partial<Record<Window, number>> {
    const out: Partial<Record<Window, number>> = {};
    for (const b of this.sql.exec<{ window: Window; units: number }>("SELECT * FROM budget")) out[b.window] = b.units;
    return out;
  }

  /**
   * Reserves `units` if every window has room for them; names the first window that has
   * not. Idempotent per `ref`: while a reservation with that ref is open, reserving again
   * returns it (a retried step must not hold the budget twice).
   */
  reserve(units: number, ref: string | null = null, now = Date.now()): ReserveResult {
    if (!Number.isSafeInteger(units) || units <= 0) throw new RangeError(`units must be a positive integer, got ${units}`);
    if (ref !== null) {
      const open = this.sql.exec<{ id: string }>("SELECT id FROM reservation WHERE ref = ?", ref).toArray()[0];
      if (open) return { ok: true, id: open.id };
    }
    const used = this.used(now);
    const reserved = this.reservedTotal();
    const limits = this.limits();
    for (const w of WINDOWS) {
      const limit = limits[w];
      if (limit !== undefined && used[w] + reserved + units > limit) return { ok: false, window: w, limit, used: used[w], reserved, requested: units, resetsAt: windowBounds(w, now).end };
    }
    const id = hex(8);
    this.sql.exec("INSERT INTO reservation VALUES (?, ?, 0, ?, ?)", id, units, now, ref);
    return { ok: true, id };
  }

  /**
   * Reserves as many units as every window has room for, up to `atMost`, if that is at
   * least `atLeast`; otherwise names the window with the least room. An online request
   * that planned more samples than the budget has left is served with fewer rather than
   * refused.
   */
  reserveUpTo(atMost: number, atLeast: number, now = Date.now()): ReserveUpToResult {
    if (!Number.isSafeInteger(atLeast) || atLeast <= 0 || !Number.isSafeInteger(atMost) || atMost < atLeast) {
      throw new RangeError(`need 0 < atLeast <= atMost, got ${atLeast} and ${atMost}`);
    }
    const used = this.used(now);
    const reserved = this.reservedTotal();
    const limits = this.limits();
    let units = atMost;
    let binding: Window | null = null;
    for (const w of WINDOWS) {
      const limit = limits[w];
      if (limit === undefined) continue;
      const room = Math.max(0, limit - used[w] - reserved);
      if (room < units) {
        units = room;
        binding = w;
      }
    }
    if (units < atLeast) {
      const w = binding!;
      return { ok: false, window: w, limit: limits[w]!, used: used[w], reserved, requested: atLeast, resetsAt: windowBounds(w, now).end };
    }
    const id = hex(8);
    this.sql.exec("INSERT INTO reservation VALUES (?, ?, 0, ?, NULL)", id, units, now);
    return { ok: true, id, units };
  }

  /**
   * Moves `units` of a reservation from reserved to used in every window. Never charges
   * more than was reserved; returns the units actually committed, or null when the
   * reservation no longer exists (released: nothing can be charged to it). With a `key`
   * the charge is idempotent: a retried commit (a batch resuming after a restart) charges once.
   */
  commit(id: string, units: number, now = Date.now(), key: string | null = null): number | null {
    const r = this.sql.exec<{ units: number; committed: number }>("SELECT units, committed FROM reservation WHERE id = ?", id).toArray()[0];
    if (!r) return null;
    if (key !== null) {
      const done = this.sql.exec<{ units: number }>("SELECT units FROM charge WHERE reservation = ? AND key = ?", id, key).toArray()[0];
      if (done) return 0;
    }
    const take = Math.max(0, Math.min(units, r.units - r.committed));
    if (key !== null) this.sql.exec("INSERT INTO charge VALUES (?, ?, ?)", id, key, take);
    if (take === 0) return 0;
    this.sql.exec("UPDATE reservation SET committed = committed + ? WHERE id = ?", take, id);
    for (const w of WINDOWS) {
      const { start } = windowBounds(w, now);
      this.sql.exec(
        `INSERT INTO usage VALUES (?, ?, ?) ON CONFLICT(window) DO UPDATE SET
           used = CASE WHEN start = excluded.start THEN used + excluded.used ELSE excluded.used END,
           start = excluded.start`,
        w,
        start,
        take,
      );
    }
    return take;
  }

  /** Ends a reservation: what was not committed stops counting against the budget. */
  release(id: string): number {
    const r = this.sql.exec<{ units: number; committed: number }>("SELECT units, committed FROM reservation WHERE id = ?", id).toArray()[0];
    if (!r) return 0;
    this.sql.exec("DELETE FROM reservation WHERE id = ?", id);
    this.sql.exec("DELETE FROM charge WHERE reservation = ?", id);
    return r.units - r.committed;
  }

  usage(now = Date.now()): Usage | null {
    const t = this.view();
    if (!t) return null;
    const used = this.used(now);
    const reserved = this.reservedTotal();
    const limits = this.limits();
    return {
      tenant: t.id,
      windows: WINDOWS.map((w) => {
        const limit = limits[w] ?? null;
        return {
          window: w,
          limit,
          used: used[w],
          reserved,
          remaining: limit === null ? null : Math.max(0, limit - used[w] - reserved),
          resets_at: new Date(windowBounds(w, now).end).toISOString(),
        };
      }),
    };
  }
}
