/**
 * Online requests answered with an error before they reached their tenant's ledger: a
 * body that fails validation, an unknown model, a pinned value that does not parse. Every
 * request that reaches the ledger (`begin`) is counted there, whatever its outcome
 * (refused, invalid, failed, served); these never did, so the tenant's rollups missed them
 * and the console said "0 rejected" after dozens of 400s. This middleware, attached to each
 * online route after authentication (the tenant is known), counts them once, after the
 * answer is sent (waitUntil: no latency on the error path). A request whose key is refused
 * (401) has no tenant to count it against.
 */
import { createMiddleware } from "hono/factory";
import type { ONLINE_ROUTES, RequestRecord } from "../../core/contracts/metrics.js";
import type { AppEnv } from "../env.js";
import { tenantLedger } from "../tenants/lookup.js";
import { nothingDrawn } from "../tenants/online-settings.js";

/** Set by serving when the request reaches its ledger (from then on the ledger counts it). */
export interface OnlineTally {
  begun: boolean;
}

/** What a request that ended before its ledger records: its route and status, nothing drawn. */
export const unbegunRecord = (route: (typeof ONLINE_ROUTES)[number], status: number): RequestRecord => nothingDrawn(route, status, 0);

/**
 * Counts the route's error answers that never reached the ledger. Sets `c.var.tally`,
 * which the route hands to serving (startOnline's `tally`).
 *
 * @example completions.use("/v1/completions", requireTenant, countUnbegun("completions"))
 */
export const countUnbegun = (route: (typeof ONLINE_ROUTES)[number]) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const tally: OnlineTally = { begun: false };
    c.set("tally", tally);
    await next();
    if (tally.begun || c.res.status < 400) return;
    const ledger = tenantLedger(c.env, c.get("tenant"));
    c.executionCtx.waitUntil(ledger.countUnbegun(unbegunRecord(route, c.res.status)).catch(() => undefined));
  });
