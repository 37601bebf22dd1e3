import { env as workerEnv, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import type { TenantLedger } from "../../src/tenants/ledger.js";

const env = workerEnv as unknown as Env;

const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };
const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://allot.test${path}`, init));

async function createTenant(budget: Record<string, number | null> = {}) {
  const res = await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "acme", budget }) });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; budget: Record<string, number | null> };
}

async function issueKey(tenant: string) {
  const res = await call(`/admin/tenants/${tenant}/keys`, { method: "POST", headers: ADMIN });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

const ledger = (id: string) => env.TENANTS.get(env.TENANTS.idFromName(id));

describe("admin routes", () => {
  it("need the admin token", async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: "Bearer wrong" }, { authorization: "Basic test-admin-token" }];
    for (const headers of attempts) {
      const res = await call("/admin/tenants", { method: "POST", headers, body: "{}" });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
    }
  });

  it("create a tenant, show it, set its budget; unknown tenants are 404 and bad ids 400", async () => {
    const t = await createTenant({ day: 100 });
    expect(t.id).toMatch(/^[0-9a-f]{16}$/);
    expect(t.budget).toEqual({ hour: null, day: 100, month: null });
    const put = await call(`/admin/tenants/${t.id}/budget`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ hour: 10, day: null }) });
    expect(((await put.json()) as { budget: unknown }).budget).toEqual({ hour: 10, day: null, month: null });
    expect((await call(`/admin/tenants/${"0".repeat(16)}`, { headers: ADMIN })).status).toBe(404);
    const bad = await call("/admin/tenants/nope", { headers: ADMIN });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("id");
    const invalid = await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "x", budget: { day: -1 } }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { param: string } }).error.param).toBe("budget.day");
  });
});

describe("API keys", () => {
  it("are shown once, stored as a hash, authenticate the tenant, and stop working when revoked", async () => {
    const t = await createTenant();
    const k = await issueKey(t.id);
    expect(k.key).toMatch(new RegExp(`^ak_${t.id}_${k.id}_[0-9a-f]{48}$`));
    const shown = (await (await call(`/admin/tenants/${t.id}`, { headers: ADMIN })).json()) as { keys: { id: string }[] };
    expect(JSON.stringify(shown)).not.toContain(k.key.split("_")[3]);
    expect(shown.keys.map((x) => x.id)).toEqual([k.id]);
    const stored = await runInDurableObject(ledger(t.id), (_i, state) => state.storage.sql.exec("SELECT hash FROM api_key").toArray());
    expect(stored).toHaveLength(1);

    const usage = await call("/v1/usage", { headers: { authorization: `Bearer ${k.key}` } });
    expect(usage.status).toBe(200);
    expect(((await usage.json()) as { tenant: string }).tenant).toBe(t.id);

    expect((await call(`/admin/tenants/${t.id}/keys/${k.id}`, { method: "DELETE", headers: ADMIN })).status).toBe(200);
    expect((await call("/v1/usage", { headers: { authorization: `Bearer ${k.key}` } })).status).toBe(401);
    expect((await call(`/admin/tenants/${t.id}/keys/${k.id}`, { method: "DELETE", headers: ADMIN })).status).toBe(404);
  });

  it("reject missing, malformed and forged keys, including another tenant's secret", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const ka = await issueKey(a.id);
    const kb = await issueKey(b.id);
    const forged = `ak_${b.id}_${kb.id}_${ka.key.split("_")[3]}`; // b's ids, a's secret
    for (const auth of [undefined, "Bearer", "Bearer not-a-key", `Bearer ${forged}`]) {
      const headers: Record<string, string> = auth ? { authorization: auth } : {};
      const res = await call("/v1/usage", { headers });
      expect(res.status).toBe(401);
    }
  });
});

describe("TenantLedger", () => {
  it("never overspends under many concurrent reservations", async () => {
    const t = await createTenant({ hour: 20 });
    const results = await Promise.all(Array.from({ length: 60 }, () => ledger(t.id).reserve(1)));
    expect(results.filter((r: { ok: boolean }) => r.ok)).toHaveLength(20);
    const refused = results.find((r: { ok: boolean }) => !r.ok);
    expect(refused).toMatchObject({ ok: false, window: "hour", limit: 20, reserved: 20, requested: 1 });
  });

  it("reserves, commits at most what was reserved, releases the rest, and reports usage", async () => {
    const t = await createTenant({ day: 10 });
    const stub = ledger(t.id);
    const r = await stub.reserve(6);
    if (!r.ok) throw new Error("expected a reservation");
    expect(await stub.commit(r.id, 4)).toBe(4);
    expect(await stub.commit(r.id, 5)).toBe(2); // only 2 of the 6 were left
    expect(await stub.release(r.id)).toBe(0);
    expect(await stub.commit(r.id, 1)).toBeNull(); // released: nothing more can be charged
    const r2 = await stub.reserve(3);
    if (!r2.ok) throw new Error("expected a reservation");
    expect(await stub.commit(r2.id, 1)).toBe(1);
    expect(await stub.release(r2.id)).toBe(2);
    const u = await stub.usage();
    const day = u!.windows.find((w: { window: string }) => w.window === "day")!;
    expect(day).toMatchObject({ limit: 10, used: 7, reserved: 0, remaining: 3 });
    expect(await stub.reserve(4)).toMatchObject({ ok: false, window: "day", used: 7 });
  });

  it("makes a reservation per ref once, and a keyed charge once", async () => {
    const t = await createTenant({ day: 10 });
    const stub = ledger(t.id);
    const a = await stub.reserve(4, "batch-1");
    const again = await stub.reserve(4, "batch-1");
    expect(again).toEqual(a);
    if (!a.ok) throw new Error("expected a reservation");
    expect(await stub.commit(a.id, 2, Date.now(), "item:0")).toBe(2);
    expect(await stub.commit(a.id, 2, Date.now(), "item:0")).toBe(0);
    expect((await stub.usage())!.windows.find((w: { window: string }) => w.window === "day")).toMatchObject({ used: 2, reserved: 2 });
  });

  it("starts each window afresh on schedule", async () => {
    const t = await createTenant({ hour: 5, day: 8 });
    const stub = ledger(t.id);
    const noon = Date.UTC(2026, 10, 28, 12, 30);
    const r = await stub.reserve(5, null, noon);
    if (!r.ok) throw new Error("expected a reservation");
    await stub.commit(r.id, 5, noon);
    await stub.release(r.id);
    expect(await stub.reserve(1, null, noon)).toMatchObject({ ok: false, window: "hour" });
    const next = await stub.reserve(3, null, noon + 3_600_000); // a new hour, the same day
    expect(next.ok).toBe(true);
    expect(await stub.reserve(1, null, noon + 3_600_000)).toMatchObject({ ok: false, window: "day", used: 5, reserved: 3 });
    const u = await stub.usage(noon + 3_600_000);
    expect(u!.windows.find((w: { window: string }) => w.window === "hour")).toMatchObject({ used: 0, resets_at: "2026-11-28T14:00:00.000Z" });
  });

  it("is a real Durable Object instance", async () => {
    const t = await createTenant();
    const isLedger = await runInDurableObject(ledger(t.id), (instance: TenantLedger) => typeof instance.reserve === "function");
    expect(isLedger).toBe(true);
  });
});
