import { createMiddleware } from "hono/factory";
import type { AppEnv, Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { tenantLedger } from "../tenants/lookup.js";
import { tagMatches } from "./key-tag.js";
import { bearer, parseApiKey, sameSecret } from "./tokens.js";

/** Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) {
    throw new ApiError(503, "api_error", "admin routes are disabled: set the ADMIN_TOKEN secret (`.dev.vars` when running locally)");
  }
  const token = bearer(c.req.header("authorization"));
  if (!token || !(await sameSecret(token, expected))) {
    throw new ApiError(401, "authentication_error", "admin routes need Authorization: Bearer <ADMIN_TOKEN>");
  }
  await next();
});

/** The tenant whose live API key `authorization` carries; 401 otherwise. */
export async function authenticatedTenant(env: Env, authorization: string | undefined, why = ""): Promise<string> {
  const token = bearer(authorization);
  if (!token) throw new ApiError(401, "authentication_error", `missing API key${why}: send Authorization: Bearer <key>`);
  const key = parseApiKey(token);
  // A key whose tag is wrong was not issued here: refused without touching any ledger.
  const issued = key !== null && (await tagMatches(env.API_KEY_SECRET, key.untagged, key.tag));
  if (!issued || !(await tenantLedger(env, key.tenant).authenticate(key.keyId, key.secret))) {
    throw new ApiError(401, "authentication_error", "invalid or revoked API key");
  }
  return key.tenant;
}

/** Tenant routes: `Authorization: Bearer <API key>`; sets c.var.tenant. */
export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  c.set("tenant", await authenticatedTenant(c.env, c.req.header("authorization")));
  await next();
});
