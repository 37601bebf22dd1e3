/**
 * A tenant's budget: units per window (hour, day, month, UTC), what was used in each, and
 * reservations, each a lease that lives until its expiry unless renewed. Units are
 * reserved before any LM work, committed as work completes, and released when it ends;
 * an expired reservation stops counting, so a crashed gateway or a vanished client frees
 * its units within one lease. Storage only: the Durable Object (ledger.ts) serialises the
 * calls.
 *
 * Units may be fractional (a prompt's prefill costs PREFILL_UNITS of a sample); stored
 * values are rounded to 1e-9 so sums of fractions compare exactly.
 *
 * A reservation counts against every window's current period until it ends, since its
 * units will be charged to the period current when they are committed. An ended
 * reservation (released, or expired) is kept for a day: a charge that arrives after it
 * ended (work done while its lease could not be renewed) is still recorded, as owed,
 * never lost; a charge is "up to a total", so a repeated one records nothing more.
 *
 * Two refusals, told apart: the window itself is spent (`exceeded`: what it has used
 * leaves no room, and only its reset will help), or units are held by requests in flight
 * (`held`: they come back within a request's time, or a lease's at the latest).
 */
import type { BudgetScope } from "../../core/errors.js";
import { WINDOWS, type Window, windowBounds } from "./windows.js";

/** A refusal: the window is spent, or its room is held by reservations in flight. */
export type Refusal =
  | ({ ok: false; kind: "exceeded" } & BudgetScope)
  | ({ ok: false; kind: "held"; earliestExpiry: number | null } & BudgetScope);

export type ReserveResult = { ok: true; id: string } | Refusal;

/** A reservation of between `atLeast` and `atMost` units: as many as every window has room for. */
export type ReserveUpToResult = { ok: true; id: string; units: number } | Refusal;

export type BudgetLimits = Partial<Record<"hour" | "day" | "month", number | null>>;

/** How long an ended reservation is kept for charges that arrive late. */
const ENDED_RETENTION_MS = 86_400_000;
/** Units compare equal within this. */
const EPS = 1e-9;
/** A value as stored: rounded to 1e-9. */
export const units = (x: number): number => Math.round(x * 1e9) / 1e9;

type Row = { units: number; committed: number; ended_at: number | null; expires_at: number };

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
      const u = budget[w];
      if (u === undefined) continue;
      if (u === null) this.sql.exec("DELETE FROM budget WHERE window = ?", w);
      else this.sql.exec("INSERT INTO budget VALUES (?, ?) ON CONFLICT(window) DO UPDATE SET units = excluded.units", w, u);
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

  /** Units reserved and not yet committed, by live reservations (optionally all but `except`). */
  reserved(now: number, except: string | null = null): number {
    return units(
      this.sql.exec<{ r: number }>("SELECT COALESCE(SUM(units - committed), 0) AS r FROM reservation WHERE ended_at IS NULL AND expires_at > ? AND id IS NOT ?", now, except).one().r,
    );
  }

  /** Each limited window now: its limit, what it used, and the room left beyond what is reserved (negative when a limit was lowered below it). */
  private windows(now: number, except: string | null = null): { window: Window; limit: number; used: number; room: number }[] {
    const used = this.used(now);
    const reserved = this.reserved(now, except);
    const limits = this.limits();
    return WINDOWS.flatMap((w) => {
      const limit = limits[w];
      return limit === undefined ? [] : [{ window: w, limit, used: used[w], room: units(limit - used[w] - reserved) }];
    });
  }

  /** The fewest units any window has room for (Infinity when none is limited; never below 0). */
  headroom(now: number): number {
    return Math.max(0, Math.min(Infinity, ...this.windows(now).map((w) => w.room)));
  }

  /** Null if every window has room for `want` now; else the refusal, telling a spent window from one held by reservations. */
  check(want: number, now: number): Refusal | null {
    const ws = this.windows(now);
    const spent = ws.find((w) => w.limit - w.used < want - EPS);
    if (spent) return this.refusal("exceeded", spent.window, want, now);
    const held = ws.find((w) => w.room < want - EPS);
    return held ? this.refusal("held", held.window, want, now) : null;
  }

  private refusal(kind: Refusal["kind"], window: Window, requested: number, now: number): Refusal {
    const limit = this.limits()[window]!;
    const scope = { window, limit, used: this.used(now)[window], reserved: this.reserved(now), requested: units(requested), resetsAt: windowBounds(window, now).end };
    return kind === "held" ? { ok: false, kind, ...scope, earliestExpiry: this.earliestLive() } : { ok: false, kind, ...scope };
  }

  private insert(u: number, now: number, leaseMs: number, ref: string | null, owner: string | null): string {
    const id = this.newId();
    this.sql.exec("INSERT INTO reservation (id, units, committed, created_at, ref, expires_at, owner) VALUES (?, ?, 0, ?, ?, ?, ?)", id, units(u), now, ref, now + leaseMs, owner);
    return id;
  }

  /**
   * Reserves `units` for `leaseMs` if every window has room; names the first window that
   * has not. Idempotent per `ref`: while a live reservation with that ref exists,
   * reserving again returns it (a retried step must not hold the budget twice).
   */
  reserve(want: number, ref: string | null, now: number, leaseMs: number, owner: string | null = null): ReserveResult {
    if (!Number.isFinite(want) || want <= 0) throw new RangeError(`units must be a positive number, got ${want}`);
    if (ref !== null) {
      const open = this.sql.exec<{ id: string }>("SELECT id FROM reservation WHERE ref = ? AND ended_at IS NULL AND expires_at > ?", ref, now).toArray()[0];
      if (open) return { ok: true, id: open.id };
    }
    const refused = this.check(want, now);
    return refused ?? { ok: true, id: this.insert(want, now, leaseMs, ref, owner) };
  }

  /** Reserves as many units as every window has room for, up to `atMost`, if that is at least `atLeast`. */
  reserveUpTo(atMost: number, atLeast: number, now: number, leaseMs: number, owner: string | null = null, ref: string | null = null): ReserveUpToResult {
    if (!(atLeast > 0) || !Number.isFinite(atMost) || atMost < atLeast) throw new RangeError(`need 0 < atLeast <= atMost, got ${atLeast} and ${atMost}`);
    if (ref !== null) {
      const open = this.sql.exec<{ id: string; units: number }>("SELECT id, units FROM reservation WHERE ref = ? AND ended_at IS NULL AND expires_at > ?", ref, now).toArray()[0];
      if (open) return { ok: true, id: open.id, units: open.units };
    }
    const refused = this.check(atLeast, now);
    if (refused) return refused;
    const u = units(Math.min(atMost, this.headroom(now)));
    return { ok: true, id: this.insert(u, now, leaseMs, ref, owner), units: u };
  }

  private row(id: string): Row | undefined {
    return this.sql.exec<Row>("SELECT units, committed, ended_at, expires_at FROM reservation WHERE id = ?", id).toArray()[0];
  }

  private live = (r: Row | undefined, now: number): r is Row => r !== undefined && r.ended_at === null && r.expires_at > now;

  /** Extends a live reservation's lease to now + leaseMs; false if it has ended or expired. */
  renew(id: string, now: number, leaseMs: number): boolean {
    return this.sql.exec("UPDATE reservation SET expires_at = ? WHERE id = ? AND ended_at IS NULL AND expires_at > ?", now + leaseMs, id, now).rowsWritten > 0;
  }

  /**
   * Grows a live reservation so that it holds `target` units in all (committed included),
   * as far as every window has room, and renews its lease; never shrinks it. Returns its
   * units, or null when it has ended.
   */
  grow(id: string, target: number, now: number, leaseMs: number): number | null {
    const r = this.row(id);
    if (!this.live(r, now)) return null;
    const next = units(Math.max(r.units, Math.min(target, r.units + this.headroom(now))));
    this.sql.exec("UPDATE reservation SET units = ?, expires_at = ? WHERE id = ?", next, now + leaseMs, id);
    return next;
  }

  /**
   * Charges reservation `id` up to `total` units in all: what is beyond what it has
   * committed moves to used in every window. A live reservation grows to cover it (its
   * holder draws within what it holds, so that is a no-op but for rounding); an ended one
   * records it as owed: the work was done. Returns the units newly charged (0 for a
   * repeated charge), or null for an unknown reservation.
   */
  commitTo(id: string, total: number, now: number): number | null {
    const r = this.row(id);
    if (!r) return null;
    const take = units(Math.max(0, total - r.committed));
    if (take <= 0) return 0;
    this.sql.exec("UPDATE reservation SET committed = committed + ?, units = MAX(units, committed + ?) WHERE id = ?", take, take, id);
    this.use(take, now);
    return take;
  }

  /** Adds `take` units to every window's current period. */
  private use(take: number, now: number): void {
    for (const w of WINDOWS) {
      const { start } = windowBounds(w, now);
      this.sql.exec(
        `INSERT INTO usage VALUES (?, ?, ?) ON CONFLICT(window) DO UPDATE SET
           used = ROUND(CASE WHEN start = excluded.start THEN used + excluded.used ELSE excluded.used END, 9),
           start = excluded.start`,
        w,
        start,
        take,
      );
    }
  }

  /**
   * Sets a held block's uncommitted units (a budget shard's block, tenants/budget-shard.ts) to
   * `keep`, renewing its lease; creates the block when `id` is null or has ended. Never less
   * than `atLeast` (what the shard has promised to requests in flight) while the block has
   * it; never more than the windows have room for (counting every other reservation: a
   * lowered limit shrinks the block to its promises); and, spread over `shards` shards, never
   * more than `atLeast` plus 1 / (2 × shards) of the room left beyond it, so blocks shrink as
   * the limit nears and the last units go to requests reserved one by one at the ledger.
   * A block kept at 0 ends. Returns the block and its uncommitted units.
   */
  resize(id: string | null, keep: number, atLeast: number, shards: number, now: number, leaseMs: number, owner: string): { id: string | null; remain: number } {
    // A shard has one block. One it does not know of (made by a report whose answer was lost
    // when the shard was evicted) is found by its owner and taken up, never left to hold
    // units until its lease runs out; any others of the same owner end.
    const owned = this.sql.exec<{ id: string }>("SELECT id FROM reservation WHERE owner = ? AND ended_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id", owner, now).toArray().map((x) => x.id);
    if (id === null || !owned.includes(id)) id = owned[0] ?? id;
    for (const other of owned) if (other !== id) this.release(other, now);
    const r = id === null ? undefined : this.row(id);
    const live = this.live(r, now);
    const held = live ? units(r.units - r.committed) : 0;
    const free = Math.min(Infinity, ...this.windows(now, live ? id : null).map((w) => w.room)); // may be negative
    const fair = atLeast + Math.floor(Math.max(0, free - atLeast) / (2 * Math.max(1, shards)));
    const k = units(Math.max(Math.min(keep, fair, Math.max(0, free)), Math.min(atLeast, held)));
    if (k <= 0) {
      if (live) this.release(id!, now);
      return { id: null, remain: 0 };
    }
    if (live) {
      this.sql.exec("UPDATE reservation SET units = committed + ?, expires_at = ? WHERE id = ?", k, now + leaseMs, id);
      return { id, remain: k };
    }
    return { id: this.insert(k, now, leaseMs, null, owner), remain: k };
  }

  /** Uncommitted units held by budget shards' blocks (reservations owned by "shard k"). */
  blocksHeld(now: number): number {
    return this.sql.exec<{ r: number }>("SELECT COALESCE(SUM(units - committed), 0) AS r FROM reservation WHERE ended_at IS NULL AND expires_at > ? AND owner LIKE 'shard %'", now).one().r;
  }

  /** Whether reservation `id` is live. */
  holds(id: string, now: number): boolean {
    return this.live(this.row(id), now);
  }

  /** Ends a reservation: what was not committed stops counting. Returns those units (0 if it had ended). */
  release(id: string, now: number): number {
    const r = this.row(id);
    if (!r || r.ended_at !== null) return 0;
    this.sql.exec("UPDATE reservation SET ended_at = ? WHERE id = ?", now, id);
    return r.expires_at > now ? units(r.units - r.committed) : 0;
  }

  /** Ends every reservation whose lease has run out, and forgets those ended a day ago; returns the units freed. */
  expire(now: number): number {
    const gone = this.sql.exec<{ left: number }>("SELECT units - committed AS left FROM reservation WHERE ended_at IS NULL AND expires_at <= ?", now).toArray();
    this.sql.exec("UPDATE reservation SET ended_at = expires_at WHERE ended_at IS NULL AND expires_at <= ?", now);
    this.sql.exec("DELETE FROM reservation WHERE ended_at IS NOT NULL AND ended_at <= ?", now - ENDED_RETENTION_MS);
    return units(gone.reduce((s, g) => s + g.left, 0));
  }

  /** When the ledger must next look: the earliest expiry among live reservations, or a day after the oldest ended one. */
  nextExpiry(): number | null {
    return this.sql.exec<{ t: number | null }>(
      "SELECT MIN(t) AS t FROM (SELECT MIN(expires_at) AS t FROM reservation WHERE ended_at IS NULL UNION ALL SELECT MIN(ended_at) + ? AS t FROM reservation WHERE ended_at IS NOT NULL)",
      ENDED_RETENTION_MS,
    ).one().t;
  }

  /** The earliest expiry among live reservations, or null. */
  earliestLive(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM reservation WHERE ended_at IS NULL").one().t;
  }
}
