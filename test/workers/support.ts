// Helpers shared by the workers tests: the gateway called in-process, and a fresh tenant.
import { exports } from "cloudflare:workers";

export const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };
export const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://allot.test${path}`, init));

/** A new tenant with one API key: its id, and headers that carry the key. */
export async function newTenant(budget: Record<string, number> = { day: 100_000 }, limits?: Record<string, number>) {
  const t = (await (await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "t", budget, ...(limits ? { limits } : {}) }) })).json()) as { id: string };
  const k = (await (await call(`/admin/tenants/${t.id}/keys`, { method: "POST", headers: ADMIN })).json()) as { key: string };
  return { id: t.id, key: k.key, headers: { authorization: `Bearer ${k.key}`, "content-type": "application/json" } };
}

export { until } from "../support/until.js";
