// Budgets that hold and never refuse wrongly (issue #21), through the real gateway, real
// Durable Objects and the real reference LM. A request reserves what it expects to spend
// and tops up as it goes; one refused while units remain is a defect, so is one unit spent
// past a limit, or one drawn and not charged. The stand-ins are the fault proxy's delay (a
// slow LM) and, where an LM must be slower than the test's call timeout, a direct call of
// serveOnline with a longer one.
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/core/config/settings.js";
import type { Env } from "../../src/worker/env.js";
import { serveOnline } from "../../src/worker/online/serve.js";
import { runInDurableObject } from "cloudflare:test";
import { ADMIN, call, newTenant, until } from "./support.js";

const env = workerEnv as unknown as Env;
const PREFILL = Number(SETTINGS.PREFILL_UNITS.default);

type Answer = { status: number; units: number; type: string | null; retryAfter: string | null; shouldRetry: string | null };
async function complete(h: Record<string, string>, prompt: string, extra: Record<string, string> = {}, body: Record<string, unknown> = {}): Promise<Answer> {
  const res = await call("/v1/completions", { method: "POST", headers: { ...h, ...extra }, body: JSON.stringify({ model: "strong", prompt, temperature: 0.8, max_tokens: 8, ...body }) });
  const json = (await res.json()) as { allot?: { units: number }; error?: { type: string } };
  return { status: res.status, units: res.status === 200 ? json.allot!.units : 0, type: json.error?.type ?? null, retryAfter: res.headers.get("retry-after"), shouldRetry: res.headers.get("x-should-retry") };
}

async function day(h: Record<string, string>) {
  const u = (await (await call("/v1/usage", { headers: h })).json()) as { windows: { window: string; used: number; reserved: number; limit: number | null }[] };
  return u.windows.find((w) => w.window === "day")!;
}

/** Every budget shard of a tenant reports what it has charged (and, idle, gives back its block). */
const flush = (tenant: string, shards: number) => Promise.all(Array.from({ length: shards }, (_, k) => env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${tenant}/${k}`)).flush(true)));

/** Hard 3+3-digit sums: the strong model solves them about half the time, so requests draw several samples. */
const hard = (i: number) => `${345 + i}+${678 - i}=`;

describe("no wrongful refusal", () => {
  it("30 concurrent requests on a budget of 100: none refused while a request's minimum remains, none past the limit", async () => {
    const t = await newTenant({ day: 100 });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => complete(t.headers, hard(i), {}, { seed: i })));
    for (const a of answers) expect([200, 429]).toContain(a.status);
    const d = await day(t.headers);
    expect(d.reserved).toBe(0);
    const served = answers.filter((a) => a.status === 200);
    expect(d.used).toBeCloseTo(served.reduce((s, a) => s + a.units, 0), 9);
    expect(d.used).toBeLessThanOrEqual(100);
    // A request's minimum is one sample and its prefill: refused only when the budget has less left.
    const least = 1 + PREFILL;
    for (const a of answers.filter((x) => x.status === 429)) expect(100 - d.used).toBeLessThan(least);
    // Every request reserved what it expects (the tenant's target and its prefill), not its cap of 16: all 30 fit on first sight.
    expect(served.length).toBeGreaterThanOrEqual(Math.min(30, Math.floor(100 / (4 + PREFILL))));
  });

  it("units held by requests in flight are a retry-soon 429 (rate_limit_exceeded, Retry-After in seconds), never budget_exceeded", async () => {
    const t = await newTenant({ day: 10 });
    // A slow LM (2 s a call) holds 8 of the 10 units in flight: pinned, so nothing else moves.
    const slow = complete(t.headers, "12+34=", { "x-allot-units": "8" }, { model: "fault-delayx1500:strong" });
    await until(async () => (await day(t.headers)).reserved === 8, { timeoutMs: 5_000, what: "the slow request's 8 units to be held" });
    const held = await complete(t.headers, "12+34=", { "x-allot-units": "4" });
    expect(held).toMatchObject({ status: 429, type: "rate_limit_error" });
    expect(held.shouldRetry).toBe("true");
    expect(Number(held.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(held.retryAfter)).toBeLessThanOrEqual(Number(env.ONLINE_LEASE_SECONDS));
    expect((await slow).status).toBe(200);
    // Once they are back, the same request is served.
    expect((await complete(t.headers, "12+34=", { "x-allot-units": "2" })).status).toBe(200);
    // And a window whose own use leaves no room is budget_exceeded, told not to retry before its reset.
    const spent = await complete(t.headers, "12+34=", { "x-allot-units": "4" });
    expect(spent).toMatchObject({ status: 429, type: "budget_exceeded", shouldRetry: "false" });
    expect(Number(spent.retryAfter)).toBeGreaterThan(Number(env.ONLINE_LEASE_SECONDS));
  });

  it("a request whose minimum is held waits for it to come back rather than being refused", async () => {
    const t = await newTenant({ day: 10 });
    const stub = env.TENANTS.get(env.TENANTS.idFromName(t.id));
    const begin = (pinned: number) => stub.begin({ key: crypto.randomUUID(), prompts: 1, pinned, rounds: null, greedy: false, unitCost: 1, prefill: 0, route: "completions" });
    const a = (await begin(8)).reservation!;
    if (!a.ok) throw new Error("expected a reservation");
    // 2 left of 10: B's 4 are held by A, so B waits (up to ONLINE_WAIT_MS) …
    const b = begin(4);
    await until(async () => (await stub.lifetime())!.calls.begin === 2, { timeoutMs: 5_000, what: "B to be waiting in the ledger" });
    // … and A spends 3 of its 8: 5 come back, and B gets its 4.
    expect(await stub.finish(a.id, 3, null, null)).toBe(3);
    expect((await b).reservation).toMatchObject({ ok: true, units: 4 });
    expect(await day(t.headers)).toMatchObject({ used: 3, reserved: 4 });
  });
});

describe("leases that cannot be outlived", () => {
  it("a request slower than its lease renews it while it works: LM work within the limit, charged what it answered", async () => {
    const t = await newTenant({ day: 3 });
    // One LM call held 8 s, longer than the 6 s online lease (vitest.config.ts), with a call
    // timeout long enough to wait for it.
    const slowEnv = { ...workerEnv, LM_TIMEOUT_MS: "15000" } as unknown as Env;
    const slow = serveOnline(slowEnv, { tenant: t.id, shard: null }, { inputs: [{ prompt: "12+34=" }], model: "fault-delayx8000:strong", params: { temperature: 0.8, topP: 1, maxTokens: 8 }, pinned: { units: 2, param: "x-allot-units" } });
    // Past the lease it began with, and renewed beyond it: only the heartbeat keeps the 2 units held.
    const lease = Number(env.ONLINE_LEASE_SECONDS) * 1000;
    const stub = env.TENANTS.get(env.TENANTS.idFromName(t.id));
    const reservation = () => runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ created_at: number; expires_at: number }>("SELECT created_at, expires_at FROM reservation WHERE owner = 'online' AND ended_at IS NULL").toArray()[0]);
    const renewed = await until(async () => {
      const r = await reservation();
      return r && Date.now() > r.created_at + lease + 200 && r;
    }, { timeoutMs: lease + 5_000, everyMs: 100, what: "the request to outlive its first lease" });
    expect(renewed.expires_at).toBeGreaterThan(renewed.created_at + lease);
    const other = await complete(t.headers, "12+34=", { "x-allot-units": "2" });
    expect(other.status).toBe(429); // the slow request's units are still its own
    const served = await slow;
    expect(served.units).toBe(2);
    const d = await day(t.headers);
    expect(d).toMatchObject({ used: 2, reserved: 0 });
    // LM work answered (2 samples) = charged (2) ≤ the limit (3).
    expect(d.used).toBeLessThanOrEqual(3);
  }, 30_000);
});

describe("a begin whose answer was lost", () => {
  it.each([0, 2])("repeated with its key returns the reservation the first made, holding its units once (%i budget shards)", async (shards) => {
    const t = await newTenant({ day: 10 });
    if (shards > 0) await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, max_units: 16, shards }) });
    const req = { key: crypto.randomUUID(), prompts: 1, pinned: 4, rounds: null, greedy: false, unitCost: 1, prefill: 0, route: "completions" as const };
    const begin = () =>
      shards === 0 ? env.TENANTS.get(env.TENANTS.idFromName(t.id)).begin(req) : env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${t.id}/0`)).begin(t.id, 0, req);
    const first = (await begin()).reservation!;
    const again = (await begin()).reservation!;
    if (!first.ok || !again.ok) throw new Error("expected reservations");
    expect(again.id).toBe(first.id);
    expect(again.units).toBe(first.units);
    // One reservation of 4 units is live where the request began, not two.
    const live = (sql: SqlStorage, table: string) =>
      sql.exec<{ n: number; units: number }>(`SELECT COUNT(*) AS n, COALESCE(SUM(units), 0) AS units FROM ${table} ended_at IS NULL AND expires_at > ?`, Date.now()).one();
    // (A shard may hand a begin to the ledger: count both.)
    const atLedger = await runInDurableObject(env.TENANTS.get(env.TENANTS.idFromName(t.id)), (_i, state) => live(state.storage.sql, "reservation WHERE owner = 'online' AND"));
    const inShard = shards === 0 ? { n: 0, units: 0 } : await runInDurableObject(env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${t.id}/0`)), (_i, state) => live(state.storage.sql, "hold WHERE"));
    expect({ n: atLedger.n + inShard.n, units: atLedger.units + inShard.units }).toEqual({ n: 1, units: 4 });
  });
});

describe("limits that take effect", () => {
  it.each([0, 4])("lowering a limit stops a busy tenant at once (%i budget shards): nothing begun after the change is served", async (shards) => {
    const t = await newTenant({ day: 100_000 });
    if (shards > 0) await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, max_units: 16, shards }) });
    let stop = false;
    let readAt = Infinity;
    let changedAt = Infinity;
    const done: (Answer & { started: number; ended: number })[] = [];
    const loop = async (k: number) => {
      for (let i = 0; !stop; i++) {
        const started = Date.now();
        const a = await complete(t.headers, hard(k * 100 + i), { "x-allot-units": "2" });
        done.push({ ...a, started, ended: Date.now() });
      }
    };
    const loops = Promise.all(Array.from({ length: 6 }, (_, k) => loop(k)));
    // Busy: a dozen requests served before the limit changes.
    await until(() => done.filter((a) => a.status === 200).length >= 12, { timeoutMs: 20_000, what: "a dozen requests served" });
    readAt = Date.now();
    await flush(t.id, shards); // what shards have charged and not yet reported, reported
    const before = await day(t.headers);
    // The limit drops to what the ledger counts as used now: every unit beyond is refused from here on.
    const limit = Math.ceil(before.used);
    const res = await call(`/admin/tenants/${t.id}/budget`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ day: limit }) });
    expect(res.status).toBe(200);
    changedAt = Date.now();
    // Every loop has begun and ended requests since the change.
    await until(() => done.filter((a) => a.started > changedAt).length >= 12, { timeoutMs: 20_000, what: "requests begun after the change" });
    stop = true;
    await loops;
    // Nothing begun after the change was acknowledged was served (with shards too: the ledger made them report first).
    const after = done.filter((a) => a.started > changedAt);
    expect(after.length).toBeGreaterThan(0);
    for (const a of after) expect(a.status).toBe(429);
    // What was charged past the new limit is bounded by the requests already under way when it
    // changed (those that ended after the ledger's count was read and began before the change).
    const underway = done.filter((a) => a.ended >= readAt && a.started <= changedAt).reduce((s, a) => s + a.units, 0);
    await flush(t.id, shards);
    const end = await day(t.headers);
    expect(end.used).toBeLessThanOrEqual(limit + underway + 1e-9);
    expect(end.reserved).toBe(0);
  }, 30_000);
});
