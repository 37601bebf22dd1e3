import { DurableObject } from "cloudflare:workers";
import type { CreateTenant, Online, Tenant, Usage } from "../contracts/tenants.js";
import type { Env } from "../env.js";
import { BatchRegistry } from "./batch-registry.js";
import { Budget, type BudgetLimits, type ReserveResult, type ReserveUpToResult } from "./budget.js";
import { ApiKeys } from "./keys.js";
import { randomHex as hex } from "./lookup.js";
import { OnlineSettings } from "./online-settings.js";
import { holdsLedger, migrate } from "./schema.js";
import { WINDOWS, type Window, windowBounds } from "./windows.js";

export type { ReserveResult, ReserveUpToResult } from "./budget.js";

/** How long a reservation lives unless renewed: an online request's (ONLINE_LEASE_SECONDS) and a batch's (BATCH_LEASE_SECONDS). */
function leases(env: Env): { online: number; batch: number } {
  const seconds = (v: string | undefined, fallback: number) => {
    const n = Number(v);
    return v !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return { online: seconds(env.ONLINE_LEASE_SECONDS, 300) * 1000, batch: seconds(env.BATCH_LEASE_SECONDS, 900) * 1000 };
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
  private readonly lease: { online: number; batch: number };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.budget = new Budget(this.sql, () => hex(8));
    this.keys = new ApiKeys(this.sql, hex);
    this.settings = new OnlineSettings(this.sql);
    this.batches = new BatchRegistry(this.sql);
    this.lease = leases(env);
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

  commit(id: string, units: number, now = Date.now(), key: string | null = null): number | null {
    this.ensureSchema();
    return this.budget.commit(id, units, now, key);
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
  async begin(
    req: { prompts: number; pinned: number | null; rounds: number | null; greedy: boolean; unitCost: number },
    now = Date.now(),
  ): Promise<Online & { price: number; requests: number; mean_units: number; invalid: "units" | "rounds" | null; reservation: ReserveUpToResult | null }> {
    if (!this.exists()) throw new Error("no such tenant");
    const online = this.settings.view();
    const invalid = req.pinned !== null && req.pinned > online.max_units ? "units" : req.rounds !== null && req.rounds > online.max_rounds ? "rounds" : null;
    if (invalid) return { ...online, invalid, reservation: null };
    const least = req.pinned ?? Math.max(req.greedy ? 1 : online.min_units, req.unitCost);
    const most = req.pinned ?? (req.greedy && req.unitCost === 1 ? 1 : Math.max(least, online.max_units));
    return { ...online, invalid: null, reservation: await this.reserveUpTo(req.prompts * most, req.prompts * least, now) };
  }

  /**
   * An online request's second call: charge what it drew, end its reservation, and let the
   * price controller see the spend the price decided (`observed`, one entry per prompt;
   * null for requests whose spend the price did not decide).
   */
  finish(id: string, units: number, observed: readonly number[] | null, now = Date.now()): number | null {
    const charged = this.settle(id, units, now);
    if (observed && observed.length > 0) this.settings.observe(observed);
    return charged;
  }

  release(id: string): number {
    this.ensureSchema();
    return this.budget.release(id);
  }

  // ---- batches

  /** Registers a running batch if the tenant has room for one more; false otherwise. */
  async startBatch(id: string, now = Date.now()): Promise<boolean> {
    const limits = this.batchLimits();
    if (!limits) return false;
    const ok = this.batches.start(id, limits.maxConcurrentBatches, now, this.lease.batch);
    if (ok) await this.scheduleExpiry();
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

  endBatch(id: string): void {
    this.ensureSchema();
    this.batches.end(id);
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
