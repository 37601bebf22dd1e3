/**
 * Where one online request keeps its accounts, made explicit: authentication decides it
 * (`BudgetHome`: the tenant's ledger, or one of its budget shards when the tenant has
 * them) and serving is handed it. Every call of the request (begin, step, renew, finish or
 * release) goes to that one object, so a shard's holds are settled where they were made.
 */
import type { RequestRecord } from "../../core/contracts/metrics.js";
import type { Env } from "../env.js";
import { tenantLedger } from "./lookup.js";
import type { BeginRequest, Begun } from "./online-settings.js";

/** The tenant, and the budget shard its request's accounts are kept in (null: its ledger). */
export interface BudgetHome {
  readonly tenant: string;
  readonly shard: number | null;
}

/** The calls an online request makes about its budget. */
export interface OnlineAccount {
  /** Settings, price, and a reservation of what the request is expected to spend (or a refusal). */
  begin(req: BeginRequest): Promise<Begun>;
  /** Charge up to `spent` in all; hold `need` more for the next round (as far as there is room); renew. Null: the reservation ended. */
  step(id: string, spent: number, need: number): Promise<{ units: number } | null>;
  /** A heartbeat while the request works; false when the reservation has ended. */
  renew(id: string): Promise<boolean>;
  /** Charge `spent` in all, end the reservation, count the request. */
  finish(id: string, spent: number, observed: readonly number[] | null, record: RequestRecord | null): Promise<number | null>;
  /** End the reservation charging nothing more (the request failed: `record` says how). */
  release(id: string, record: RequestRecord | null): Promise<number>;
}

/** A budget shard's object: "<tenant>/<k>". */
export const shardStub = (env: Env, tenant: string, k: number) => env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${tenant}/${k}`));

/**
 * A call tried twice, each time through a new stub: a stub whose object was reset (a
 * deploy, an eviction) fails every later call, and a settlement's units would stay held
 * until their lease ran out (authentication, a read, is retried the same way). Every
 * budget call is idempotent: charges are up to a total, a second finish or release finds
 * its reservation ended, and a begin carries the request's key, so a begin repeated after
 * a lost answer returns the reservation the first one made.
 */
export async function twice<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch {
    return call();
  }
}

/**
 * The accounts of one online request at `home`.
 *
 * @example const account = accountOf(env, { tenant: "t1", shard: null }); const begun = await account.begin(req);
 */
export function accountOf(env: Env, home: BudgetHome): OnlineAccount {
  const { tenant, shard: k } = home;
  if (k === null) {
    return {
      begin: (req) => twice(() => tenantLedger(env, tenant).begin(req)),
      step: (id, spent, need) => twice(() => tenantLedger(env, tenant).step(id, spent, need)),
      renew: (id) => twice(() => tenantLedger(env, tenant).renew(id)),
      finish: (id, spent, observed, record) => twice(() => tenantLedger(env, tenant).finish(id, spent, observed, record)),
      release: (id, record) => twice(() => tenantLedger(env, tenant).release(id, record)),
    };
  }
  return {
    begin: (req) => twice(() => shardStub(env, tenant, k).begin(tenant, k, req)),
    step: (id, spent, need) => twice(() => shardStub(env, tenant, k).step(tenant, k, id, spent, need)),
    renew: (id) => twice(() => shardStub(env, tenant, k).renew(tenant, k, id)),
    finish: (id, spent, observed, record) => twice(() => shardStub(env, tenant, k).finish(tenant, k, id, spent, observed, record)),
    release: (id, record) => twice(() => shardStub(env, tenant, k).release(tenant, k, id, record)),
  };
}
