import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env.js";
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

/** Tenant routes: `Authorization: Bearer <API key>`; sets c.var.tenant. */
export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header("authorization"));
  if (!token) throw new ApiError(401, "authentication_error", "missing API key: send Authorization: Bearer <key>");
  const key = parseApiKey(token);
  // A key whose tag is wrong was not issued here: refused without touching any ledger.
  const issued = key !== null && (await tagMatches(c.env.API_KEY_SECRET, key.untagged, key.tag));
  if (!issued || !(await tenantLedger(c.env, key.tenant).authenticate(key.keyId, key.secret))) {
    throw new ApiError(401, "authentication_error", "invalid or revoked API key");
  }
  c.set("tenant", key.tenant);
  await next();
});
