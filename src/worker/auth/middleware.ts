import { createMiddleware } from "hono/factory";
import { settings } from "../config.js";
import type { AppEnv, Env } from "../env.js";
import { Misconfigured, TryLater, Unauthenticated } from "../../core/errors.js";
import { checkKey } from "../tenants/online-ledger.js";
import { tagMatches } from "./key-tag.js";
import { bearer, parseApiKey, sameSecret } from "./tokens.js";

/** Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = settings(c.env).ADMIN_TOKEN;
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

/** The tenant whose live API key `authorization` carries; 401 otherwise. */
export async function authenticatedTenant(env: Env, authorization: string | undefined, client: string, why = ""): Promise<string> {
  const token = bearer(authorization);
  if (!token) throw new Unauthenticated({ credential: "missing", message: `missing API key${why}: send Authorization: Bearer <key>` });
  const key = parseApiKey(token);
  // A key whose tag is wrong was not issued here: refused without touching any ledger.
  const issued = key !== null && (await tagMatches(settings(env).API_KEY_SECRET, key.untagged, key.tag));
  if (!issued || !(await checkKey(env, key.tenant, key.keyId, key.secret))) {
    throw await refused(env, client, "invalid or revoked API key");
  }
  return key.tenant;
}

/** Tenant routes: `Authorization: Bearer <API key>`; sets c.var.tenant. */
export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  c.set("tenant", await authenticatedTenant(c.env, c.req.header("authorization"), clientOf((n) => c.req.header(n))));
  await next();
});
