import { DurableObject } from "cloudflare:workers";
import type { CalibrationStatus, CreateTenant, Online, Tenant, Usage } from "../../core/contracts/tenants.js";
import type { FeedbackSummary } from "../../core/contracts/feedback.js";
import { UnknownTenant } from "../../core/errors.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import type { ModelServed, RequestRecord, Step, TenantSummary } from "../../core/contracts/metrics.js";
import { type CalibrationBins, type Earned, estimateEarned } from "../../core/metrics/earned.js";
import type { BinSums } from "../../core/audit/calibration.js";
import { BatchLog, BatchRegistry, type LoggedBatch } from "./batch-registry.js";
import { Budget, type BudgetLimits, type ReserveResult, units } from "./budget.js";
import { type AuditRecord, Audits, type ExportedAudit, type StoredAudit, auditedBins } from "./audits.js";
import { type FeedbackRow, FeedbackStore } from "./feedback.js";
import { ApiKeys } from "./keys.js";
import { Refits } from "./refits.js";
import { randomHex as hex } from "./lookup.js";
import { type BeginRefusal, type BeginRequest, type Begun, type BudgetView, OnlineSettings, type OnlineView, boundsFor, invalidFor, refusalOf } from "./online-settings.js";
import { type Lifetime, type Rollup, Rollups, emptyExtras, emptyRollup, extrasOf, rollupOf } from "./rollups.js";
import { holdsLedger, migrate } from "./schema.js";
import { WINDOWS, type Window, windowBounds } from "./windows.js";

import type { ShardGrant, ShardReport } from "./budget-shard.js";

export type { ReserveResult, ReserveUpToResult } from "./budget.js";

/** The ledger's calls of the online path (GET /metrics: allot_ledger_calls_total), which budget shards exist to spread. */
type Call = "admit" | "begin" | "step" | "renew" | "finish" | "release" | "report";

/**
 * One tenant's ledger: its settings, API keys, budget with leased reservations, online
 * price, and running batches, each a module over the object's SQLite (keys.ts,
 * budget.ts, online-settings.ts, batch-registry.ts; schema.ts migrates it). A Durable
 * Object runs one call at a time and these methods do not await between reading and
 * writing, so concurrent reservations can never overspend.
 *
 * An object is written only by create() and what follows it: looking up an unknown API
 * key (authenticate) reads, and creates no storage.
 *
 * The ledger reads its own clock (`now()`): no time crosses objects in an argument.
 */
export class TenantLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly budget: Budget;
  private readonly keys: ApiKeys;
  private readonly settings: OnlineSettings;
  private readonly batches: BatchRegistry;
  private readonly batchLog: BatchLog;
  private readonly rollups: Rollups;
  private readonly audits: Audits;
  private readonly feedback: FeedbackStore;
  private readonly refits: Refits;
  private readonly calls: Record<Call, number> = { admit: 0, begin: 0, step: 0, renew: 0, finish: 0, release: 0, report: 0 };
  /** When begin last made the shards give back parked units (wall time). */
  private syncedAt = 0;
  /** Requests waiting for units that requests in flight hold: woken whenever units come back. */
  private readonly waiters = new Set<() => void>();
  /** Tests move this object's clock (runInDurableObject); in service it is the wall clock. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.budget = new Budget(this.sql, () => hex(8));
    this.keys = new ApiKeys(this.sql, hex);
    this.settings = new OnlineSettings(this.sql, () => settings(env).AUDIT_RATE);
    this.batches = new BatchRegistry(this.sql);
    this.batchLog = new BatchLog(this.sql);
    this.rollups = new Rollups(this.sql);
    this.audits = new Audits(this.sql);
    this.feedback = new FeedbackStore(this.sql);
    this.refits = new Refits(this.sql);
    settings(env); // a misconfigured deployment fails here, naming the setting, not halfway through a call
  }

  private now(): number {
    return this.clock();
  }

  /** How long a reservation lives unless renewed: an online request's and a batch's. */
  private get lease(): { online: number; batch: number } {
    const s = settings(this.env);
    return { online: s.ONLINE_LEASE_SECONDS * 1000, batch: s.BATCH_LEASE_SECONDS * 1000 };
  }

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

  private mustExist(): void {
    if (!this.exists()) throw new UnknownTenant({});
  }

  /** Creates the tenant (once; a second call is refused so an id is never reused). */
  create(id: string, spec: CreateTenant): Tenant | null {
    this.ensureSchema();
    if (this.exists()) return null;
    this.sql.exec("INSERT INTO tenant VALUES (?, ?, ?, ?, ?)", id, spec.name, this.now(), spec.limits.max_batch_size, spec.limits.max_concurrent_batches);
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

  /** New limits take effect at once: on the ledger, and on every budget shard before this returns. */
  async setBudget(budget: BudgetLimits): Promise<Tenant | null> {
    if (!this.exists()) return null;
    this.budget.write(budget);
    this.wake();
    await this.syncShards();
    return this.view();
  }

  /** Limits a batch must respect (null if the tenant does not exist). */
  batchLimits(): { maxBatchSize: number; maxConcurrentBatches: number; auditRate: number } | null {
    if (!this.exists()) return null;
    const t = this.sql.exec<{ max_batch_size: number; max_concurrent_batches: number }>("SELECT max_batch_size, max_concurrent_batches FROM tenant").one();
    // The share of the batch's prompts audited (batches/audit.ts): the tenant's audit_rate, as online.
    return { maxBatchSize: t.max_batch_size, maxConcurrentBatches: t.max_concurrent_batches, auditRate: this.settings.view().audit_rate };
  }

  // ---- keys

  async addKey(tenantId: string): Promise<{ id: string; key: string } | null> {
    return this.exists() ? this.keys.issue(tenantId) : null;
  }

  /** Revokes a key; every budget shard has stopped taking it before this returns. */
  async revokeKey(id: string): Promise<boolean> {
    const done = this.exists() && this.keys.revoke(id);
    if (done) await this.syncShards();
    return done;
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

  /**
   * The online settings as a request is served by (begin here, and a budget shard's grant):
   * with the tenant's refits per predictor when its calibration is "audited" (refits.ts).
   */
  private online(): OnlineView {
    const o = this.settings.view();
    return o.calibration === "audited" ? { ...o, refits: this.refits.applied() } : o;
  }

  async setOnline(o: Online): Promise<Online | null> {
    if (!this.exists()) return null;
    const before = this.settings.view().shards;
    this.settings.set(o);
    await this.syncShards(Math.max(before, o.shards));
    return this.settings.view();
  }

  /**
   * Makes every budget shard report now, so what changed here (a limit, a revoked key, the
   * settings) reaches them before the change is acknowledged, rather than within a report
   * interval. A shard that cannot be reached learns it at its next report; it serves by its
   * last one for at most STALE_MS meanwhile (budget-shard.ts).
   */
  private async syncShards(count = this.settings.view().shards): Promise<void> {
    const t = this.sql.exec<{ id: string }>("SELECT id FROM tenant").one().id;
    const ids = Array.from({ length: count }, (_, k) => this.env.BUDGET_SHARDS.idFromName(`${t}/${k}`));
    await Promise.all(ids.map((id) => this.env.BUDGET_SHARDS.get(id).sync().catch(() => undefined)));
  }

  // ---- budget

  /** Every caller waiting for units tries again: some came back (released, charged below what was held, expired). */
  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when units come back, or after `ms`. */
  private freed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
    });
  }

  /**
   * When units held by requests in flight are likely back: about one request's time (the
   * mean of the last minute's, at least a second), and at the latest when the earliest
   * lease runs out.
   */
  private heldFor(earliestExpiry: number | null): number {
    const now = this.now();
    const r = this.rollups.series(now - 60_000, now + 1, "minute").reduce((a, p) => ({ n: a.n + p.r.ok, ms: a.ms + p.r.added_sum + p.r.lm_sum }), { n: 0, ms: 0 });
    const typical = Math.max(1000, r.n > 0 ? r.ms / r.n : 1000);
    return earliestExpiry === null ? typical : Math.max(1000, Math.min(typical, earliestExpiry - now));
  }

  /** Reserves `units` for a batch (a lease of BATCH_LEASE_SECONDS, renewed by renewBatch). See Budget.reserve. */
  async reserve(units: number, ref: string | null = null): Promise<ReserveResult> {
    this.ensureSchema();
    const r = this.budget.reserve(units, ref, this.now(), this.lease.batch, ref);
    if (r.ok) await this.scheduleExpiry();
    return r;
  }

  /**
   * A batch's charge: its reservation charged up to `total` units in all (what it has
   * delivered so far), in one call per step whatever the number of prompts; a repeated
   * charge records nothing more. What is newly charged is counted in the rollups.
   */
  commitTo(id: string, total: number): number | null {
    this.ensureSchema();
    const now = this.now();
    const taken = this.budget.commitTo(id, total, now);
    if (taken) this.rollups.add({ ...emptyRollup(), batch_units: taken }, now);
    return taken;
  }

  /** Counts one online request in the rollups (its units as charged, the price and target now in force). */
  private record(r: RequestRecord, units: number, now: number): void {
    const online = this.settings.view();
    this.rollups.add(rollupOf(r, units, online.price, online.target_units), now, extrasOf(r));
  }

  /**
   * An online request's first call: its online settings and price, and a reservation of
   * what it is expected to spend (its prompts' prefills, and the tenant's target units
   * each within its bounds: online-settings.ts boundsFor), or less when the budget has
   * less left, but never less than its minimum. When the minimum does not fit because
   * requests in flight hold the units, it waits for them (ONLINE_WAIT_MS) and is then told
   * when to try again (`held`); only a window whose own use leaves no room refuses it as
   * spent (`exceeded`). A pinned units or rounds value above the tenant's maximum is
   * reported, and nothing reserved.
   */
  async begin(req: BeginRequest): Promise<Begun> {
    this.calls.begin++;
    this.mustExist();
    const online = this.online();
    const invalid = invalidFor(online, req);
    if (invalid) {
      this.record(refusalOf(req, 400), 0, this.now());
      return { ...online, invalid, reservation: null };
    }
    const { least, want } = boundsFor(online, req);
    // How long it may wait is wall time (the budget's own clock may be a test's fixed instant).
    const deadline = Date.now() + settings(this.env).ONLINE_WAIT_MS;
    let synced = false;
    for (;;) {
      const now = this.now();
      const r = this.budget.reserveUpTo(req.prompts * want, req.prompts * least, now, this.lease.online, "online", req.key ?? null);
      if (r.ok) {
        await this.scheduleExpiry();
        return { ...online, invalid: null, reservation: r, budget: this.tightest() };
      }
      if (r.kind === "exceeded" || Date.now() >= deadline) {
        this.record(refusalOf(req, 429), 0, now);
        const refusal: BeginRefusal = { ...r, retryAfterMs: r.kind === "held" ? this.heldFor(r.earliestExpiry) : Math.max(1000, r.resetsAt - now) };
        return { ...online, invalid: null, reservation: refusal };
      }
      // Units parked in budget shards' blocks are not in flight: the shards report now, and
      // blocks this near the limit shrink to what their requests hold (Budget.resize).
      // (At most once a report interval: under a burst, one sync serves every waiting request.)
      if (!synced && this.budget.blocksHeld(now) > 0 && Date.now() - this.syncedAt >= settings(this.env).LEDGER_REPORT_MS) {
        synced = true;
        this.syncedAt = Date.now();
        await this.syncShards();
        continue;
      }
      await this.freed(deadline - Date.now());
    }
  }

  /**
   * An online request between rounds: charge what it has drawn so far (`spent`, in all),
   * and hold `need` more for its next round, as far as the budget has room (fewer: the
   * round is cut to fit), renewing its lease. Null when the reservation has ended.
   */
  step(id: string, spent: number, need: number): { units: number } | null {
    this.calls.step++;
    this.ensureSchema();
    const now = this.now();
    if (this.budget.commitTo(id, spent, now) === null) return null;
    const units = this.budget.grow(id, spent + need, now, this.lease.online);
    return units === null ? null : { units };
  }

  /** Renews an online request's lease while it works (a heartbeat); false when the reservation has ended. */
  renew(id: string): boolean {
    this.calls.renew++;
    this.ensureSchema();
    return this.budget.renew(id, this.now(), this.lease.online);
  }

  /**
   * An online request's last call: charge what it spent in all (prefills and samples),
   * end its reservation, and let the price controller see the spend the price decided
   * (`observed`, one entry per prompt; null for requests whose spend the price did not
   * decide). Counted once: a retried finish charges and records nothing more.
   */
  finish(id: string, spent: number, observed: readonly number[] | null, record: RequestRecord | null = null): number | null {
    this.calls.finish++;
    this.ensureSchema();
    const now = this.now();
    const live = this.budget.holds(id, now);
    const charged = this.budget.commitTo(id, spent, now);
    this.budget.release(id, now);
    this.wake();
    if (charged === null) return null;
    if (!live && charged === 0) return null; // a retried finish
    if (record) this.record(record, spent, now);
    if (observed && observed.length > 0) this.settings.observe(observed);
    return charged;
  }

  /** Ends a reservation, charging nothing more; an online request that failed says how (`record`). */
  release(id: string, record: RequestRecord | null = null): number {
    this.calls.release++;
    this.ensureSchema();
    const now = this.now();
    if (record && this.budget.holds(id, now)) this.record(record, 0, now); // a retried release is counted once
    const freed = this.budget.release(id, now);
    this.wake();
    return freed;
  }

  /** Counts an online request answered with an error before it reached `begin` (online/unbegun.ts): nothing held, nothing charged. */
  countUnbegun(r: RequestRecord): void {
    this.mustExist();
    this.record(r, 0, this.now());
  }

  // ---- audits (online/audit.ts)

  /**
   * Audited prompts of one request, drawn after its answer was charged: kept (the last
   * AUDIT_RETENTION), and counted apart from the tenant's spend (audits, audit_units).
   * Nothing here touches the budget: the cost of proof is the deployment's, not the tenant's.
   */
  recordAudits(rows: readonly AuditRecord[]): void {
    this.mustExist();
    const now = this.now();
    // A batch's audit already recorded (its `ref`: a batch resumed after an eviction records again) is neither kept nor counted twice.
    rows = this.audits.add(rows, now);
    if (rows.length === 0) return;
    this.refits.update(rows.flatMap((a) => (a.predictor !== null && a.predicted !== null ? [a.predictor] : [])), now);
    this.rollups.add({ ...emptyRollup(), audits: rows.length, audit_units: units(rows.reduce((s, a) => s + a.audit_units, 0)) }, now);
  }

  /**
   * What the console's reliability plot pools over tenants, per predictor: the bins' sums
   * over the audits kept (unbiased labels: each prompt's pass rate over every sample), and
   * the live bins (each prompt's first sample). Null if the tenant does not exist.
   */
  calibrationSums(): { audited: Record<string, BinSums[]>; live: Record<string, CalibrationBins> } | null {
    if (!this.exists()) return null;
    return { audited: auditedBins(this.audits.list()), live: this.rollups.lifetime().calibration };
  }

  /** Audited prompts kept, recorded in [from, to), oldest first; null if the tenant does not exist. */
  listAudits(from = 0, to = Number.MAX_SAFE_INTEGER): StoredAudit[] | null {
    if (!this.exists()) return null;
    return this.audits.list(from, to);
  }

  /** A page of audited prompts with their hidden states (GET /admin/tenants/{id}/audits: `allot audits export`); null if the tenant does not exist. */
  exportAudits(after: number, limit: number): { rows: ExportedAudit[]; more: boolean } | null {
    if (!this.exists()) return null;
    return this.audits.page(after, limit);
  }

  /** What GET /v1/usage reports allot earned from (the Worker computes it: a bootstrap is not the ledger's work): the audits kept, and the all-time prediction. */
  earnedInputs(): { audits: StoredAudit[]; predicted: Earned | null } | null {
    if (!this.exists()) return null;
    return { audits: this.audits.list(), predicted: estimateEarned(this.rollups.lifetime().earned) };
  }

  /**
   * Per predictor with a refit, the tenant's calibration of it learnt from its audits, and
   * whether it has drifted (GET /v1/usage, the admin summary); null if the tenant does not exist.
   */
  calibration(): CalibrationStatus[] | null {
    if (!this.exists()) return null;
    return this.refits.status(this.settings.view().calibration === "audited");
  }

  /** A predictor's refits kept, newest first (the latest is the one served); null if the tenant does not exist. */
  refitHistory(predictor: string): { at: number; audits: number; temperature: number; strength: number; ece_before: number; ece_after: number }[] | null {
    if (!this.exists()) return null;
    return this.refits.history(predictor).map((r) => ({ at: r.at, audits: r.audits, temperature: r.temperature, strength: r.strength, ece_before: r.ece_before, ece_after: r.ece_after }));
  }

  // ---- feedback (routes/feedback.ts)

  /**
   * A client's feedback on a response (the route has checked the id was given to this
   * tenant): kept, replacing earlier feedback on the same response. Straight to the ledger
   * whatever the tenant's budget shards: feedback holds no budget, and it is rare.
   */
  recordFeedback(f: FeedbackRow): { replaced: boolean; at: number } {
    this.mustExist();
    const now = this.now();
    return { ...this.feedback.put(f, now), at: now };
  }

  /** How many responses have feedback and their mean reward; null if the tenant does not exist. */
  feedbackSummary(): FeedbackSummary | null {
    if (!this.exists()) return null;
    return this.feedback.summary();
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
  async report(r: ShardReport): Promise<ShardGrant> {
    this.calls.report++;
    this.mustExist();
    const now = this.now();
    const sent = r.sent;
    if (sent) {
      const last = this.sql.exec<{ seq: number }>("SELECT seq FROM shard_report WHERE shard = ?", r.shard).toArray()[0]?.seq ?? -1;
      if (sent.seq > last) {
        // Charged to the block it was spent from, live or ended: the work was done.
        if (sent.charge > 0 && sent.block !== null) this.budget.commitTo(sent.block, sent.total, now);
        for (const m of sent.minutes) this.rollups.add(m.rollup, m.t, m.extras);
        if (sent.observed.length > 0) this.settings.observe(sent.observed);
        this.sql.exec("INSERT INTO shard_report VALUES (?, ?, ?) ON CONFLICT(shard) DO UPDATE SET seq = excluded.seq, at = excluded.at", r.shard, sent.seq, now);
      }
    }
    const online = this.online();
    const keep = online.shards === 0 ? r.atLeast : r.keep;
    const block = this.budget.resize(r.block, keep, r.atLeast, Math.max(1, online.shards), now, this.lease.online, `shard ${r.shard}`);
    this.wake();
    await this.scheduleExpiry();
    return { block: block.id, remain: block.remain, online, keys: this.keys.live() };
  }

  // ---- batches

  /** Registers a running batch if the tenant has room for one more, and lists it; false otherwise. */
  async startBatch(id: string, info: { prompts: number; mode: string; model: string | null } = { prompts: 0, mode: "best_of_k", model: null }): Promise<boolean> {
    const limits = this.batchLimits();
    if (!limits) return false;
    const now = this.now();
    const ok = this.batches.start(id, limits.maxConcurrentBatches, now, this.lease.batch);
    if (ok) {
      this.batchLog.add({ id, ...info }, now);
      await this.scheduleExpiry();
    }
    return ok;
  }

  /** A running batch is alive: extend its slot's and its reservation's leases. False if either has already expired. */
  async renewBatch(id: string, reservation: string | null): Promise<boolean> {
    this.ensureSchema();
    const now = this.now();
    const slot = this.batches.renew(id, now, this.lease.batch);
    const held = reservation === null || this.budget.renew(reservation, now, this.lease.batch);
    await this.scheduleExpiry();
    return slot && held;
  }

  /** Ends a batch's reservation: what it did not charge comes back. */
  releaseBatch(reservation: string): number {
    this.ensureSchema();
    const freed = this.budget.release(reservation, this.now());
    this.wake();
    return freed;
  }

  /**
   * Frees a batch's slot. A batch that ran says how it ended (`ended`: its final status and
   * summary, kept in the tenant's list); without it, the submission never started and
   * leaves the list.
   */
  endBatch(id: string, ended: { status: string; summary: string; served?: Record<string, ModelServed> } | null = null): void {
    this.ensureSchema();
    this.batches.end(id);
    const now = this.now();
    if (!ended) return this.batchLog.drop(id);
    // Counted once, when the batch first ends: a settlement repeated (BatchRun.settle is) adds nothing.
    if (this.batchLog.end(id, ended.status, ended.summary, now) && ended.served) this.countBatch(id, ended.summary, ended.served, now);
  }

  /**
   * A batch's answered prompts and their samples in the rollups, apart from online traffic
   * (its units were counted as they were charged: commitTo), and per predictor (or
   * "uniform") and model in the all-time `batch_served`, as `served` counts online prompts.
   */
  private countBatch(id: string, summary: string, served: Record<string, ModelServed>, now: number): void {
    const predictor = (JSON.parse(summary) as { allocation?: { predictor?: string | null } | null }).allocation?.predictor ?? "uniform";
    const model = this.batchLog.model(id);
    const models: Record<string, ModelServed> = {};
    for (const [m, x] of Object.entries(served)) models[m || (model ?? "unknown")] = x;
    const all = Object.values(models);
    const delta = { ...emptyRollup(), batch_prompts: all.reduce((s, x) => s + x.prompts, 0), batch_samples: all.reduce((s, x) => s + x.samples, 0) };
    if (delta.batch_prompts === 0) return;
    this.rollups.add(delta, now, { ...emptyExtras(), batch_served: { [predictor]: models } });
  }

  /** The tenant's batches, newest first: up to `limit` after the batch `after`; null if `after` is not one of them. */
  listBatches(limit: number, after: string | null): { rows: LoggedBatch[]; more: boolean } | null {
    if (!this.exists()) return { rows: [], more: false };
    // The retention BatchRun deletes ended batches after: a batch leaves the list when its data goes.
    return this.batchLog.page(limit, after, this.now(), settings(this.env).BATCH_RETENTION_SECONDS * 1000);
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
  summary(): TenantSummary | null {
    const t = this.view();
    const u = this.usage();
    if (!t || !u) return null;
    const online = this.settings.view();
    const all = this.rollups.lifetime();
    return {
      id: t.id,
      name: t.name,
      created_at: t.created_at,
      usage: u.windows.map((w) => ({ window: w.window, limit: w.limit, used: w.used, reserved: w.reserved })),
      online: { target_units: online.target_units, min_units: online.min_units, max_units: online.max_units, max_rounds: online.max_rounds, shards: online.shards, audit_rate: online.audit_rate, price: online.price, mean_units: online.mean_units, requests: online.requests },
      keys: t.keys.map((k) => ({ id: k.id, revoked: k.revoked_at !== null })),
      totals: { requests: all.requests, ok: all.ok, refused: all.refused, rejected: all.rejected, failed: all.failed, prompts: all.prompts, units: all.units, batch_prompts: all.batch_prompts, batch_samples: all.batch_samples, batch_units: all.batch_units },
      earned: estimateEarned(all.earned),
      calibration: all.calibration,
      audited_calibration: this.refits.status(online.calibration === "audited"),
      feedback: this.feedback.summary(),
      served: all.served,
      batch_served: all.batch_served,
    };
  }

  /** Traffic over [from, to) in buckets of `step`, and the sum over the range; null if the tenant does not exist. */
  series(from: number, to: number, step: Step): { points: { t: number; r: Rollup }[] } | null {
    if (!this.exists()) return null;
    return { points: this.rollups.series(from, to, step) };
  }

  /** The window with the fewest units left (for the x-ratelimit-* headers), or null when no window is limited. */
  private tightest(): BudgetView {
    const u = this.usage();
    let best: BudgetView = null;
    for (const w of u?.windows ?? []) {
      if (w.limit === null || w.remaining === null) continue;
      if (best === null || w.remaining < best.remaining) best = { limit: w.limit, remaining: w.remaining, resetsAt: Date.parse(w.resets_at) };
    }
    return best;
  }

  usage(): Usage | null {
    const t = this.view();
    if (!t) return null;
    const now = this.now();
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
          used: units(used[w]),
          reserved,
          remaining: limit === null ? null : units(Math.max(0, limit - used[w] - reserved)),
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
  async expireLeases(): Promise<{ units: number; batches: number }> {
    if (!this.exists()) return { units: 0, batches: 0 };
    const now = this.now();
    const freed = { units: this.budget.expire(now), batches: this.batches.expire(now) };
    this.wake();
    await this.scheduleExpiry();
    return freed;
  }

  override async alarm(): Promise<void> {
    await this.expireLeases();
  }
}
