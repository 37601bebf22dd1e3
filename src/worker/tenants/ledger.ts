import { DurableObject } from "cloudflare:workers";
import type { CreateTenant, Online, Tenant, Usage } from "../../core/contracts/tenants.js";
import { UnknownTenant } from "../../core/errors.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import type { RequestRecord, Step, TenantSummary } from "../../core/contracts/metrics.js";
import { estimateEarned } from "../../core/metrics/earned.js";
import { BatchLog, BatchRegistry, type LoggedBatch } from "./batch-registry.js";
import { Budget, type BudgetLimits, type ReserveResult, type ReserveUpToResult } from "./budget.js";
import { ApiKeys } from "./keys.js";
import { randomHex as hex } from "./lookup.js";
import { type BeginRequest, type Begun, OnlineSettings, boundsFor, invalidFor, refusalOf } from "./online-settings.js";
import { type Lifetime, type Rollup, Rollups, emptyRollup, extrasOf, rollupOf } from "./rollups.js";
import { holdsLedger, migrate } from "./schema.js";
import { WINDOWS, type Window, windowBounds } from "./windows.js";

import type { ShardGrant, ShardReport } from "./budget-shard.js";

export type { ReserveResult, ReserveUpToResult } from "./budget.js";

/** How long a reservation lives unless renewed: an online request's (ONLINE_LEASE_SECONDS) and a batch's (BATCH_LEASE_SECONDS). */
function leases(env: Env): { online: number; batch: number } {
  const s = settings(env);
  return { online: s.ONLINE_LEASE_SECONDS * 1000, batch: s.BATCH_LEASE_SECONDS * 1000 };
}

/**
 * One tenant's ledger: its settings, API keys, budget with leased reservations, online
 * price, and running batches, each a module over the object's SQLite (keys.ts,
 * budget.ts, online-settings.ts, batch-registry.ts; schema.ts migrates it). A Durable
 * Object runs one call at a time and these methods do not await between reading and
 * writing, so concurrent reservations can never overspend.
 *
 * An object is written only by create() and what follows it: looking up an unknown API
 * key (authenticate) reads, and creates no storage.
 */
export class TenantLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly budget: Budget;
  private readonly keys: ApiKeys;
  private readonly settings: OnlineSettings;
  private readonly batches: BatchRegistry;
  private readonly batchLog: BatchLog;
  private readonly rollups: Rollups;
  private readonly lease: { online: number; batch: number };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.budget = new Budget(this.sql, () => hex(8));
    this.keys = new ApiKeys(this.sql, hex);
    this.settings = new OnlineSettings(this.sql);
    this.batches = new BatchRegistry(this.sql);
    this.batchLog = new BatchLog(this.sql);
    this.rollups = new Rollups(this.sql);
    this.lease = leases(env);
  }

  /** Calls of the online path since this instance started (GET /metrics: allot_ledger_calls_total), which budget shards exist to spread. */
  private readonly calls: Record<"admit" | "begin" | "finish" | "release" | "report", number> = { admit: 0, begin: 0, finish: 0, release: 0, report: 0 };

  /** The schema is up to date in this instance: migrations run once, not on every call. */
  private migrated = false;
  /** The tenant is known to exist (it is never deleted): no more lookups. */
  private known = false;

  private ensureSchema(): void {
    if (this.migrated) return;
    migrate(this.sql);
    this.migrated = true;
  }

  /** Whether the tenant exists; migrates its schema first if it does. A read while it does not. */
  private exists(): boolean {
    if (this.known) return true;
    if (!holdsLedger(this.sql)) return false;
    this.ensureSchema();
    this.known = this.sql.exec("SELECT id FROM tenant").toArray().length > 0;
    return this.known;
  }

  /** Creates the tenant (once; a second call is refused so an id is never reused). */
  create(id: string, spec: CreateTenant): Tenant | null {
    this.ensureSchema();
    if (this.exists()) return null;
    this.sql.exec("INSERT INTO tenant VALUES (?, ?, ?, ?, ?)", id, spec.name, Date.now(), spec.limits.max_batch_size, spec.limits.max_concurrent_batches);
    this.budget.write(spec.budget);
    return this.view();
  }

  view(): Tenant | null {
    if (!this.exists()) return null;
    const t = this.sql.exec<{ id: string; name: string; created_at: number; max_batch_size: number; max_concurrent_batches: number }>("SELECT * FROM tenant").one();
    const limits = this.budget.limits();
    const budget = Object.fromEntries(WINDOWS.map((w) => [w, limits[w] ?? null])) as Tenant["budget"];
    return {
      id: t.id,
      name: t.name,
      created_at: new Date(t.created_at).toISOString(),
      budget,
      limits: { max_batch_size: t.max_batch_size, max_concurrent_batches: t.max_concurrent_batches },
      keys: this.keys.list(),
    };
  }

  setBudget(budget: BudgetLimits): Tenant | null {
    if (!this.exists()) return null;
    this.budget.write(budget);
    return this.view();
  }

  /** Limits a batch must respect (null if the tenant does not exist). */
  batchLimits(): { maxBatchSize: number; maxConcurrentBatches: number } | null {
    if (!this.exists()) return null;
    const t = this.sql.exec<{ max_batch_size: number; max_concurrent_batches: number }>("SELECT max_batch_size, max_concurrent_batches FROM tenant").one();
    return { maxBatchSize: t.max_batch_size, maxConcurrentBatches: t.max_concurrent_batches };
  }

  // ---- keys

  async addKey(tenantId: string): Promise<{ id: string; key: string } | null> {
    return this.exists() ? this.keys.issue(tenantId) : null;
  }

  revokeKey(id: string): boolean {
    return this.exists() && this.keys.revoke(id);
  }

  /** Whether `secret` is the live key `id`. An object that was never created answers false and stays empty. */
  async authenticate(id: string, secret: string): Promise<boolean> {
    if (!this.exists()) {
      await this.keys.check("", secret).catch(() => false); // the same work either way: timing does not tell which tenants exist
      return false;
    }
    return this.keys.check(id, secret);
  }

  /** authenticate, and how many budget shards the tenant's online requests spread over (the Worker routes by it). */
  async admit(id: string, secret: string): Promise<{ ok: boolean; shards: number }> {
    this.calls.admit++;
    const ok = await this.authenticate(id, secret);
    return { ok, shards: ok ? this.settings.view().shards : 0 };
  }

  // ---- online settings and price

  setOnline(o: Online): Online | null {
    if (!this.exists()) return null;
    this.settings.set(o);
    return this.settings.view();
  }

  // ---- budget

  /** Reserves `units` for a batch (a lease of BATCH_LEASE_SECONDS, renewed by renewBatch). See Budget.reserve. */
  async reserve(units: number, ref: string | null = null, now = Date.now()): Promise<ReserveResult> {
    this.ensureSchema();
    const r = this.budget.reserve(units, ref, now, this.lease.batch, ref);
    if (r.ok) await this.scheduleExpiry();
    return r;
  }

  /** Reserves up to `atMost` units (at least `atLeast`) for one online request, leased for ONLINE_LEASE_SECONDS. */
  async reserveUpTo(atMost: number, atLeast: number, now = Date.now()): Promise<ReserveUpToResult> {
    this.ensureSchema();
    const r = this.budget.reserveUpTo(atMost, atLeast, now, this.lease.online, "online");
    if (r.ok) await this.scheduleExpiry();
    return r;
  }

  /** A batch's charge (idempotent per `key`); what it newly charges is counted in the rollups as batch units. */
  commit(id: string, units: number, now = Date.now(), key: string | null = null): number | null {
    this.ensureSchema();
    const taken = this.budget.commit(id, units, now, key);
    if (taken) this.rollups.add({ ...emptyRollup(), batch_units: taken }, now);
    return taken;
  }

  /** Counts one online request in the rollups (its units as charged, the price and target now in force). */
  private record(r: RequestRecord, units: number, now: number): void {
    const online = this.settings.view();
    this.rollups.add(rollupOf(r, units, online.price, online.target_units), now, extrasOf(r));
  }

  /** Commits `units` and ends the reservation in one call: an online request's settlement. */
  settle(id: string, units: number, now = Date.now()): number | null {
    this.ensureSchema();
    const charged = units > 0 ? this.budget.commit(id, units, now, null) : 0;
    this.budget.release(id);
    return charged;
  }

  /**
   * An online request's first call (of two): its online settings and price, and a
   * reservation of everything it could spend (its prompts × its pinned units, else × the
   * tenant's max_units; 1 sample each under greedy decoding without routing), or less when
   * the budget has less left, but never less than its minimum (× the pinned units, else
   * max(min_units, `unitCost`, the cheapest sample's cost)): a refusal then, before any LM
   * work. A pinned units or rounds value above the tenant's maximum is reported, and
   * nothing reserved. The request plans at the price within what was reserved; `finish`
   * ends it.
   */
  async begin(req: BeginRequest, now = Date.now()): Promise<Begun> {
    this.calls.begin++;
    if (!this.exists()) throw new UnknownTenant({});
    const online = this.settings.view();
    const invalid = invalidFor(online, req);
    const refused = (status: number) => this.record(refusalOf(req, status), 0, now);
    if (invalid) {
      refused(400);
      return { ...online, invalid, reservation: null };
    }
    const { least, most } = boundsFor(online, req);
    const reservation = await this.reserveUpTo(req.prompts * most, req.prompts * least, now);
    if (!reservation.ok) refused(429);
    return { ...online, invalid: null, reservation };
  }

  /**
   * An online request's second call: charge what it drew, end its reservation, and let the
   * price controller see the spend the price decided (`observed`, one entry per prompt;
   * null for requests whose spend the price did not decide).
   */
  finish(id: string, units: number, observed: readonly number[] | null, record: RequestRecord | null = null, now = Date.now()): number | null {
    this.calls.finish++;
    const charged = this.settle(id, units, now);
    // A reservation already ended (a retried finish, or one whose lease ran out) is counted no more.
    if (charged === null) return null;
    if (record) this.record(record, charged, now);
    if (observed && observed.length > 0) this.settings.observe(observed);
    return charged;
  }

  /** Ends a reservation, charging nothing more; an online request that failed says how (`record`). */
  release(id: string, record: RequestRecord | null = null, now = Date.now()): number {
    this.calls.release++;
    this.ensureSchema();
    if (record && this.budget.holds(id)) this.record(record, 0, now); // a retried release is counted once
    return this.budget.release(id);
  }

  // ---- budget shards (budget-shard.ts)

  /**
   * A budget shard's report, about once a second while it serves: what it charged to its
   * block since the last report, and the requests it served (rollups and the spend the
   * price should see), applied once per `seq` however often a report is retried; then its
   * block resized to what it asks (see Budget.resize) and what it serves by: online
   * settings and price, live keys, and how many shards there now are (0: give the block
   * back and send every request here).
   */
  async report(r: ShardReport, now = Date.now()): Promise<ShardGrant> {
    this.calls.report++;
    if (!this.exists()) throw new UnknownTenant({});
    let undercharged = 0;
    const sent = r.sent;
    if (sent) {
      const last = this.sql.exec<{ seq: number }>("SELECT seq FROM shard_report WHERE shard = ?", r.shard).toArray()[0]?.seq ?? -1;
      if (sent.seq > last) {
        // A block that ended (its lease ran out while its shard was unreachable) is charged
        // nothing more: its units may have gone to others, and charging them would overspend.
        if (sent.charge > 0) undercharged = sent.charge - ((sent.block === null ? null : this.budget.commit(sent.block, sent.charge, now, null)) ?? 0);
        for (const m of sent.minutes) this.rollups.add(m.rollup, m.t, m.extras);
        if (sent.observed.length > 0) this.settings.observe(sent.observed);
        this.sql.exec("INSERT INTO shard_report VALUES (?, ?, ?) ON CONFLICT(shard) DO UPDATE SET seq = excluded.seq, at = excluded.at", r.shard, sent.seq, now);
      }
    }
    const online = this.settings.view();
    const keep = online.shards === 0 ? r.atLeast : r.keep;
    const block = this.budget.resize(r.block, keep, r.atLeast, Math.max(1, online.shards), now, this.lease.online, `shard ${r.shard}`);
    await this.scheduleExpiry();
    return { block: block.id, remain: block.remain, online, keys: this.keys.live(), undercharged };
  }

  // ---- batches

  /** Registers a running batch if the tenant has room for one more, and lists it; false otherwise. */
  async startBatch(id: string, info: { prompts: number; mode: string; model: string | null } = { prompts: 0, mode: "best_of_k", model: null }, now = Date.now()): Promise<boolean> {
    const limits = this.batchLimits();
    if (!limits) return false;
    const ok = this.batches.start(id, limits.maxConcurrentBatches, now, this.lease.batch);
    if (ok) {
      this.batchLog.add({ id, ...info }, now);
      await this.scheduleExpiry();
    }
    return ok;
  }

  /** A running batch is alive: extend its slot's and its reservation's leases. False if either has already expired. */
  async renewBatch(id: string, reservation: string | null, now = Date.now()): Promise<boolean> {
    this.ensureSchema();
    const slot = this.batches.renew(id, now, this.lease.batch);
    const held = reservation === null || this.budget.renew(reservation, now, this.lease.batch);
    await this.scheduleExpiry();
    return slot && held;
  }

  /**
   * Frees a batch's slot. A batch that ran says how it ended (`ended`: its final status and
   * summary, kept in the tenant's list); without it, the submission never started and
   * leaves the list.
   */
  endBatch(id: string, ended: { status: string; summary: string } | null = null, now = Date.now()): void {
    this.ensureSchema();
    this.batches.end(id);
    if (ended) this.batchLog.end(id, ended.status, ended.summary, now);
    else this.batchLog.drop(id);
  }

  /** The tenant's batches, newest first: up to `limit` after the batch `after`; null if `after` is not one of them. */
  listBatches(limit: number, after: string | null, now = Date.now()): { rows: LoggedBatch[]; more: boolean } | null {
    if (!this.exists()) return { rows: [], more: false };
    // The retention BatchRun deletes ended batches after: a batch leaves the list when its data goes.
    const retention = settings(this.env).BATCH_RETENTION_SECONDS * 1000;
    return this.batchLog.page(limit, after, now, retention);
  }

  // ---- the console

  /** All-time counters (Prometheus), or null if the tenant does not exist. */
  lifetime(): (Lifetime & { name: string; price: number; target: number; calls: Record<string, number> }) | null {
    if (!this.exists()) return null;
    const online = this.settings.view();
    const t = this.sql.exec<{ name: string }>("SELECT name FROM tenant").one();
    return { ...this.rollups.lifetime(), name: t.name, price: online.price, target: online.target_units, calls: { ...this.calls } };
  }

  /** The tenant at a glance: budget use per window, online settings and price, keys, all-time totals, what allot earned, live calibration. */
  summary(now = Date.now()): TenantSummary | null {
    const t = this.view();
    const u = this.usage(now);
    if (!t || !u) return null;
    const online = this.settings.view();
    const all = this.rollups.lifetime();
    return {
      id: t.id,
      name: t.name,
      created_at: t.created_at,
      usage: u.windows.map((w) => ({ window: w.window, limit: w.limit, used: w.used, reserved: w.reserved })),
      online: { target_units: online.target_units, min_units: online.min_units, max_units: online.max_units, max_rounds: online.max_rounds, shards: online.shards, price: online.price, mean_units: online.mean_units, requests: online.requests },
      keys: t.keys.map((k) => ({ id: k.id, revoked: k.revoked_at !== null })),
      totals: { requests: all.requests, ok: all.ok, refused: all.refused, failed: all.failed, units: all.units, batch_units: all.batch_units },
      earned: estimateEarned(all.earned),
      calibration: all.calibration,
    };
  }

  /** Traffic over [from, to) in buckets of `step`, and the sum over the range; null if the tenant does not exist. */
  series(from: number, to: number, step: Step): { points: { t: number; r: Rollup }[] } | null {
    if (!this.exists()) return null;
    return { points: this.rollups.series(from, to, step) };
  }

  usage(now = Date.now()): Usage | null {
    const t = this.view();
    if (!t) return null;
    const used = this.budget.used(now);
    const reserved = this.budget.reserved(now);
    const limits = this.budget.limits();
    return {
      tenant: t.id,
      windows: WINDOWS.map((w: Window) => {
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

  // ---- leases

  /** The alarm fires at the earliest lease expiry. */
  private async scheduleExpiry(): Promise<void> {
    const next = [this.budget.nextExpiry(), this.batches.nextExpiry()].filter((t): t is number => t !== null);
    if (next.length === 0) return this.ctx.storage.deleteAlarm(); // leases are the ledger's only use of its alarm
    const at = Math.min(...next);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Ends what has expired; returns the units and batch slots freed. */
  async expireLeases(now = Date.now()): Promise<{ units: number; batches: number }> {
    if (!this.exists()) return { units: 0, batches: 0 };
    const freed = { units: this.budget.expire(now), batches: this.batches.expire(now) };
    await this.scheduleExpiry();
    return freed;
  }

  override async alarm(): Promise<void> {
    await this.expireLeases();
  }
}
