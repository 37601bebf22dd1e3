// Helpers shared by the workers tests: the gateway called in-process, and a fresh tenant.
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/worker/index.js";

export const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

/**
 * The gateway: the Worker's own app (src/worker/index.ts's default export) with the test's
 * real bindings and an execution context of its own, as workerd calls it.
 *
 * Not `exports.default.fetch` by default: under @cloudflare/vitest-pool-workers every such
 * call builds the entrypoint's wrapper anew, and each construction nests its prototype in one
 * more Proxy (createProxyPrototypeClass), so each call costs about 0.3 ms more than the one
 * before it (workers-sdk#15446): a file of 750 calls spent most of its two minutes there.
 */
export const call = (path: string, init?: RequestInit) => worker.fetch(new Request(`https://allot.test${path}`, init), env, createExecutionContext());

/** Through the Worker's entry as workerd dispatches a request (its own request context): for the few tests that are about that. */
export const viaEntry = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://allot.test${path}`, init));

/** A new tenant with one API key: its id, and headers that carry the key. */
export async function newTenant(budget: Record<string, number> = { day: 100_000 }, limits?: Record<string, number>) {
  const t = (await (await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "t", budget, ...(limits ? { limits } : {}) }) })).json()) as { id: string };
  const k = (await (await call(`/admin/tenants/${t.id}/keys`, { method: "POST", headers: ADMIN })).json()) as { key: string };
  return { id: t.id, key: k.key, headers: { authorization: `Bearer ${k.key}`, "content-type": "application/json" } };
}

export { until } from "../support/until.js";
