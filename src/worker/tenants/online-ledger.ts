/**
 * Where a tenant's online requests keep their accounts: its ledger, or, for a hot tenant
 * (online `shards` > 0), one of its budget shards, picked at random per request so the
 * load spreads evenly. An isolate learns a tenant's shard count when the ledger admits one
 * of its keys, and keeps it SHARD_ROUTE_SECONDS (default 10); until then, and for a
 * tenant without shards, every call goes to the ledger as before.
 */
import type { RequestRecord } from "../../core/contracts/metrics.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { tenantLedger } from "./lookup.js";
import type { BeginRequest, Begun } from "./online-settings.js";

/** The calls an online request makes about its budget: the ledger's, or a shard's. */
export interface OnlineLedger {
  begin(req: BeginRequest): Promise<Begun>;
  finish(id: string, units: number, observed: readonly number[] | null, record: RequestRecord | null): Promise<number | null>;
  release(id: string, record: RequestRecord | null): Promise<number>;
}

const routes = new Map<string, { shards: number; until: number }>();
/** Tenants an isolate remembers at most: past it, it forgets them all (each costs one ledger call to learn again). */
const REMEMBERED = 10_000;

/** The shards this isolate knows `tenant` to have now (0 when it does not know). */
function shardsOf(tenant: string, now: number): number {
  const r = routes.get(tenant);
  return r && r.until > now ? r.shards : 0;
}

const shardStub = (env: Env, tenant: string, k: number) => env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${tenant}/${k}`));

/** Whether `secret` is the live key `keyId` of `tenant`: asked of a shard when the tenant has them, else of its ledger. */
export async function checkKey(env: Env, tenant: string, keyId: string, secret: string, now = Date.now()): Promise<boolean> {
  const n = shardsOf(tenant, now);
  if (n > 0) {
    const k = Math.floor(Math.random() * n);
    return shardStub(env, tenant, k).authenticate(tenant, k, keyId, secret);
  }
  const a = await tenantLedger(env, tenant).admit(keyId, secret);
  if (a.ok) {
    if (routes.size >= REMEMBERED) routes.clear();
    routes.set(tenant, { shards: a.shards, until: now + settings(env).SHARD_ROUTE_SECONDS * 1000 });
  }
  return a.ok;
}

/**
 * Settling is tried twice, each time through a new stub: a stub whose object was reset
 * (a deploy, an eviction) fails every later call, and the request's units would stay
 * held until their lease ran out. Both calls are idempotent (a second finish or release
 * finds its reservation gone: nothing charged or counted again). `begin` is tried once:
 * a begin that failed after reserving would hold units for a lease; the request fails
 * before any LM work instead.
 */
async function twice<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch {
    return call();
  }
}

/** The accounts of one online request of `tenant`: begin, then finish or release, all on one object. */
export function onlineLedger(env: Env, tenant: string, now = Date.now()): OnlineLedger {
  const n = shardsOf(tenant, now);
  if (n === 0) {
    return {
      begin: (req) => tenantLedger(env, tenant).begin(req),
      finish: (id, units, observed, record) => twice(() => tenantLedger(env, tenant).finish(id, units, observed, record)),
      release: (id, record) => twice(() => tenantLedger(env, tenant).release(id, record)),
    };
  }
  const k = Math.floor(Math.random() * n);
  return {
    begin: (req) => shardStub(env, tenant, k).begin(tenant, k, req),
    finish: (id, units, observed, record) => twice(() => shardStub(env, tenant, k).finish(tenant, k, id, units, observed, record)),
    release: (id, record) => twice(() => shardStub(env, tenant, k).release(tenant, k, id, record)),
  };
}
