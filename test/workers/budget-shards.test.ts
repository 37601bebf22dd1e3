// Budget shards (src/tenants/budget-shard.ts): a hot tenant's online requests spread over
// shard objects holding blocks of its budget. Real Durable Objects and the real reference
// LM; the only stand-in is the fault proxy's delay, a slow LM so an eviction lands mid-request.
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../../src/worker/env.js";
import { ADMIN, call, newTenant } from "./support.js";

const env = workerEnv as unknown as Env;
const ledger = (id: string) => env.TENANTS.get(env.TENANTS.idFromName(id));
const shard = (id: string, k: number) => env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${id}/${k}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function hotTenant(budget: Record<string, number>, shards: number) {
  const t = await newTenant(budget);
  const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, max_units: 16, shards }) });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ shards });
  return t;
}

type Answer = { status: number; units: number };
async function complete(h: Record<string, string>, i: number, model = "strong", extra: Record<string, string> = {}): Promise<Answer> {
  const res = await call("/v1/completions", { method: "POST", headers: { ...h, ...extra }, body: JSON.stringify({ model, prompt: `${100 + i}+${200 + 3 * i}=`, temperature: 0.8, max_tokens: 8, seed: i }) });
  const body = (await res.json()) as { allot?: { units: number } };
  return { status: res.status, units: res.status === 200 ? body.allot!.units : 0 };
}

/** What the LM has been sent (through the fault proxy, which records it), numbered. */
const seenByLm = async () => (await (await fetch(`${inject("lmUrl")}/__seen`)).json()) as { seq: number; body: string }[];

/** Waits until the LM has been sent each of `prompts` in a request numbered past `since`. */
async function atTheLm(prompts: readonly string[], since: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const seen = (await seenByLm()).filter((r) => r.seq > since);
    if (prompts.every((p) => seen.some((r) => r.body.includes(p)))) return;
    await sleep(10);
  }
  throw new Error("the requests never reached the LM");
}

/** Every shard reports what it holds and gives back its spare (as its alarm does once idle). */
const drain = (id: string, shards: number) => Promise.all(Array.from({ length: shards }, (_, k) => shard(id, k).flush(true)));

async function day(h: Record<string, string>) {
  const u = (await (await call("/v1/usage", { headers: h })).json()) as { windows: { window: string; used: number; reserved: number; limit: number | null }[] };
  return u.windows.find((w) => w.window === "day")!;
}

describe("budget shards for a hot tenant", () => {
  it("never overspends a budget spread over shards under many concurrent requests: blocks first, the ledger's own reservations as the limit nears", async () => {
    const t = await hotTenant({ day: 300 }, 3);
    // Pinned to 8 units each, so every served request is charged exactly 8, whatever the
    // timing: 49 × 8 = 392 units asked of 300, so some must be refused.
    const pinned = { "x-allot-units": "8" };
    const warm = await complete(t.headers, 0, "strong", pinned); // the isolate learns the tenant's shards
    expect(warm).toEqual({ status: 200, units: 8 });
    const all = await Promise.all(Array.from({ length: 48 }, (_, i) => complete(t.headers, i + 1, "strong", pinned)));
    for (const a of all) expect([200, 429]).toContain(a.status);
    const served = all.filter((a) => a.status === 200).length;
    expect(served).toBeLessThanOrEqual(36); // (300 − 8) / 8
    const d = await (async () => (await drain(t.id, 3), day(t.headers)))();
    expect(d).toMatchObject({ used: 8 + 8 * served, reserved: 0 });
    expect(d.used).toBeLessThanOrEqual(300);
    // Both paths ran: holds out of shards' blocks (a shard's first request always gets one),
    // and reservations at the ledger, which alone refuses (a shard never answers 429).
    const calls = (await ledger(t.id).lifetime())!.calls;
    expect(calls.report).toBeGreaterThan(0);
    expect(calls.begin).toBeGreaterThanOrEqual(48 - served);
    expect(calls.begin).toBeLessThan(48);
  });

  it("far from the limit, the ledger sees reports, not requests; the console and the price see every request once", async () => {
    const t = await hotTenant({ day: 1_000_000 }, 2);
    const answers: Answer[] = [await complete(t.headers, 99)]; // after it, this isolate sends the tenant's keys to its shards
    for (let i = 0; i < 5; i++) answers.push(...(await Promise.all(Array.from({ length: 8 }, (_, j) => complete(t.headers, 8 * i + j)))));
    for (const a of answers) expect(a.status).toBe(200);
    await drain(t.id, 2);
    const calls = (await ledger(t.id).lifetime())!.calls;
    expect(calls).toMatchObject({ admit: 1, begin: 0, finish: 0, release: 0 });
    expect(calls.report).toBeLessThan(answers.length);
    const charged = answers.reduce((s, a) => s + a.units, 0);
    const d = await day(t.headers);
    expect(d.used).toBeCloseTo(charged, 9);
    expect(d.reserved).toBe(0);
    const summary = (await ledger(t.id).summary())!;
    expect(summary.totals).toMatchObject({ requests: 41, ok: 41 });
    expect(summary.totals.units).toBeCloseTo(charged, 9);
    expect(summary.online).toMatchObject({ requests: 41, shards: 2 }); // the price saw each request's spend once
  });

  it("refuses a revoked key on every shard once the revocation is acknowledged (the ledger makes its shards report first)", async () => {
    const t = await hotTenant({ day: 100_000 }, 2);
    expect((await complete(t.headers, 1)).status).toBe(200);
    const keyId = t.key.split("_")[2];
    expect((await call(`/admin/tenants/${t.id}/keys/${keyId}`, { method: "DELETE", headers: ADMIN })).status).toBeLessThan(300);
    for (let i = 0; i < 6; i++) expect((await complete(t.headers, i)).status).toBe(401);
  });

  it.each([2, 0])("loses no charge and charges none twice when every object is evicted while requests are in flight (%i shards)", async (shards) => {
    const t = await hotTenant({ day: 100_000 }, shards);
    const warm = await complete(t.headers, 0);
    expect(warm.status).toBe(200);
    // A slow LM (300 ms a call), so the eviction lands while the requests hold units (pinned:
    // the fault proxy's model name has no predictor).
    const since = Math.max(0, ...(await seenByLm()).map((r) => r.seq));
    const flying = Promise.all(Array.from({ length: 8 }, (_, i) => complete(t.headers, i + 1, "fault-delayx300:strong", { "x-allot-units": String(1 + (i % 3)) })));
    // Evicted once every request is at the LM (the proxy holds each 300 ms), whatever the
    // machine's load: a fixed wait could land while a request was still authenticating.
    await atTheLm(Array.from({ length: 8 }, (_, i) => `"${101 + i}+${203 + 3 * i}="`), since);
    await abortAllDurableObjects(); // storage stays: holds and what was charged are rows
    const answers = await flying;
    for (const a of answers) expect(a.status).toBe(200);
    await drain(t.id, shards);
    const charged = warm.units + answers.reduce((s, a) => s + a.units, 0);
    const d = await day(t.headers);
    expect(d.used).toBeCloseTo(charged, 9);
    expect(d.reserved).toBe(0);
    const summary = (await ledger(t.id).summary())!;
    expect(summary.totals.requests).toBe(9);
    expect(summary.totals.units).toBeCloseTo(charged, 9);
  });

  it("applies a shard's report once, however often it is sent", async () => {
    const t = await hotTenant({ day: 1_000 }, 2);
    const l = ledger(t.id);
    const g = await l.report({ shard: 0, block: null, keep: 100, atLeast: 0, sent: null });
    expect(g).toMatchObject({ remain: 100 });
    const sent = { seq: 1, block: g.block, charge: 7, total: 7, minutes: [], observed: [7] };
    for (let i = 0; i < 3; i++) await l.report({ shard: 0, block: g.block, keep: 50, atLeast: 0, sent });
    expect(await day(t.headers)).toMatchObject({ used: 7, reserved: 50 });
    // A block is never shrunk below what its shard has promised, and never past the limit.
    expect(await l.report({ shard: 0, block: g.block, keep: 0, atLeast: 20, sent: null })).toMatchObject({ block: g.block, remain: 20 });
    expect(await l.report({ shard: 0, block: g.block, keep: 5_000, atLeast: 20, sent: null })).toMatchObject({ remain: 20 + Math.floor((1_000 - 7 - 20) / (2 * 2)) }); // 1/(2 × shards) of the room beyond what is promised
    const ended = await l.report({ shard: 0, block: g.block, keep: 0, atLeast: 0, sent: { ...sent, seq: 2, charge: 3, total: 10 } });
    expect(ended).toMatchObject({ block: null, remain: 0 });
    expect(await day(t.headers)).toMatchObject({ used: 10, reserved: 0 });
    const seq = await runInDurableObject(l, (_i, state) => state.storage.sql.exec<{ seq: number }>("SELECT seq FROM shard_report WHERE shard = 0").one().seq);
    expect(seq).toBe(2);
  });

  it("takes a tenant set back to 0 shards back to its ledger, and its shards give their blocks back", async () => {
    const t = await hotTenant({ day: 100_000 }, 2);
    const before = await Promise.all(Array.from({ length: 6 }, (_, i) => complete(t.headers, i)));
    await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, shards: 0 }) });
    // The shards learned it before the change was acknowledged; this isolate still routes to them.
    const begins = (await ledger(t.id).lifetime())!.calls.begin;
    const after = await Promise.all(Array.from({ length: 6 }, (_, i) => complete(t.headers, 10 + i)));
    for (const a of [...before, ...after]) expect(a.status).toBe(200);
    expect((await ledger(t.id).lifetime())!.calls.begin).toBe(begins + 6);
    for (const s of await Promise.all([0, 1].map((k) => shard(t.id, k).flush(false)))) expect(s).toMatchObject({ block: null, remain: 0, held: 0 });
    const d = await day(t.headers);
    expect(d.used).toBeCloseTo([...before, ...after].reduce((s, a) => s + a.units, 0), 9);
    expect(d.reserved).toBe(0);
  });

  it("rejects a shard count out of range", async () => {
    const t = await newTenant();
    for (const shards of [-1, 65, 1.5, "4"]) {
      const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, shards }) });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain("shards");
    }
  });
});

