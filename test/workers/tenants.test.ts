import { env as workerEnv } from "cloudflare:workers";
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call } from "./support.js";
import type { Env } from "../../src/worker/env.js";
import { keyTag } from "../../src/worker/auth/key-tag.js";
import type { TenantLedger } from "../../src/worker/tenants/ledger.js";

const env = workerEnv as unknown as Env;

const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

async function createTenant(budget: Record<string, number | null> = {}, limits?: Record<string, number>) {
  const res = await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "acme", budget, ...(limits ? { limits } : {}) }) });
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
    expect(k.key).toMatch(new RegExp(`^ak_${t.id}_${k.id}_[0-9a-f]{48}_[0-9a-f]{32}$`));
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
    // b's ids with a's secret, correctly tagged (as by someone who stole API_KEY_SECRET): the ledger refuses it.
    const untagged = `ak_${b.id}_${kb.id}_${ka.key.split("_")[3]}`;
    const forged = `${untagged}_${await keyTag("test-api-key-secret", untagged)}`;
    // a's key with b's tenant id, and a real key with another's tag: the tag refuses them.
    const retargeted = ka.key.replace(a.id, b.id);
    const retagged = `${ka.key.slice(0, ka.key.lastIndexOf("_"))}_${kb.key.slice(kb.key.lastIndexOf("_") + 1)}`;
    for (const auth of [undefined, "Bearer", "Bearer not-a-key", `Bearer ${forged}`, `Bearer ${retargeted}`, `Bearer ${retagged}`]) {
      const headers: Record<string, string> = auth ? { authorization: auth } : {};
      const res = await call("/v1/usage", { headers });
      expect(res.status).toBe(401);
    }
  });
});

describe("TenantLedger", () => {
  /** Sets the ledger's clock (it reads its own, never a caller's): a fixed instant for tests of windows and leases. */
  const clock = (stub: ReturnType<typeof ledger>, t: number) => runInDurableObject(stub, (l: TenantLedger) => void (l.clock = () => t));
  const day = (u: { windows: { window: string }[] } | null) => u!.windows.find((w) => w.window === "day")!;

  it("never overspends under many concurrent reservations, and says the units are held, not spent", async () => {
    const t = await createTenant({ hour: 20 });
    const results = await Promise.all(Array.from({ length: 60 }, () => ledger(t.id).reserve(1)));
    expect(results.filter((r: { ok: boolean }) => r.ok)).toHaveLength(20);
    const refused = results.find((r: { ok: boolean }) => !r.ok);
    expect(refused).toMatchObject({ ok: false, kind: "held", window: "hour", limit: 20, used: 0, reserved: 20, requested: 1 });
  });

  it("charges up to a total: never twice, what arrives after the end as owed, and reports usage", async () => {
    const t = await createTenant({ day: 10 });
    const stub = ledger(t.id);
    const r = await stub.reserve(6);
    if (!r.ok) throw new Error("expected a reservation");
    expect(await stub.commitTo(r.id, 4)).toBe(4);
    expect(await stub.commitTo(r.id, 4)).toBe(0); // a repeated charge charges nothing
    expect(await stub.commitTo(r.id, 6)).toBe(2);
    expect(await stub.releaseBatch(r.id)).toBe(0);
    // Work done after the reservation ended is still recorded (owed), never lost.
    expect(await stub.commitTo(r.id, 7)).toBe(1);
    const r2 = await stub.reserve(2);
    if (!r2.ok) throw new Error("expected a reservation");
    expect(await stub.commitTo(r2.id, 1)).toBe(1);
    expect(await stub.releaseBatch(r2.id)).toBe(1);
    expect(day(await stub.usage())).toMatchObject({ limit: 10, used: 8, reserved: 0, remaining: 2 });
    // The window's own use leaves 2: 4 is refused as spent, whatever is reserved.
    expect(await stub.reserve(4)).toMatchObject({ ok: false, kind: "exceeded", window: "day", used: 8 });
    expect(await stub.commitTo("no-such-reservation", 1)).toBeNull();
  });

  it("makes a reservation per ref once", async () => {
    const t = await createTenant({ day: 10 });
    const stub = ledger(t.id);
    const a = await stub.reserve(4, "batch-1");
    expect(await stub.reserve(4, "batch-1")).toEqual(a);
    if (!a.ok) throw new Error("expected a reservation");
    expect(await stub.commitTo(a.id, 2)).toBe(2);
    expect(day(await stub.usage())).toMatchObject({ used: 2, reserved: 2 });
  });

  it("starts each window afresh on schedule", async () => {
    const t = await createTenant({ hour: 5, day: 8 });
    const stub = ledger(t.id);
    // A fixed future hour: a past one would have the ledger's expiry alarm (due at once) race the test.
    const noon = Date.UTC(2099, 10, 28, 12, 30);
    await clock(stub, noon);
    const r = await stub.reserve(5);
    if (!r.ok) throw new Error("expected a reservation");
    await stub.commitTo(r.id, 5);
    await stub.releaseBatch(r.id);
    expect(await stub.reserve(1)).toMatchObject({ ok: false, kind: "exceeded", window: "hour" });
    await clock(stub, noon + 3_600_000); // a new hour, the same day
    expect((await stub.reserve(3)).ok).toBe(true);
    // 5 used and 3 held of the day's 8: the 3 come back when their holder ends, so this is "held", not spent.
    expect(await stub.reserve(1)).toMatchObject({ ok: false, kind: "held", window: "day", used: 5, reserved: 3 });
    const u = await stub.usage();
    expect(u!.windows.find((w: { window: string }) => w.window === "hour")).toMatchObject({ used: 0, resets_at: "2099-11-28T14:00:00.000Z" });
  });

  it("lets an online reservation nobody renews lapse after its lease: a crashed gateway does not lock a tenant out", async () => {
    const t = await createTenant({ day: 20 });
    const stub = ledger(t.id);
    const t0 = Date.UTC(2099, 10, 28, 12, 0);
    await clock(stub, t0);
    const lease = Number(env.ONLINE_LEASE_SECONDS) * 1000;
    const begin = { prompts: 1, pinned: 2, rounds: null, greedy: false, unitCost: 1, prefill: 0, route: "completions" as const };
    // Ten online requests whose gateway died: reserved, never renewed, charged or released.
    for (let i = 0; i < 10; i++) expect((await stub.begin({ ...begin, key: `dead-${i}` })).reservation).toMatchObject({ ok: true, units: 2 });
    // An eleventh waits for units, then is told to retry soon (they are held, not spent), never after the window's reset.
    const refused = (await stub.begin({ ...begin, key: "eleventh" })).reservation!;
    expect(refused).toMatchObject({ ok: false, kind: "held", window: "day", reserved: 20 });
    if (refused.ok) throw new Error("expected a refusal");
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(lease);
    await clock(stub, t0 + lease - 1000);
    expect(day(await stub.usage())).toMatchObject({ reserved: 20 });
    // After the lease they are free again, and the ledger's alarm ends them.
    await clock(stub, t0 + lease + 1000);
    expect(day(await stub.usage())).toMatchObject({ used: 0, reserved: 0, remaining: 20 });
    expect(await stub.expireLeases()).toMatchObject({ units: 20 });
    // A charge that arrives for a lapsed reservation is still recorded: the work was done.
    const stale = await runInDurableObject(stub, (_i: TenantLedger, state) => state.storage.sql.exec<{ id: string }>("SELECT id FROM reservation").toArray()[0].id);
    expect(await stub.finish(stale, 1, null, null)).toBe(1);
    expect(day(await stub.usage())).toMatchObject({ used: 1, reserved: 0 });
    // A day later even the ended reservations are gone.
    await clock(stub, t0 + 2 * 86_400_000);
    await stub.expireLeases();
    expect(await runInDurableObject(stub, (_i: TenantLedger, state) => state.storage.sql.exec("SELECT * FROM reservation").toArray().length)).toBe(0);
  });

  it("keeps a running batch's reservation and slot while it renews them, and frees both when it stops", async () => {
    const t = await createTenant({ day: 20 }, { max_concurrent_batches: 1 });
    const stub = ledger(t.id);
    const t0 = Date.UTC(2099, 10, 28, 10);
    await clock(stub, t0);
    expect(await stub.startBatch("b1")).toBe(true);
    const r = await stub.reserve(10, "b1");
    if (!r.ok) throw new Error("expected a reservation");
    // Renewed every 10 minutes for an hour: still held.
    for (let m = 10; m <= 60; m += 10) {
      await clock(stub, t0 + m * 60_000);
      expect(await stub.renewBatch("b1", r.id)).toBe(true);
    }
    await clock(stub, t0 + 61 * 60_000);
    expect(await stub.startBatch("b2")).toBe(false);
    expect(await stub.commitTo(r.id, 3)).toBe(3);
    // The batch dies: 15 minutes after its last renewal, its slot and reservation are gone.
    await clock(stub, t0 + 76 * 60_000);
    expect(await stub.renewBatch("b1", r.id)).toBe(false);
    expect(await stub.startBatch("b2")).toBe(true);
    expect(day(await stub.usage())).toMatchObject({ used: 3, reserved: 0 });
  });

  it("throttles an address after 20 failed authentications a minute, keys and admin token alike; others are not affected", async () => {
    const t = await createTenant();
    const good = await issueKey(t.id);
    const attacker = { "cf-connecting-ip": "203.0.113.7" };
    const wrong = good.key.slice(0, -1) + (good.key.endsWith("0") ? "1" : "0");
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const bad = i % 2 === 0 ? `Bearer ${wrong}` : "Bearer not-the-admin-token";
      const path = i % 2 === 0 ? "/v1/usage" : `/admin/tenants/${t.id}`;
      statuses.push((await call(path, { headers: { authorization: bad, ...attacker } })).status);
    }
    expect(statuses).toEqual([...new Array(20).fill(401), ...new Array(5).fill(429)]);
    // Another address, and the real key, are unaffected.
    expect((await call("/v1/usage", { headers: { authorization: `Bearer ${wrong}`, "cf-connecting-ip": "203.0.113.8" } })).status).toBe(401);
    expect((await call("/v1/usage", { headers: { authorization: `Bearer ${good.key}`, ...attacker } })).status).toBe(200);
  });

  it("creates no storage for keys of tenants that do not exist", async () => {
    const before = (await listDurableObjectIds(env.TENANTS)).length;
    const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
    for (let i = 0; i < 50; i++) {
      const res = await call("/v1/usage", { headers: { authorization: `Bearer ak_${hex(8)}_${hex(4)}_${hex(24)}_${hex(16)}`, "cf-connecting-ip": `198.51.100.${i}` } });
      expect(res.status).toBe(401);
    }
    expect((await listDurableObjectIds(env.TENANTS)).length).toBe(before);
  });

  it("is a real Durable Object instance", async () => {
    const t = await createTenant();
    const isLedger = await runInDurableObject(ledger(t.id), (instance: TenantLedger) => typeof instance.reserve === "function");
    expect(isLedger).toBe(true);
  });
});
