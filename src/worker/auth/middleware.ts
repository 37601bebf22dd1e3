import { createMiddleware } from "hono/factory";
import type { AppEnv, Env } from "../env.js";
import { Misconfigured, TryLater, Unauthenticated } from "../../core/errors.js";
import { type BudgetHome, shardStub, twice } from "../tenants/account.js";
import { tenantLedger } from "../tenants/lookup.js";
import { settings } from "../config.js";
import { tagMatches } from "./key-tag.js";
import { bearer, parseApiKey, sameSecret } from "./tokens.js";

/** Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) {
    throw new Misconfigured({ setting: "ADMIN_TOKEN", message: "admin routes are disabled: set the ADMIN_TOKEN secret (`.dev.vars` when running locally)" });
  }
  const token = bearer(c.req.header("authorization"));
  if (!token || !(await sameSecret(token, expected))) {
    throw await refused(c.env, clientOf((n) => c.req.header(n)), "admin routes need Authorization: Bearer <ADMIN_TOKEN>");
  }
  await next();
});

/** Who is calling, for throttling: the client's address as Cloudflare gives it. */
export const clientOf = (header: (name: string) => string | undefined): string => header("cf-connecting-ip") ?? header("x-real-ip") ?? "unknown";

/**
 * A failed authentication: 401, or 429 once this client has failed too often lately
 * (AUTH_FAILURES), so keys and admin tokens cannot be guessed at speed.
 */
async function refused(env: Env, client: string, message: string): Promise<TryLater | Unauthenticated> {
  if (env.AUTH_FAILURES && !(await env.AUTH_FAILURES.limit({ key: client })).success) {
    return new TryLater({ message: "too many failed authentications from this address; wait a minute", retryAfterMs: 60_000 });
  }
  return new Unauthenticated({ credential: "invalid", message });
}

/**
 * How many budget shards each tenant's online requests spread over, as far as this
 * isolate knows: learned when the ledger admits one of the tenant's keys, kept
 * SHARD_ROUTE_SECONDS. Authentication alone reads it, and says where a request's budget
 * lives (its BudgetHome), which serving is then handed.
 */
const shardCounts = new Map<string, { shards: number; until: number }>();
/** Tenants an isolate remembers at most: past it, it forgets them all (each costs one ledger call to learn again). */
const REMEMBERED = 10_000;

/**
 * Checks the key where the tenant's requests keep their accounts, and says where that is:
 * one of its budget shards picked at random (the key is checked against that shard's copy
 * of the live keys), or its ledger. The request then makes every budget call there.
 */
async function admitted(env: Env, tenant: string, keyId: string, secret: string): Promise<BudgetHome | null> {
  const now = Date.now();
  const known = shardCounts.get(tenant);
  const shards = known && known.until > now ? known.shards : 0;
  if (shards > 0) {
    const k = Math.floor(Math.random() * shards);
    return (await twice(() => shardStub(env, tenant, k).authenticate(tenant, k, keyId, secret))) ? { tenant, shard: k } : null;
  }
  const a = await twice(() => tenantLedger(env, tenant).admit(keyId, secret));
  if (!a.ok) return null;
  if (shardCounts.size >= REMEMBERED) shardCounts.clear();
  shardCounts.set(tenant, { shards: a.shards, until: now + settings(env).SHARD_ROUTE_SECONDS * 1000 });
  return { tenant, shard: a.shards > 0 ? Math.floor(Math.random() * a.shards) : null };
}

/** Where the live API key `authorization` carries keeps its tenant's accounts; 401 otherwise. */
export async function authenticated(env: Env, authorization: string | undefined, client: string, why = ""): Promise<BudgetHome> {
  const token = bearer(authorization);
  if (!token) throw new Unauthenticated({ credential: "missing", message: `missing API key${why}: send Authorization: Bearer <key>` });
  const key = parseApiKey(token);
  // A key whose tag is wrong was not issued here: refused without touching any ledger.
  const issued = key !== null && (await tagMatches(env.API_KEY_SECRET, key.untagged, key.tag));
  const home = issued ? await admitted(env, key!.tenant, key!.keyId, key!.secret) : null;
  if (!home) throw await refused(env, client, "invalid or revoked API key");
  return home;
}

/** Tenant routes: `Authorization: Bearer <API key>`; sets c.var.tenant and c.var.home (where its budget lives). */
export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const home = await authenticated(c.env, c.req.header("authorization"), clientOf((n) => c.req.header(n)));
  c.set("tenant", home.tenant);
  c.set("home", home);
  await next();
});
