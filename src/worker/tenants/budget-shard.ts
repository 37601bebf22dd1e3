/**
 * A budget shard: one of the objects a hot tenant's online requests spread over, so its
 * request rate is not capped by one ledger object's. Each request makes its calls
 * (authenticate, begin, step, renew, finish) to one shard; the shard makes about one call
 * a second to the ledger, its report.
 *
 * The shard holds a block: a reservation on the ledger like any other, counted against
 * every window until it is committed or given back. Requests hold units from the block
 * (holds, leased like the ledger's reservations and renewed the same way), and what they
 * spend is committed to the block at the next report. So the shard never lets out more
 * than its block holds, and the ledger never lets blocks and reservations together past
 * the limit: the hard limit is never overspent, however many shards and requests there are.
 *
 * - A block holds about a second of the shard's spend (its charges per second, measured)
 *   beyond what requests in flight hold: enough to serve until the next report, not so
 *   much that units sit idle in one shard while another is refused.
 * - Near the limit the ledger shrinks blocks (Budget.resize: at most 1/(2 × shards) of the
 *   room left each), and a request its shard cannot cover goes to the ledger's own `begin`,
 *   which waits for units held in flight or refuses exactly.
 * - A report is kept in an outbox until the ledger has it, and the ledger applies each
 *   `seq` once: a retried or repeated report charges and counts once.
 * - Settings, price and live keys come back with each report. The ledger also makes every
 *   shard report at once when a limit, a key or the settings change (`sync`), so a lowered
 *   limit or a revoked key holds everywhere before the change is acknowledged.
 * - An idle shard gives its block back (after 5 reports' time without a request); a shard
 *   that dies holding a block frees it when the block's lease (ONLINE_LEASE_SECONDS) runs
 *   out, as a request that dies frees its hold.
 */
import { DurableObject } from "cloudflare:workers";
import type { RequestRecord } from "../../core/contracts/metrics.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { units as round } from "./budget.js";
import { matchesHash } from "./keys.js";
import { randomHex, tenantLedger } from "./lookup.js";
import { type BeginRequest, type Begun, type OnlineView, boundsFor, invalidFor, refusalOf } from "./online-settings.js";
import { type Extras, type Rollup, addExtras, addRollups, emptyExtras, emptyRollup, extrasOf, rollupOf } from "./rollups.js";
import { type Migration, addColumn, migrate } from "../storage/migrations.js";

/** What a shard sends the ledger (TenantLedger.report). */
export interface ShardReport {
  shard: number;
  /** The block it holds (null: none yet, or given back). */
  block: string | null;
  /** Uncommitted units it wants its block to hold: what its holds promise, and about a second of its spend. */
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
  /** What that block has been charged in all, with this report (charges are up to a total: idempotent). */
  total: number;
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
  // Holds charged as requests go (step), kept a while after they end so a late charge is
  // recorded; the block's charges in all (charged up to a total at the ledger).
  (sql) => {
    addColumn(sql, "hold", "charged", "REAL NOT NULL DEFAULT 0");
    addColumn(sql, "hold", "ended_at", "INTEGER");
    addColumn(sql, "state", "block_total", "REAL NOT NULL DEFAULT 0");
  },
];

type State = { tenant: string; shard: number; block: string | null; remain: number; unflushed: number; seq: number; block_total: number };
type Hold = { units: number; charged: number; ended_at: number | null; expires_at: number };

/** How long a shard serves by its last report while the ledger cannot be reached. */
const STALE_MS = 30_000;
/** How long an ended hold is kept for a charge that arrives late. */
const ENDED_HOLD_MS = 3_600_000;

/** Holds are named apart from the ledger's reservations: a request reserved at the ledger (near the limit) settles there. */
const HOLD = "s_";

export class BudgetShard extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /** Settings, price and keys from the last report, and when it was. Memory only: a new instance reports first. */
  private grant: { online: OnlineView; keys: Map<string, ArrayBuffer> } | null = null;
  private reportedAt = 0;
  private reporting: Promise<void> | null = null;
  /**
   * Units asked for (held by begins and steps) since `windowStart`, and the rate measured over
   * such windows (units a second). A window is at least one report interval however often the
   * shard reports: measured over the few milliseconds between two reports for more, the rate
   * would shrink with every report, and so would the block, until each request needed a report.
   */
  private askedSince = 0;
  private windowStart = 0;
  private rate = 0;
  /** The last report's block is smaller than the shard asked for: the budget's limit is near. */
  private cut = false;
  private lastBegin = 0;
  private alarmAt: number | null = null;
  /** Tests move this object's clock (runInDurableObject); in service it is the wall clock. */
  clock: () => number = Date.now;

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
    const row = this.sql.exec<State>("SELECT tenant, shard, block, remain, unflushed, seq, block_total FROM state").toArray()[0];
    if (row) return row;
    if (tenant === undefined || shard === undefined) throw new Error("budget shard has no tenant");
    this.sql.exec("INSERT INTO state (k, tenant, shard, block, remain, unflushed, seq, undercharged, block_total) VALUES (0, ?, ?, NULL, 0, 0, 0, 0, 0)", tenant, shard);
    return { tenant, shard, block: null, remain: 0, unflushed: 0, seq: 0, block_total: 0 };
  }

  /** Units live holds still promise (held, less what they have charged). */
  private held(now: number): number {
    return this.sql.exec<{ u: number }>("SELECT COALESCE(SUM(MAX(0, units - charged)), 0) AS u FROM hold WHERE ended_at IS NULL AND expires_at > ?", now).one().u;
  }

  private outbox(): Sent | null {
    const row = this.sql.exec<{ sent: string }>("SELECT sent FROM outbox").toArray()[0];
    return row ? (JSON.parse(row.sent) as Sent) : null;
  }

  /** Units the block can still promise: what it holds, less what was spent and not yet committed, and less what holds promise. */
  private available(now: number): number {
    const s = this.state();
    return round(s.remain - s.unflushed - (this.outbox()?.charge ?? 0) - this.held(now));
  }

  /** Reports now; one report at a time, which concurrent callers share. */
  private report(extra = 0, idle = false): Promise<void> {
    this.reporting ??= this.send(extra, idle).finally(() => (this.reporting = null));
    return this.reporting;
  }

  private async send(extra: number, idle: boolean): Promise<void> {
    const now = this.clock();
    const s = this.state();
    let sent = this.outbox();
    if (!sent) {
      const minutes = this.sql.exec<{ t: number; rollup: string; extras: string }>("SELECT * FROM pending ORDER BY t").toArray();
      const observed = JSON.parse(this.sql.exec<{ units: string }>("SELECT units FROM pending_observed").toArray()[0]?.units ?? "[]") as number[];
      if (s.unflushed > 0 || minutes.length > 0 || observed.length > 0) {
        const total = round(s.block_total + s.unflushed);
        sent = {
          seq: s.seq + 1,
          block: s.block,
          charge: s.unflushed,
          total,
          minutes: minutes.map((m) => ({ t: m.t, rollup: JSON.parse(m.rollup) as Rollup, extras: JSON.parse(m.extras) as Extras })),
          observed,
        };
        // Moved, not copied: from here the outbox holds them until the ledger has them.
        this.sql.exec("INSERT INTO outbox VALUES (0, ?)", JSON.stringify(sent));
        this.sql.exec("DELETE FROM pending");
        this.sql.exec("DELETE FROM pending_observed");
        this.sql.exec("UPDATE state SET unflushed = 0, block_total = ?", total);
      }
    }
    // About a second of what requests ask for (at least a report interval's) beyond what holds
    // promise, and what the asking request needs: requests hold what their next round draws,
    // so what they ask is what they are about to spend.
    const elapsed = now - this.windowStart;
    if (elapsed >= this.every) {
      const measured = (this.askedSince * 1000) / elapsed;
      this.rate = this.windowStart > 0 ? 0.5 * this.rate + 0.5 * measured : measured;
      this.askedSince = 0;
      this.windowStart = now;
    }
    // What this window has asked so far is a floor on its rate, and twice it a floor on the
    // block: a burst is served from the block, not report by report.
    const rate = Math.max(this.rate, (this.askedSince * 1000) / this.every);
    const burst = 2 * this.askedSince;
    const atLeast = this.held(now);
    const keep = round(atLeast + (idle ? 0 : extra + Math.max(burst, rate * Math.max(1, this.every / 1000))));
    const g = await tenantLedger(this.env, s.tenant).report({ shard: s.shard, block: s.block, keep, atLeast, sent });
    const newBlock = g.block !== s.block;
    this.sql.exec("UPDATE state SET block = ?, remain = ?, seq = ?, block_total = CASE WHEN ? THEN 0 ELSE block_total END", g.block, g.remain, sent ? sent.seq : s.seq, newBlock ? 1 : 0);
    this.sql.exec("DELETE FROM outbox");
    this.grant = { online: g.online, keys: new Map(g.keys.map((k) => [k.id, k.hash])) };
    this.reportedAt = now;
    this.cut = g.remain < keep - 1e-9;
  }

  /**
   * Settings and keys no older than one report's interval. When the ledger cannot be
   * reached, the shard goes on serving from its block by the last report's for up to
   * STALE_MS (the alarm keeps trying); after that, or with no report yet, the request fails.
   */
  private async fresh(): Promise<{ online: OnlineView; keys: Map<string, ArrayBuffer> }> {
    while (this.reporting) await this.reporting.catch(() => undefined);
    const now = this.clock();
    if (!this.grant || now - this.reportedAt >= this.every) {
      try {
        await this.report();
      } catch (e) {
        if (!this.grant || now - this.reportedAt > STALE_MS) throw e;
      }
    }
    return this.grant!;
  }

  private async wake(): Promise<void> {
    const now = this.clock();
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

  private hold(id: string): Hold | undefined {
    return this.sql.exec<Hold>("SELECT units, charged, ended_at, expires_at FROM hold WHERE id = ?", id).toArray()[0];
  }

  /** Charges a hold up to `spent` in all (the block's, at the next report); returns what was newly charged. */
  private chargeHold(id: string, h: Hold, spent: number): number {
    const take = round(Math.max(0, spent - h.charged));
    if (take <= 0) return 0;
    this.sql.exec("UPDATE hold SET charged = ?, units = MAX(units, ?) WHERE id = ?", round(h.charged + take), round(h.charged + take), id);
    this.sql.exec("UPDATE state SET unflushed = ROUND(unflushed + ?, 9)", take);
    return take;
  }

  /** Resolves once no report is in flight. The caller must check and write in the same turn after it (no await between). */
  private async settled(): Promise<void> {
    while (this.reporting) await this.reporting.catch(() => undefined);
  }

  // ---- what the Worker calls, in place of the ledger's methods of the same names

  /** Whether `secret` is the live key `id`, by the keys of the last report (one more report for a key it does not know: it may be new). */
  async authenticate(tenant: string, shard: number, id: string, secret: string): Promise<boolean> {
    this.state(tenant, shard);
    let { keys } = await this.fresh();
    if (!keys.has(id) && this.clock() > this.reportedAt) {
      await this.report();
      keys = this.grant!.keys;
    }
    return matchesHash(keys.get(id), secret);
  }

  /**
   * TenantLedger.begin, from the block: a hold of what the request is expected to spend
   * (at least its minimum); when the block cannot cover even that, one report for more,
   * and near the limit (the report came back cut) the ledger's own begin, exact.
   */
  async begin(tenant: string, shard: number, req: BeginRequest): Promise<Begun> {
    this.state(tenant, shard);
    const { online } = await this.fresh();
    if (online.shards === 0) return tenantLedger(this.env, tenant).begin(req);
    const now = this.clock();
    const invalid = invalidFor(online, req);
    if (invalid) {
      this.record(refusalOf(req, 400), 0, now);
      await this.wake();
      return { ...online, invalid, reservation: null };
    }
    // A begin repeated with its key (a retry after a lost answer) gets the hold it made.
    const id = HOLD + (req.key ?? randomHex(8));
    const made = this.hold(id);
    if (made && made.ended_at === null) return { ...online, invalid: null, reservation: { ok: true, id, units: made.units } };
    const { least, want } = boundsFor(online, req);
    const [atLeast, wanted] = [round(req.prompts * least), round(req.prompts * want)];
    this.lastBegin = now;
    this.askedSince += wanted;
    for (let asked = 0; ; asked++) {
      // A hold is made only while no report is in flight, in the same turn as the check (no
      // await between): a report sent meanwhile would not count it, and concurrent requests
      // would each see the same units available.
      await this.settled();
      const available = this.available(this.clock());
      if (available >= atLeast - 1e-9) {
        const units = round(Math.min(wanted, available));
        this.sql.exec("INSERT INTO hold (id, units, charged, expires_at) VALUES (?, ?, 0, ?)", id, units, this.clock() + this.leaseMs);
        await this.wake();
        return { ...this.grant!.online, invalid: null, reservation: { ok: true, id, units } };
      }
      // A report for more came back cut (the limit is near), or three did not make room
      // (requests beside this one took what they won): the ledger decides, exactly, as
      // without shards.
      if ((asked > 0 && this.cut) || asked >= 3) return tenantLedger(this.env, tenant).begin(req);
      const reached = await this.report(wanted).then(
        () => true,
        () => false,
      );
      if (!reached) return tenantLedger(this.env, tenant).begin(req);
    }
  }

  /** TenantLedger.step: charge the hold up to `spent`, grow it by what the block can spare toward `spent + need`, renew it. */
  async step(tenant: string, shard: number, id: string, spent: number, need: number): Promise<{ units: number } | null> {
    if (!id.startsWith(HOLD)) return tenantLedger(this.env, tenant).step(id, spent, need);
    this.state(tenant, shard);
    const target = round(spent + need);
    let h = this.hold(id);
    if (!h) return null;
    this.askedSince += Math.max(0, target - h.units);
    this.chargeHold(id, h, spent);
    h = this.hold(id)!;
    const live = h.ended_at === null && h.expires_at > this.clock();
    if (!live) return null;
    await this.settled();
    if (this.hold(id)!.units + this.available(this.clock()) < target - 1e-9 && !this.cut) await this.report(target - h.units).catch(() => undefined);
    await this.settled();
    // Grown in the same turn as the check (see begin).
    h = this.hold(id)!;
    const units = round(Math.max(h.units, Math.min(target, h.units + Math.max(0, this.available(this.clock())))));
    this.sql.exec("UPDATE hold SET units = ?, expires_at = ? WHERE id = ?", units, this.clock() + this.leaseMs, id);
    await this.wake();
    return { units };
  }

  /** TenantLedger.renew: a heartbeat of a request that works on. */
  async renew(tenant: string, shard: number, id: string): Promise<boolean> {
    if (!id.startsWith(HOLD)) return tenantLedger(this.env, tenant).renew(id);
    this.state(tenant, shard);
    const now = this.clock();
    return this.sql.exec("UPDATE hold SET expires_at = ? WHERE id = ? AND ended_at IS NULL AND expires_at > ?", now + this.leaseMs, id, now).rowsWritten > 0;
  }

  /** TenantLedger.finish: charges what was spent to the block (a hold that ran out is still charged: the work was done); null for a repeated finish. */
  async finish(tenant: string, shard: number, id: string, spent: number, observed: readonly number[] | null, record: RequestRecord | null = null): Promise<number | null> {
    if (!id.startsWith(HOLD)) return tenantLedger(this.env, tenant).finish(id, spent, observed, record);
    this.state(tenant, shard);
    if (!this.grant) await this.fresh().catch(() => undefined); // the price the record carries, after an eviction
    const now = this.clock();
    const h = this.hold(id);
    if (!h || h.ended_at !== null) return null;
    const take = this.chargeHold(id, h, spent);
    this.sql.exec("UPDATE hold SET ended_at = ? WHERE id = ?", now, id);
    if (record) this.record(record, spent, now);
    if (observed && observed.length > 0) this.observe(observed);
    await this.wake();
    return take;
  }

  /** TenantLedger.release: ends a hold, charging nothing more. */
  async release(tenant: string, shard: number, id: string, record: RequestRecord | null = null): Promise<number> {
    if (!id.startsWith(HOLD)) return tenantLedger(this.env, tenant).release(id, record);
    this.state(tenant, shard);
    const now = this.clock();
    const h = this.hold(id);
    if (!h || h.ended_at !== null) return 0;
    this.sql.exec("UPDATE hold SET ended_at = ? WHERE id = ?", now, id);
    if (record) this.record(record, 0, now);
    await this.wake();
    return round(Math.max(0, h.units - h.charged));
  }

  /** Reports now: the ledger calls it when a limit, a key or the settings change. */
  async sync(): Promise<void> {
    const has = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'state'").one().n;
    if (has === 0) return; // a shard that never served has nothing to learn
    this.state();
    while (this.reporting) await this.reporting.catch(() => undefined);
    await this.report();
  }

  /**
   * Reports what is pending, now; `idle` gives back the block's spare (all of it once no
   * request is in flight). The alarm calls it; so may a test or an operator's drain.
   */
  async flush(idle = false): Promise<{ block: string | null; remain: number; held: number }> {
    const has = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'state'").one().n;
    if (has === 0) return { block: null, remain: 0, held: 0 };
    this.state();
    const now = this.clock();
    this.sql.exec("DELETE FROM hold WHERE ended_at IS NOT NULL AND ended_at <= ?", now - ENDED_HOLD_MS);
    while (this.reporting) await this.reporting.catch(() => undefined);
    await this.report(0, idle);
    const s = this.state();
    return { block: s.block, remain: s.remain, held: this.held(now) };
  }

  override async alarm(): Promise<void> {
    const now = this.clock();
    this.alarmAt = null;
    const idle = now - this.lastBegin >= 5 * this.every;
    const s = await this.flush(idle);
    const pending = this.sql.exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM pending) + (SELECT COUNT(*) FROM outbox) AS n").one().n;
    if (s.block !== null || s.held > 0 || pending > 0) await this.wake();
  }
}
