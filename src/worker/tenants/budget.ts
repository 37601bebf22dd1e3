/**
 * A tenant's budget: units per window (hour, day, month, UTC), what was used in each, and
 * reservations, each a lease that lives until its expiry unless renewed. Units are
 * reserved before any sampling, committed as samples complete (never more than
 * reserved), and released when work ends; an expired reservation stops counting and can
 * no longer be charged, so a crashed gateway or a vanished client frees its units within
 * one lease. Storage only: the Durable Object (ledger.ts) serialises the calls.
 *
 * A reservation counts against every window's current period until it ends, since its
 * units will be charged to the period current when they are committed.
 */
import { WINDOWS, type Window, windowBounds } from "./windows.js";

export type ReserveResult =
  | { ok: true; id: string }
  | { ok: false; window: Window; limit: number; used: number; reserved: number; requested: number; resetsAt: number };

/** A reservation of between `atLeast` and `atMost` units: as many as every window has room for. */
export type ReserveUpToResult = { ok: true; id: string; units: number } | Extract<ReserveResult, { ok: false }>;

export type BudgetLimits = Partial<Record<"hour" | "day" | "month", number | null>>;

export class Budget {
  constructor(
    private readonly sql: SqlStorage,
    private readonly newId: () => string,
  ) {}

  limits(): Partial<Record<Window, number>> {
    const out: Partial<Record<Window, number>> = {};
    for (const b of this.sql.exec<{ window: Window; units: number }>("SELECT * FROM budget")) out[b.window] = b.units;
    return out;
  }

  /** Sets units per window; null removes a window's limit, absent leaves it. */
  write(budget: BudgetLimits): void {
    for (const w of WINDOWS) {
      const units = budget[w];
      if (units === undefined) continue;
      if (units === null) this.sql.exec("DELETE FROM budget WHERE window = ?", w);
      else this.sql.exec("INSERT INTO budget VALUES (?, ?) ON CONFLICT(window) DO UPDATE SET units = excluded.units", w, units);
    }
  }

  /** Units committed in the current period of each window (a past period's count is 0). */
  used(now: number): Record<Window, number> {
    const out = {} as Record<Window, number>;
    for (const w of WINDOWS) {
      const { start } = windowBounds(w, now);
      const row = this.sql.exec<{ start: number; used: number }>("SELECT start, used FROM usage WHERE window = ?", w).toArray()[0];
      out[w] = row && row.start === start ? row.used : 0;
    }
    return out;
  }

  /** Units reserved and not yet committed, by live (unexpired) reservations. */
  reserved(now: number): number {
    return this.sql.exec<{ r: number }>("SELECT COALESCE(SUM(units - committed), 0) AS r FROM reservation WHERE expires_at > ?", now).one().r;
  }

  /** Room left in each limited window now. */
  private room(now: number): { window: Window; room: number; limit: number; used: number }[] {
    const used = this.used(now);
    const reserved = this.reserved(now);
    const limits = this.limits();
    return WINDOWS.flatMap((w) => {
      const limit = limits[w];
      return limit === undefined ? [] : [{ window: w, room: Math.max(0, limit - used[w] - reserved), limit, used: used[w] }];
    });
  }

  /** The fewest units any window has room for (Infinity when none is limited), and that window. */
  headroom(now: number): { units: number; window: Window | null } {
    let best: { units: number; window: Window | null } = { units: Infinity, window: null };
    for (const r of this.room(now)) if (r.room < best.units) best = { units: r.room, window: r.window };
    return best;
  }

  /** Null if every window has room for `units` now, else the refusal a reservation would get. */
  check(units: number, now: number): Extract<ReserveResult, { ok: false }> | null {
    const full = this.room(now).find((r) => r.room < units);
    return full ? this.refusal(full.window, units, now) : null;
  }

  private refusal(window: Window, requested: number, now: number): Extract<ReserveResult, { ok: false }> {
    const limit = this.limits()[window]!;
    return { ok: false, window, limit, used: this.used(now)[window], reserved: this.reserved(now), requested, resetsAt: windowBounds(window, now).end };
  }

  /**
   * Reserves `units` for `leaseMs` if every window has room; names the first window that
   * has not. Idempotent per `ref`: while a live reservation with that ref exists,
   * reserving again returns it (a retried step must not hold the budget twice).
   */
  reserve(units: number, ref: string | null, now: number, leaseMs: number, owner: string | null = null): ReserveResult {
    if (!Number.isSafeInteger(units) || units <= 0) throw new RangeError(`units must be a positive integer, got ${units}`);
    if (ref !== null) {
      const open = this.sql.exec<{ id: string }>("SELECT id FROM reservation WHERE ref = ? AND expires_at > ?", ref, now).toArray()[0];
      if (open) return { ok: true, id: open.id };
    }
    const refused = this.check(units, now);
    if (refused) return refused;
    const id = this.newId();
    this.sql.exec("INSERT INTO reservation (id, units, committed, created_at, ref, expires_at, owner) VALUES (?, ?, 0, ?, ?, ?, ?)", id, units, now, ref, now + leaseMs, owner);
    return { ok: true, id };
  }

  /** Reserves as many units as every window has room for, up to `atMost`, if that is at least `atLeast`. */
  reserveUpTo(atMost: number, atLeast: number, now: number, leaseMs: number, owner: string | null = null): ReserveUpToResult {
    if (!Number.isSafeInteger(atLeast) || atLeast <= 0 || !Number.isSafeInteger(atMost) || atMost < atLeast) {
      throw new RangeError(`need 0 < atLeast <= atMost, got ${atLeast} and ${atMost}`);
    }
    const head = this.headroom(now);
    const units = Math.min(atMost, head.units);
    if (units < atLeast) return this.refusal(head.window!, atLeast, now);
    const id = this.newId();
    this.sql.exec("INSERT INTO reservation (id, units, committed, created_at, ref, expires_at, owner) VALUES (?, ?, 0, ?, NULL, ?, ?)", id, units, now, now + leaseMs, owner);
    return { ok: true, id, units };
  }

  /** Extends a live reservation's lease to now + leaseMs; false if it has ended or expired. */
  renew(id: string, now: number, leaseMs: number): boolean {
    return this.sql.exec("UPDATE reservation SET expires_at = ? WHERE id = ? AND expires_at > ?", now + leaseMs, id, now).rowsWritten > 0;
  }

  /**
   * Moves `units` of a live reservation from reserved to used in every window. Never
   * charges more than was reserved; returns the units committed, or null when the
   * reservation has ended (released, or its lease expired: nothing can be charged to it).
   * With a `key` the charge is idempotent: a retried commit charges once.
   */
  commit(id: string, units: number, now: number, key: string | null): number | null {
    const r = this.sql.exec<{ units: number; committed: number }>("SELECT units, committed FROM reservation WHERE id = ? AND expires_at > ?", id, now).toArray()[0];
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

  /**
   * Sets a held block's uncommitted units (a budget shard's block, tenants/budget-shard.ts) to
   * `keep`, renewing its lease; creates the block when `id` is null or has ended. Never less
   * than `atLeast` (what the shard has promised to requests in flight) while the block has
   * it; never more than the windows have room for; and, spread over `shards` shards, never
   * more than `atLeast` plus 1 / (2 × shards) of the room left beyond it, so blocks shrink as
   * the limit nears and the last units go to requests reserved one by one at the ledger.
   * A block kept at 0 ends. Returns the block and its uncommitted units.
   */
  resize(id: string | null, keep: number, atLeast: number, shards: number, now: number, leaseMs: number, owner: string): { id: string | null; remain: number } {
    const r = id === null ? undefined : this.sql.exec<{ units: number; committed: number }>("SELECT units, committed FROM reservation WHERE id = ? AND expires_at > ?", id, now).toArray()[0];
    const held = r ? r.units - r.committed : 0;
    const free = held + this.headroom(now).units; // Infinity when no window is limited
    const fair = atLeast + Math.floor(Math.max(0, free - atLeast) / (2 * Math.max(1, shards)));
    const k = Math.max(Math.min(keep, fair, free), Math.min(atLeast, held));
    if (k <= 0) {
      if (r) this.release(id!);
      return { id: null, remain: 0 };
    }
    if (r) {
      this.sql.exec("UPDATE reservation SET units = committed + ?, expires_at = ? WHERE id = ?", k, now + leaseMs, id);
      return { id, remain: k };
    }
    const fresh = this.newId();
    this.sql.exec("INSERT INTO reservation (id, units, committed, created_at, ref, expires_at, owner) VALUES (?, ?, 0, ?, NULL, ?, ?)", fresh, k, now, now + leaseMs, owner);
    return { id: fresh, remain: k };
  }

  /** Whether reservation `id` has not ended (released; an expired one counts until it is ended). */
  holds(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM reservation WHERE id = ?", id).toArray().length > 0;
  }

  /** Ends a reservation: what was not committed stops counting. Returns those units. */
  release(id: string): number {
    const r = this.sql.exec<{ units: number; committed: number }>("SELECT units, committed FROM reservation WHERE id = ?", id).toArray()[0];
    if (!r) return 0;
    this.sql.exec("DELETE FROM reservation WHERE id = ?", id);
    this.sql.exec("DELETE FROM charge WHERE reservation = ?", id);
    return r.units - r.committed;
  }

  /** Ends every reservation whose lease has run out; returns how many units they freed. */
  expire(now: number): number {
    const gone = this.sql.exec<{ id: string; left: number }>("SELECT id, units - committed AS left FROM reservation WHERE expires_at <= ?", now).toArray();
    for (const g of gone) this.release(g.id);
    return gone.reduce((s, g) => s + g.left, 0);
  }

  /** The earliest expiry among live reservations, or null. */
  nextExpiry(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM reservation").one().t;
  }
}
