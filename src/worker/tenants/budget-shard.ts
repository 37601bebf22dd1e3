/**
 * A budget shard: one of the objects a hot tenant's online requests spread over, so its
 * request rate is not capped by one ledger object's. Each request makes its calls
 * (authenticate, begin, finish) to one shard; the shard makes about one call a second to
 * the ledger, its report.
 *
 * The shard holds a block: a reservation on the ledger like any other, counted against
 * every window until it is committed or given back. Requests reserve from the block
 * (holds, leased like the ledger's reservations), and what they spend is committed to the
 * block at the next report. So the shard never lets out more than its block holds, and
 * the ledger never lets blocks and reservations together past the limit: the hard limit
 * is never overspent, however many shards and requests there are.
 *
 * - Near the limit the ledger shrinks blocks (Budget.resize: at most 1/(2 × shards) of the
 *   room left each), and a request its shard cannot cover goes to the ledger's own `begin`,
 *   reserved one by one as without shards: a 429 there is exact.
 * - A report is kept in an outbox until the ledger has it, and the ledger applies each
 *   `seq` once: a retried or repeated report charges and counts once.
 * - Settings, price and live keys come back with each report, so a revoked key stops
 *   working and a new price applies within LEDGER_REPORT_MS (default 1000) on every shard.
 * - An idle shard gives its block back (after 5 reports' time without a request); a shard
 *   that dies holding a block frees it when the block's lease (ONLINE_LEASE_SECONDS)
 *   runs out. Units charged to a block that ran out are not charged (the ledger counts them
 *   as undercharged): charging them could overspend.
 */
import { DurableObject } from "cloudflare:workers";
import type { RequestRecord } from "../../core/contracts/metrics.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { matchesHash } from "./keys.js";
import { randomHex, tenantLedger } from "./lookup.js";
import { type BeginRequest, type Begun, type OnlineView, boundsFor, invalidFor, refusalOf } from "./online-settings.js";
import { type Extras, type Rollup, addExtras, addRollups, emptyExtras, emptyRollup, extrasOf, rollupOf } from "./rollups.js";
import { type Migration, migrate } from "../storage/migrations.js";

/** What a shard sends the ledger (TenantLedger.report). */
export interface ShardReport {
  shard: number;
  /** The block it holds (null: none yet, or given back). */
  block: string | null;
  /** Uncommitted units it wants its block to hold: its holds and room for about two reports' worth of requests. */
  keep: number;
  /** Units promised to requests in flight: the block is never shrunk below them. */
  atLeast: number;
  /** What it served since its last report, or null. */
  sent: Sent | null;
}

/** One report's content, fixed until the ledger has it. */
export interface Sent {
  seq: number;
  /** The block `charge` was spent from. */
  block: string | null;
  charge: number;
  /** Requests served, rolled up per minute. */
  minutes: { t: number; rollup: Rollup; extras: Extras }[];
  /** What the price should see: units per prompt of priced requests. */
  observed: number[];
}

/** The ledger's answer: the block, and what the shard serves by until its next report. */
export interface ShardGrant {
  block: string | null;
  remain: number;
  online: OnlineView;
  keys: { id: string; hash: ArrayBuffer }[];
  undercharged: number;
}

const MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(`
      CREATE TABLE state (k INTEGER PRIMARY KEY CHECK (k = 0), tenant TEXT NOT NULL, shard INTEGER NOT NULL, block TEXT,
        remain INTEGER NOT NULL, unflushed INTEGER NOT NULL, seq INTEGER NOT NULL, undercharged INTEGER NOT NULL);
      CREATE TABLE hold (id TEXT PRIMARY KEY, units INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE pending (t INTEGER PRIMARY KEY, rollup TEXT NOT NULL, extras TEXT NOT NULL);
      CREATE TABLE pending_observed (k INTEGER PRIMARY KEY CHECK (k = 0), units TEXT NOT NULL);
      CREATE TABLE outbox (k INTEGER PRIMARY KEY CHECK (k = 0), sent TEXT NOT NULL);`),
];

type State = { tenant: string; shard: number; block: string | null; remain: number; unflushed: number; seq: number; undercharged: number };

/** How long a shard serves by its last report while the ledger cannot be reached. */
const STALE_MS = 30_000;

/** Holds are named apart from the ledger's reservations: a request reserved at the ledger (near the limit) settles there. */
const HOLD = "s_";

export class BudgetShard extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /** Settings, price and keys from the last report, and when it was. Memory only: a new instance reports first. */
  private grant: { online: OnlineView; keys: Map<string, ArrayBuffer> } | null = null;
  private reportedAt = 0;
  private reporting: Promise<void> | null = null;
  /** Units requests asked for since the last report: the next block's size follows it. */
  private demand = 0;
  /** The last report's block is smaller than the shard asked for: the budget's limit is near. */
  private cut = false;
  private lastBegin = 0;
  private alarmAt: number | null = null;

  private get every(): number {
    return settings(this.env).LEDGER_REPORT_MS;
  }

  private get leaseMs(): number {
    return settings(this.env).ONLINE_LEASE_SECONDS * 1000;
  }

  private migrated = false;

  /** The state row, created on the first call (the Worker names the tenant and shard index). */
  private state(tenant?: string, shard?: number): State {
    if (!this.migrated) {
      migrate(this.sql, MIGRATIONS);
      this.migrated = true;
    }
    const row = this.sql.exec<State>("SELECT tenant, shard, block, remain, unflushed, seq, undercharged FROM state").toArray()[0];
    if (row) return row;
    if (tenant === undefined || shard === undefined) throw new Error("budget shard has no tenant");
    this.sql.exec("INSERT INTO state VALUES (0, ?, ?, NULL, 0, 0, 0, 0)", tenant, shard);
    return { tenant, shard, block: null, remain: 0, unflushed: 0, seq: 0, undercharged: 0 };
  }

  private held(now: number): number {
    return this.sql.exec<{ u: number }>("SELECT COALESCE(SUM(units), 0) AS u FROM hold WHERE expires_at > ?", now).one().u;
  }

  private outbox(): Sent | null {
    const row = this.sql.exec<{ sent: string }>("SELECT sent FROM outbox").toArray()[0];
    return row ? (JSON.parse(row.sent) as Sent) : null;
  }

  /** Units the block can still promise: what it holds, less what was spent and not yet committed, and less what is held. */
  private available(now: number): number {
    const s = this.state();
    return s.remain - s.unflushed - (this.outbox()?.charge ?? 0) - this.held(now);
  }

  /** Reports now; one report at a time, which concurrent callers share. */
  private report(now: number, extra = 0, idle = false): Promise<void> {
    this.reporting ??= this.send(now, extra, idle).finally(() => (this.reporting = null));
    return this.reporting;
  }

  private async send(now: number, extra: number, idle: boolean): Promise<void> {
    const s = this.state();
    let sent = this.outbox();
    if (!sent) {
      const minutes = this.sql.exec<{ t: number; rollup: string; extras: string }>("SELECT * FROM pending ORDER BY t").toArray();
      const observed = JSON.parse(this.sql.exec<{ units: string }>("SELECT units FROM pending_observed").toArray()[0]?.units ?? "[]") as number[];
      if (s.unflushed > 0 || minutes.length > 0 || observed.length > 0) {
        sent = {
          seq: s.seq + 1,
          block: s.block,
          charge: s.unflushed,
          minutes: minutes.map((m) => ({ t: m.t, rollup: JSON.parse(m.rollup) as Rollup, extras: JSON.parse(m.extras) as Extras })),
          observed,
        };
        // Moved, not copied: from here the outbox holds them until the ledger has them.
        this.sql.exec("INSERT INTO outbox VALUES (0, ?)", JSON.stringify(sent));
        this.sql.exec("DELETE FROM pending");
        this.sql.exec("DELETE FROM pending_observed");
        this.sql.exec("UPDATE state SET unflushed = 0");
      }
    }
    const atLeast = this.held(now);
    const keep = atLeast + (idle ? 0 : Math.max(2 * this.demand, 4 * extra));
    this.demand = 0;
    const g = await tenantLedger(this.env, s.tenant).report({ shard: s.shard, block: s.block, keep, atLeast, sent }, now);
    this.sql.exec("UPDATE state SET block = ?, remain = ?, seq = ?, undercharged = undercharged + ?", g.block, g.remain, sent ? sent.seq : s.seq, g.undercharged);
    this.sql.exec("DELETE FROM outbox");
    this.grant = { online: g.online, keys: new Map(g.keys.map((k) => [k.id, k.hash])) };
    this.reportedAt = now;
    this.cut = g.remain < keep;
  }

  /**
   * Settings and keys no older than one report's interval. When the ledger cannot be
   * reached, the shard goes on serving from its block by the last report's for up to
   * STALE_MS (the alarm keeps trying); after that, or with no report yet, the request fails.
   */
  private async fresh(now: number): Promise<{ online: OnlineView; keys: Map<string, ArrayBuffer> }> {
    while (this.reporting) await this.reporting.catch(() => undefined);
    if (!this.grant || now - this.reportedAt >= this.every) {
      try {
        await this.report(now);
      } catch (e) {
        if (!this.grant || now - this.reportedAt > STALE_MS) throw e;
      }
    }
    return this.grant!;
  }

  private async wake(now: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt > now) return;
    this.alarmAt = now + this.every;
    await this.ctx.storage.setAlarm(this.alarmAt);
  }

  /** Counts a request in the rollups the next report carries. */
  private record(r: RequestRecord, units: number, now: number): void {
    const online = this.grant?.online;
    const t = now - (now % 60_000);
    const row = this.sql.exec<{ rollup: string; extras: string }>("SELECT rollup, extras FROM pending WHERE t = ?", t).toArray()[0];
    const rollup = addRollups(row ? (JSON.parse(row.rollup) as Rollup) : emptyRollup(), rollupOf(r, units, online?.price ?? 0, online?.target_units ?? 0));
    const extras = addExtras(row ? (JSON.parse(row.extras) as Extras) : emptyExtras(), extrasOf(r));
    this.sql.exec("INSERT INTO pending VALUES (?, ?, ?) ON CONFLICT(t) DO UPDATE SET rollup = excluded.rollup, extras = excluded.extras", t, JSON.stringify(rollup), JSON.stringify(extras));
  }

  private observe(units: readonly number[]): void {
    const row = this.sql.exec<{ units: string }>("SELECT units FROM pending_observed").toArray()[0];
    const all = [...(row ? (JSON.parse(row.units) as number[]) : []), ...units];
    this.sql.exec("INSERT INTO pending_observed VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET units = excluded.units", JSON.stringify(all));
  }

  // ---- what the Worker calls, in place of the ledger's methods of the same names

  /** Whether `secret` is the live key `id`, by the keys of the last report (one more report for a key it does not know: it may be new). */
  async authenticate(tenant: string, shard: number, id: string, secret: string, now = Date.now()): Promise<boolean> {
    this.state(tenant, shard);
    let { keys } = await this.fresh(now);
    if (!keys.has(id) && now > this.reportedAt) {
      await this.report(now);
      keys = this.grant!.keys;
    }
    return matchesHash(keys.get(id), secret);
  }

  /** TenantLedger.begin, from the block: a hold of everything the request could spend, else the ledger's own begin. */
  async begin(tenant: string, shard: number, req: BeginRequest, now = Date.now()): Promise<Begun> {
    this.state(tenant, shard);
    let { online } = await this.fresh(now);
    if (online.shards === 0) return tenantLedger(this.env, tenant).begin(req, now);
    const invalid = invalidFor(online, req);
    if (invalid) {
      this.record(refusalOf(req, 400), 0, now);
      await this.wake(now);
      return { ...online, invalid, reservation: null };
    }
    const want = req.prompts * boundsFor(online, req).most;
    this.demand += want;
    this.lastBegin = now;
    for (let cut = false; ; ) {
      // A hold is made only while no report is in flight, in the same turn as the check
      // (no await between): a report sent meanwhile would not count it, and the block could
      // be shrunk below what is held.
      while (this.reporting) await this.reporting.catch(() => undefined);
      if (this.available(now) >= want) break;
      // Near the limit (the ledger gave less than asked), or the ledger unreachable: the
      // ledger decides, one reservation at a time. Otherwise the block grew by at least
      // `want`, and if requests waiting beside this one took it, the next report grows it again.
      if (cut) return tenantLedger(this.env, tenant).begin(req, now);
      cut = await this.report(now, want).then(
        () => this.cut,
        () => true,
      );
    }
    online = this.grant!.online;
    const id = HOLD + randomHex(8);
    this.sql.exec("INSERT INTO hold VALUES (?, ?, ?)", id, want, now + this.leaseMs);
    await this.wake(now);
    return { ...online, invalid: null, reservation: { ok: true, id, units: want } };
  }

  /** TenantLedger.finish: charges what was drawn (never more than held) to the block; null when the hold has ended. */
  async finish(tenant: string, shard: number, id: string, units: number, observed: readonly number[] | null, record: RequestRecord | null = null, now = Date.now()): Promise<number | null> {
    if (!id.startsWith(HOLD)) return tenantLedger(this.env, tenant).finish(id, units, observed, record, now);
    this.state(tenant, shard);
    if (!this.grant) await this.fresh(now).catch(() => undefined); // the price the record carries, after an eviction
    const h = this.sql.exec<{ units: number }>("SELECT units FROM hold WHERE id = ? AND expires_at > ?", id, now).toArray()[0];
    this.sql.exec("DELETE FROM hold WHERE id = ?", id);
    // An expired hold's units may be promised again: charging them could overspend the block.
    const take = h ? Math.max(0, Math.min(units, h.units)) : 0;
    if (take > 0) this.sql.exec("UPDATE state SET unflushed = unflushed + ?", take);
    // Counted once: a retried finish finds its hold gone.
    if (h && record) this.record(record, take, now);
    if (h && observed && observed.length > 0) this.observe(observed);
    await this.wake(now);
    return h ? take : null;
  }

  /** TenantLedger.release: ends a hold, charging nothing. */
  async release(tenant: string, shard: number, id: string, record: RequestRecord | null = null, now = Date.now()): Promise<number> {
    if (!id.startsWith(HOLD)) return tenantLedger(this.env, tenant).release(id, record, now);
    this.state(tenant, shard);
    const h = this.sql.exec<{ units: number }>("SELECT units FROM hold WHERE id = ?", id).toArray()[0];
    this.sql.exec("DELETE FROM hold WHERE id = ?", id);
    if (h && record) this.record(record, 0, now);
    await this.wake(now);
    return h?.units ?? 0;
  }

  /**
   * Reports what is pending, now; `idle` gives back the block's spare (all of it once no
   * request is in flight). The alarm calls it; so may a test or an operator's drain.
   */
  async flush(idle = false, now = Date.now()): Promise<{ block: string | null; remain: number; held: number; undercharged: number }> {
    const s0 = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'state'").one().n;
    if (s0 === 0) return { block: null, remain: 0, held: 0, undercharged: 0 };
    this.sql.exec("DELETE FROM hold WHERE expires_at <= ?", now);
    while (this.reporting) await this.reporting.catch(() => undefined);
    await this.report(now, 0, idle);
    const s = this.state();
    return { block: s.block, remain: s.remain, held: this.held(now), undercharged: s.undercharged };
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.alarmAt = null;
    const idle = now - this.lastBegin >= 5 * this.every;
    const s = await this.flush(idle, now);
    const pending = this.sql.exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM pending) + (SELECT COUNT(*) FROM outbox) AS n").one().n;
    if (s.block !== null || s.held > 0 || pending > 0) await this.wake(now);
  }
}
