import { env as workerEnv } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, until } from "./support.js";
import { SETTINGS } from "../../src/core/config/settings.js";

/** What reading one prompt's hidden state costs (PREFILL_UNITS's default). */
const PREFILL = Number(SETTINGS.PREFILL_UNITS.default);
import { PROMPTS_PER_STEP } from "../../src/worker/batches/run.js";
import type { BatchStatus } from "../../src/core/contracts/batches.js";
import type { Env } from "../../src/worker/env.js";

const env = workerEnv as unknown as Env;
const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

async function tenant(budget: Record<string, number> = { day: 100_000 }, limits?: Record<string, number>) {
  const t = (await (await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "t", budget, ...(limits ? { limits } : {}) }) })).json()) as { id: string };
  const k = (await (await call(`/admin/tenants/${t.id}/keys`, { method: "POST", headers: ADMIN })).json()) as { key: string };
  const headers = { authorization: `Bearer ${k.key}`, "content-type": "application/json" };
  return { id: t.id, headers };
}

const EASY = ["1+1=", "2+3=", "12+34=", "45+21=", "7+8=", "31+12="];
const HARD = ["345+678=", "4567*8912=", "234+567=", "56*78=", "9876+1234=", "12*34="];
const prompts = (texts: string[]) => texts.map((prompt, i) => ({ id: `p${i}`, prompt }));

async function submit(h: Record<string, string>, body: unknown) {
  const res = await call("/v1/batches", { method: "POST", headers: h, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as BatchStatus & { error?: { type: string; param: string | null; message: string } } };
}

async function status(h: Record<string, string>, id: string) {
  return (await (await call(`/v1/batches/${id}`, { headers: h })).json()) as BatchStatus;
}

const TERMINAL = ["done", "failed", "cancelled"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The LM calls the fault proxy holds now (a delay model's): work in flight. */
const held = async () => (await (await fetch(`${env.LM_URL}/__held`)).json()) as { model: string; prompt: unknown }[];

/**
 * Waits until the batch ends, or `until` holds. The runtime fires the batch's alarms on
 * its own; a pending one is also fired at once, so tests do not wait on the scheduler.
 */
async function drive(h: Record<string, string>, id: string, until: (s: BatchStatus) => boolean = (s) => TERMINAL.includes(s.status)) {
  const stub = env.BATCHES.get(env.BATCHES.idFromName(id));
  for (let i = 0; i < 1_000; i++) {
    const s = await status(h, id);
    if (until(s)) return s;
    await runDurableObjectAlarm(stub);
    await sleep(10);
  }
  throw new Error(`batch ${id} did not get there: ${JSON.stringify(await status(h, id))}`);
}

async function results(h: Record<string, string>, id: string) {
  const text = await (await call(`/v1/batches/${id}/results`, { headers: h })).text();
  return text.trim() === "" ? [] : text.trim().split("\n").map((l) => JSON.parse(l) as { id: string; best: string | null; reward: number | null; units: number; predicted_success: number | null; status: string });
}

async function usage(h: Record<string, string>) {
  const u = (await (await call("/v1/usage", { headers: h })).json()) as { windows: { window: string; used: number; reserved: number }[] };
  return u.windows.find((w) => w.window === "day")!;
}

/** The tenant was charged `used` units (to rounding; prefills are fractions of a unit) and holds nothing. */
async function charged(h: Record<string, string>, used: number) {
  const day = await usage(h);
  expect(day.used).toBeCloseTo(used, 9);
  expect(day.reserved).toBe(0);
}

describe("batches", () => {
  it("run from submission to results: predict, allocate, sample, rerank, charge", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts([...EASY, ...HARD]), allocation: "learned", budget: { average: 4, min: 1, max: 8 }, sampling: { seed: 1, max_tokens: 12 } });
    expect(sub.status).toBe(202);
    expect(sub.body.status).toBe("queued");
    await drive(t.headers, sub.body.id);
    const s = await status(t.headers, sub.body.id);
    expect(s.status).toBe("done");
    expect(s.progress).toEqual({ sampled: 12, failed: 0 });
    expect(s.allocation).toMatchObject({ mode: "learned", budget_units: 48, predictor: "strong-binary" });
    expect(s.allocation!.allocated_units).toBeLessThanOrEqual(48);
    // What it was charged: the samples it was allocated, and a prefill for each prompt predicted.
    expect(s.allocation!.prefill_units).toBeCloseTo(12 * PREFILL, 9);
    expect(s.allocation!.units_used).toBeCloseTo(s.allocation!.allocated_units + s.allocation!.prefill_units, 9);
    const rs = await results(t.headers, sub.body.id);
    expect(rs.map((r) => r.id)).toEqual(prompts([...EASY, ...HARD]).map((p) => p.id));
    for (const r of rs) {
      expect(r.status).toBe("done");
      expect(r.predicted_success).toBeGreaterThanOrEqual(0);
      if (r.units > 0) expect([0, 1]).toContain(r.reward);
    }
    // Easy prompts get fewer samples than hard ones (the point of the method).
    const units = (ids: string[]) => rs.filter((r) => ids.includes(r.id)).reduce((a, r) => a + r.units, 0);
    expect(units(["p0", "p1", "p2", "p3", "p4", "p5"])).toBeLessThan(units(["p6", "p7", "p8", "p9", "p10", "p11"]));
    await charged(t.headers, s.allocation!.units_used);
  });

  it("streams progress as server-sent events until the batch ends", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(HARD), allocation: "uniform", budget: { average: 2, min: 1, max: 4 } });
    const res = await call(`/v1/batches/${sub.body.id}/events`, { headers: t.headers });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text(); // the stream ends with the batch
    const events = text.trim().split("\n\n").map((block) => Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()])));
    expect(events.at(-1)!.event).toBe("end");
    const progress = events.filter((e) => e.event === "progress").map((e) => JSON.parse(e.data) as BatchStatus);
    expect(progress.at(-1)!.status).toBe("done");
    expect(progress.length).toBeGreaterThanOrEqual(2);
  });

  it("runs with a curve predictor (graded rewards' predictor) too", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(HARD.slice(0, 3)), predictor: "strong-graded", budget: { average: 3, min: 1, max: 8 } });
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", allocation: { predictor: "strong-graded" } });
    for (const r of await results(t.headers, sub.body.id)) expect(r.predicted_success).toBeGreaterThan(0);
  });

  it("uniform allocation gives every prompt best-of-B at the same budget", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(HARD), allocation: "uniform", budget: { average: 3, min: 1, max: 8 } });
    await drive(t.headers, sub.body.id);
    const rs = await results(t.headers, sub.body.id);
    expect(rs.map((r) => r.units)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(rs.every((r) => r.predicted_success === null)).toBe(true);
    expect((await status(t.headers, sub.body.id)).allocation).toMatchObject({ mode: "uniform", predictor: null, allocated_units: 18 });
  });

  it("a fractional B gives the remainder to prompts picked at random, not to the first ones", async () => {
    const t = await tenant();
    const texts = Array.from({ length: 40 }, (_, i) => `${i}+1=`);
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "uniform", budget: { average: 1.5, min: 1, max: 4 }, sampling: { seed: 7 } });
    await drive(t.headers, sub.body.id);
    const rs = await results(t.headers, sub.body.id);
    expect(rs.reduce((a, r) => a + r.units, 0)).toBe(60);
    const twos = rs.filter((r) => r.units === 2).map((r) => Number(r.id.slice(1)));
    expect(twos).toHaveLength(20);
    // In order, the extras would be p0..p19; at random, both halves get some.
    expect(twos.some((i) => i < 20)).toBe(true);
    expect(twos.some((i) => i >= 20)).toBe(true);
  });

  it("resume after an eviction mid-sampling without charging any sample twice (drawn through shards)", async () => {
    const t = await tenant();
    const texts = Array.from({ length: 2 * PROMPTS_PER_STEP + 6 }, (_, i) => `${10 + i}+${20 + i}=`);
    // A slow LM (each call held 300 ms by the fault proxy), so the eviction lands while shards hold work.
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "uniform", model: "fault-delayx300:strong", budget: { average: 2, min: 1, max: 4 } });
    await drive(t.headers, sub.body.id, (s) => s.status === "sampling");
    // The shards are inside their LM calls: the proxy holds some of this batch's samples now.
    const inFlight = await until(async () => (await held()).filter((h) => h.model === "fault-delayx300:strong" && texts.includes(h.prompt as string)).length >= 6, { timeoutMs: 20_000, what: "the shards' LM calls" });
    const mid = await status(t.headers, sub.body.id);
    // 54 prompts at BATCH_SHARD_PROMPTS 10 (vitest.config.ts): 6 shards.
    expect(mid.allocation).toMatchObject({ shards: 6 });
    expect(inFlight).toBe(true);
    expect(mid.progress.sampled).toBeLessThan(texts.length);
    await abortAllDurableObjects(); // evict every object, wherever it is; storage stays
    await drive(t.headers, sub.body.id);
    const s = await status(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: texts.length, failed: 0 } });
    expect((await results(t.headers, sub.body.id)).length).toBe(texts.length);
    expect(await usage(t.headers)).toMatchObject({ used: 2 * texts.length, reserved: 0 });
  });

  it("runs in waves: prompts stop at their first pass, the budget left flows to the rest, and exactly what was drawn is charged", async () => {
    const t = await tenant();
    const texts = [...EASY, ...HARD];
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "waves", budget: { average: 3, min: 1, max: 8 }, sampling: { seed: 1, max_tokens: 12 } });
    expect(sub.status).toBe(202);
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: texts.length, failed: 0 } });
    expect(s.allocation).toMatchObject({ mode: "waves", budget_units: 36, predictor: "strong-binary" });
    const rs = await results(t.headers, sub.body.id);
    const drawn = rs.reduce((a, r) => a + r.units, 0);
    expect(drawn).toBeLessThanOrEqual(36);
    for (const r of rs) {
      expect(r.units).toBeGreaterThanOrEqual(1);
      expect(r.units).toBeLessThanOrEqual(8);
      expect([0, 1]).toContain(r.reward);
    }
    // Easy prompts pass on their first sample and take nothing more.
    for (const r of rs.slice(0, EASY.length)) if (r.reward === 1) expect(r.units).toBe(1);
    expect(s.allocation!.units_used).toBeCloseTo(drawn + texts.length * PREFILL, 9);
    await charged(t.headers, drawn + texts.length * PREFILL);
  });

  it("resumes waves after an eviction without charging any sample twice", async () => {
    const t = await tenant();
    const texts = Array.from({ length: 40 }, (_, i) => `${300 + i}+${400 + i}=`);
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "waves", budget: { average: 3, min: 1, max: 8 } });
    const mid = await drive(t.headers, sub.body.id, (s) => s.status === "sampling" && s.progress.sampled > 0);
    expect(mid.progress.sampled).toBeLessThan(texts.length); // evicted mid-batch: some prompts drawn, others not
    await abortAllDurableObjects();
    const s = await drive(t.headers, sub.body.id);
    expect(s.status).toBe("done");
    const drawn = (await results(t.headers, sub.body.id)).reduce((a, r) => a + r.units, 0);
    await charged(t.headers, drawn + texts.length * PREFILL);
  });

  it("runs in waves with a curve predictor: the budget follows expected improvements of each prompt's best, resumed after an eviction, charged exactly what was drawn", async () => {
    const t = await tenant();
    const texts = [...EASY, ...HARD];
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "waves", predictor: "strong-graded", budget: { average: 3, min: 1, max: 8 }, sampling: { seed: 2, max_tokens: 12 } });
    expect(sub.status).toBe(202);
    const mid = await drive(t.headers, sub.body.id, (s) => s.status === "sampling" && s.progress.sampled > 0);
    expect(mid.progress.sampled).toBeLessThan(texts.length); // evicted mid-batch: some prompts drawn, others not
    await abortAllDurableObjects();
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: texts.length, failed: 0 } });
    expect(s.allocation).toMatchObject({ mode: "waves", budget_units: 3 * texts.length, predictor: "strong-graded" });
    const rs = await results(t.headers, sub.body.id);
    const drawn = rs.reduce((a, r) => a + r.units, 0);
    expect(drawn).toBeLessThanOrEqual(3 * texts.length);
    for (const r of rs) {
      expect(r.units).toBeGreaterThanOrEqual(1);
      expect(r.units).toBeLessThanOrEqual(8);
      expect(r.reward).toBeGreaterThanOrEqual(0);
      expect(r.reward).toBeLessThanOrEqual(1);
    }
    // The easy prompts reach a good enough reward at once; the hard ones get the budget.
    const mean = (xs: typeof rs) => xs.reduce((a, r) => a + r.units, 0) / xs.length;
    expect(mean(rs.slice(0, EASY.length))).toBeLessThan(mean(rs.slice(EASY.length)));
    // (The rewards are the deployment's REWARD_MODEL, the binary verifier in these tests; the
    // online test in predictor.test.ts serves graded rewards.) Every prompt's rounds were persisted:
    // after the eviction none was redrawn, so what the results say was drawn is what was charged.
    expect(s.allocation!.units_used).toBeCloseTo(drawn + texts.length * PREFILL, 9);
    await charged(t.headers, drawn + texts.length * PREFILL);
  });

  it("is refused at submission with budget_exceeded when the budget cannot pay for it: no batch runs, nothing is held", async () => {
    const t = await tenant({ day: 10 });
    const sub = await submit(t.headers, { prompts: prompts(HARD), allocation: "uniform", budget: { average: 4, min: 1, max: 8 } });
    expect(sub.status).toBe(429);
    expect(sub.body.error!.type).toBe("budget_exceeded");
    expect(sub.body.error!.message).toContain(t.id);
    expect(sub.body.error!.message).toContain("day");
    expect(await usage(t.headers)).toMatchObject({ used: 0, reserved: 0 });
    // The refused submission did not keep the tenant's batch slot either.
    const fits = await submit(t.headers, { prompts: prompts(HARD.slice(0, 2)), allocation: "uniform", budget: { average: 2, min: 1, max: 4 } });
    expect(fits.status).toBe(202);
  });

  it("a prompt the LM rejects fails alone and is not charged", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(["12+34=", "not arithmetic", "5+5="]), allocation: "uniform", budget: { average: 2, min: 1, max: 4 } });
    await drive(t.headers, sub.body.id);
    const s = await status(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: 2, failed: 1 } });
    const rs = await results(t.headers, sub.body.id);
    expect(rs[1]).toMatchObject({ id: "p1", status: "failed", units: 0, best: null });
    expect(await usage(t.headers)).toMatchObject({ used: 4, reserved: 0 });
  });

  it.each([
    ["500", 2],
    ["429", 2],
    ["malformed", 1],
    ["timeout", 1],
  ])("retries LM faults (%s ×%i, injected) and completes, charging each prompt once", async (kind, count) => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(["12+34=", "5+5="]), allocation: "uniform", model: `fault-${kind}x${count}:strong`, budget: { average: 2, min: 1, max: 4 } });
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: 2, failed: 0 } });
    expect(await usage(t.headers)).toMatchObject({ used: 4, reserved: 0 });
  });

  it("waits out an outage longer than one prompt's calls: retried on later alarms, done, charged once", async () => {
    const t = await tenant();
    // Each prompt's first 7 calls fail; one attempt is LM_ATTEMPTS (5) calls, so only a
    // second attempt, on a later alarm, gets through.
    const sub = await submit(t.headers, { prompts: prompts(["12+34=", "5+5="]), allocation: "uniform", model: "fault-500x7:strong", budget: { average: 2, min: 1, max: 4 } });
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: 2, failed: 0 } });
    expect(await usage(t.headers)).toMatchObject({ used: 4, reserved: 0 });
  });

  it("a prompt the LM keeps failing (or never answers) fails alone, uncharged", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(["12+34="]), allocation: "uniform", model: "fault-500x99:strong", budget: { average: 2, min: 1, max: 4 } });
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: 0, failed: 1 } });
    expect(await usage(t.headers)).toMatchObject({ used: 0, reserved: 0 });
  });

  it("a learned batch with prompts the LM refuses serves the others; the refused fail alone, with the LM's reason", async () => {
    const t = await tenant();
    const texts = ["12+34=", "not arithmetic", "345+678=", "hello", "5+5="];
    const sub = await submit(t.headers, { prompts: prompts(texts), budget: { average: 2, min: 1, max: 4 } });
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: 3, failed: 2 } });
    const rs = await results(t.headers, sub.body.id);
    for (const i of [1, 3]) {
      expect(rs[i]).toMatchObject({ status: "failed", units: 0, best: null });
      expect((rs[i] as { error?: string }).error).toContain("vocabulary");
    }
    // The refused prompts' hidden states were never read: only the three served paid a prefill.
    expect(s.allocation!.prefill_units).toBeCloseTo(3 * PREFILL, 9);
    await charged(t.headers, s.allocation!.units_used);
  });

  it("cancel stops the batch and releases what was reserved", async () => {
    const t = await tenant();
    const texts = Array.from({ length: 3 * PROMPTS_PER_STEP }, (_, i) => `${i}+1=`);
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "uniform", budget: { average: 2, min: 1, max: 4 } });
    await drive(t.headers, sub.body.id, (s) => s.status === "sampling");
    const res = await call(`/v1/batches/${sub.body.id}/cancel`, { method: "POST", headers: t.headers });
    const cancelled = (await res.json()) as BatchStatus;
    expect(cancelled.status).toBe("cancelled");
    // The cancel waited for a step in flight: what it delivered is charged, the rest released.
    const after = await status(t.headers, sub.body.id);
    expect(after.status).toBe("cancelled");
    expect(after.progress.sampled).toBeLessThan(texts.length);
    const charged = (await results(t.headers, sub.body.id)).filter((r) => r.status === "done").reduce((a, r) => a + r.units, 0);
    expect(after.allocation!.units_used).toBe(charged);
    expect(await usage(t.headers)).toMatchObject({ used: charged, reserved: 0 });
    // No sampling after the cancel: the only alarm left is the batch's deletion, later.
    await runDurableObjectAlarm(env.BATCHES.get(env.BATCHES.idFromName(sub.body.id)));
    expect((await status(t.headers, sub.body.id)).progress.sampled).toBe(after.progress.sampled);
  });

  it("deletes a finished batch after its retention period (7 days), results readable until then", async () => {
    const t = await tenant();
    const sub = await submit(t.headers, { prompts: prompts(["1+1="]), allocation: "uniform", budget: { average: 1 } });
    await drive(t.headers, sub.body.id);
    const stub = env.BATCHES.get(env.BATCHES.idFromName(sub.body.id));
    // Settled (its reservation released): from here its alarm is the one set for deletion.
    await until(async () => (await usage(t.headers)).reserved === 0, { timeoutMs: 10_000, what: "the batch to settle" });
    // A week on: the alarm set when it finished deletes it.
    expect((await results(t.headers, sub.body.id)).length).toBe(1);
    await runInDurableObject(stub, (_i, state) => state.storage.sql.exec("UPDATE batch SET finished_at = ?", Date.now() - 7 * 86_400_000 - 1));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call(`/v1/batches/${sub.body.id}`, { headers: t.headers })).status).toBe(404);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'batch'").toArray().length)).toBe(0);
  });

  it("another tenant's batch is 404", async () => {
    const a = await tenant();
    const b = await tenant();
    const sub = await submit(a.headers, { prompts: prompts(["1+1="]), allocation: "uniform", budget: { average: 1 } });
    for (const path of ["", "/results"]) expect((await call(`/v1/batches/${sub.body.id}${path}`, { headers: b.headers })).status).toBe(404);
    expect((await call(`/v1/batches/${sub.body.id}/cancel`, { method: "POST", headers: b.headers })).status).toBe(404);
    expect((await call("/v1/batches/b_nope", { headers: a.headers })).status).toBe(400);
  });

  it("limits concurrent batches per tenant with a 429", async () => {
    const t = await tenant({ day: 100_000 }, { max_batch_size: 10, max_concurrent_batches: 1 });
    const body = { prompts: prompts(["1+1="]), allocation: "uniform", budget: { average: 1 } };
    const first = await submit(t.headers, body);
    expect(first.status).toBe(202);
    const second = await submit(t.headers, body);
    expect(second.status).toBe(429);
    expect(second.body.error!.type).toBe("rate_limit_error");
    await drive(t.headers, first.body.id);
    expect((await submit(t.headers, body)).status).toBe(202);
  });

  it.each([
    [{ prompts: [], budget: { average: 1 } }, "prompts"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }, { id: "a", prompt: "2+2=" }], budget: { average: 1 } }, "prompts[1].id"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 20, max: 8 } }, "budget.average"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 1 }, allocation: "random" }, "allocation"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 1 }, sampling: { temperature: 9 } }, "sampling.temperature"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 1 }, predictor: "nope" }, "predictor"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 1 }, mode: "route", allocation: "uniform" }, "allocation"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 1 }, mode: "route", model: "strong" }, "model"],
    [{ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 1 }, mode: "route", predictor: "route" }, "predictor"],
  ])("rejects %j naming %s", async (body, param) => {
    const t = await tenant();
    const sub = await submit(t.headers, body);
    expect(sub.status).toBe(400);
    expect(sub.body.error!.param).toBe(param);
  });

  it("rejects a batch larger than the tenant's max_batch_size", async () => {
    const t = await tenant({ day: 100_000 }, { max_batch_size: 2, max_concurrent_batches: 4 });
    const sub = await submit(t.headers, { prompts: prompts(EASY), budget: { average: 1 } });
    expect(sub.status).toBe(400);
    expect(sub.body.error!.param).toBe("prompts");
  });

  it("mode route: each prompt gets a (model, k) from the router's menu, within the batch's units", async () => {
    const t = await tenant();
    // Strong's cells (5+3 digits: strong 86%, weak 9%), weak's (5+4: weak 69%, strong 0%), and easy ones.
    const texts = ["12345+678=", "54321+987=", "54321+9876=", "12345+6789=", "1+1=", "12+34="];
    const sub = await submit(t.headers, { prompts: prompts(texts), mode: "route", allocation: "learned", budget: { average: 3, min: 1, max: 8 }, sampling: { seed: 1, max_tokens: 12 } });
    expect(sub.status).toBe(202);
    const s = await drive(t.headers, sub.body.id);
    expect(s.status).toBe("done");
    expect(s.allocation!.predictor).toBe("route");
    expect(s.allocation!.budget_units).toBe(18);
    expect(s.allocation!.allocated_units).toBeLessThanOrEqual(18);
    const rs = (await results(t.headers, sub.body.id)) as unknown as { id: string; model: string; samples: number; units: number; reward: number | null }[];
    const by = Object.fromEntries(rs.map((r, i) => [texts[i], r]));
    expect(by["12345+678="].model).toBe("strong");
    expect(by["54321+9876="].model).toBe("weak");
    for (const r of rs) expect(r.units).toBe(r.samples * (r.model === "strong" ? 3 : 1));
    const counts = rs.reduce<Record<string, number>>((m, r) => ({ ...m, [r.model]: (m[r.model] ?? 0) + 1 }), {});
    expect(s.allocation!.models).toEqual(counts);
    const used = rs.reduce((a, r) => a + r.units, 0);
    expect(s.allocation!.units_used).toBeCloseTo(used + texts.length * PREFILL, 9);
    await charged(t.headers, used + texts.length * PREFILL);
  });

  it("allocates in waves by default where the predictor or router can (every shipped one), and says so", async () => {
    const t = await tenant();
    const plain = await submit(t.headers, { prompts: prompts(EASY.slice(0, 2)), budget: { average: 2, min: 1, max: 4 } });
    expect((await drive(t.headers, plain.body.id)).allocation).toMatchObject({ mode: "waves", predictor: "strong-binary" });
    const routed = await submit(t.headers, { prompts: prompts(EASY.slice(0, 2)), mode: "route", budget: { average: 2, min: 1, max: 4 } });
    expect((await drive(t.headers, routed.body.id)).allocation).toMatchObject({ mode: "waves", predictor: "route" });
  });

  it("mode route in waves (a cascade): rounds pick a model per prompt, each sample charged at its model's cost, the batch's units hold, an eviction loses and double-charges nothing", async () => {
    const t = await tenant();
    // Strong's cells (5+3 digits: strong 86%, weak 9%), weak's (5+4: weak 69%, strong 0%), easy ones, and mid ones.
    const texts = ["12345+678=", "54321+987=", "54321+9876=", "12345+6789=", "1+1=", "12+34=", "345+678=", "4567+891="];
    const sub = await submit(t.headers, { prompts: prompts(texts), mode: "route", allocation: "waves", budget: { average: 3, min: 1, max: 8 }, sampling: { seed: 3, max_tokens: 12 } });
    expect(sub.status).toBe(202);
    const mid = await drive(t.headers, sub.body.id, (s) => s.status === "sampling" && s.progress.sampled > 0);
    expect(mid.progress.sampled).toBeLessThan(texts.length); // evicted mid-batch: some prompts drawn, others not
    await abortAllDurableObjects();
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: texts.length, failed: 0 }, allocation: { mode: "waves", predictor: "route", budget_units: 24 } });
    const rs = (await results(t.headers, sub.body.id)) as unknown as { id: string; model: string; samples: number; units: number; reward: number | null }[];
    const used = rs.reduce((a, r) => a + r.units, 0);
    expect(used).toBeLessThanOrEqual(24);
    for (const r of rs) {
      expect(["weak", "strong"]).toContain(r.model);
      // Every sample costs 1 (weak) or 3 (strong); a prompt may have drawn from both.
      expect(r.units).toBeGreaterThanOrEqual(r.samples);
      expect(r.units).toBeLessThanOrEqual(Math.min(3 * r.samples, 8));
    }
    const by = Object.fromEntries(rs.map((r, i) => [texts[i], r]));
    // Where one model is clearly the one (by its success per unit of cost), it answers.
    expect(by["54321+9876="].model).toBe("weak");
    expect(by["1+1="]).toMatchObject({ model: "weak", samples: 1, units: 1, reward: 1 });
    expect(s.allocation!.units_used).toBeCloseTo(used + texts.length * PREFILL, 9);
    await charged(t.headers, used + texts.length * PREFILL);
  });

  it("predicts page by page across alarms, and an eviction mid-predicting loses no prediction and predicts none twice", async () => {
    const t = await tenant();
    // 12 prompts at 5 per page (BATCH_PREDICT_PAGE in vitest.config.ts): three predicting alarms; one the LM refuses, in the second page.
    const texts = [...EASY.slice(0, 5), "6+6=", "not arithmetic", ...HARD.slice(0, 5)];
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "learned", budget: { average: 2, min: 1, max: 4 } });
    const stub = env.BATCHES.get(env.BATCHES.idFromName(sub.body.id));
    await runDurableObjectAlarm(stub); // the first page
    expect((await status(t.headers, sub.body.id)).status).toBe("predicting");
    await abortAllDurableObjects();
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", prompts: 12, progress: { sampled: 11, failed: 1 } });
    const rs = await results(t.headers, sub.body.id);
    expect(rs[6]).toMatchObject({ status: "failed", units: 0 });
    for (const [i, r] of rs.entries()) if (i !== 6) expect(r.predicted_success).toBeGreaterThanOrEqual(0);
    // Each prompt predicted once, paid for once: eleven prefills, the refused prompt none.
    expect(s.allocation!.prefill_units).toBeCloseTo(11 * PREFILL, 9);
    await charged(t.headers, s.allocation!.units_used);
  });

  it("takes a batch of 30,000 prompts (kept one row per prompt: no SQLite value grows with the batch)", async () => {
    const t = await tenant({ day: 100_000 }, { max_batch_size: 100_000, max_concurrent_batches: 4 });
    // 2.3 MB of JSON: above the 2 MB a Durable Object's SQLite takes in one value (where the whole spec used to go).
    const many = Array.from({ length: 30_000 }, (_, i) => ({ id: `nightly-eval-2026-12-01-shard-07-request-${String(i).padStart(6, "0")}`, prompt: `${i % 997}+${(i * 7) % 991}=` }));
    const body = { prompts: many, allocation: "uniform", budget: { average: 1, min: 1, max: 1 } };
    expect(JSON.stringify(body).length).toBeGreaterThan(2_200_000);
    const sub = await submit(t.headers, body);
    expect(sub.status).toBe(202);
    expect(sub.body).toMatchObject({ status: "queued", prompts: 30_000 });
    const res = await call(`/v1/batches/${sub.body.id}/cancel`, { method: "POST", headers: t.headers });
    expect(((await res.json()) as BatchStatus).status).toBe("cancelled");
    expect(await usage(t.headers)).toMatchObject({ used: 0, reserved: 0 });
  });

  it("applies a shard's outcome once: a duplicate delivery, a stale round's and one after a cancel change nothing and charge nothing", async () => {
    const t = await tenant();
    const texts = Array.from({ length: 12 }, (_, i) => `${i + 1}+${i + 2}=`);
    // The real shards' LM calls are held 1 s, so these deliveries come first.
    const sub = await submit(t.headers, { prompts: prompts(texts), allocation: "uniform", model: "fault-delayx1000:strong", budget: { average: 2, min: 1, max: 4 } });
    await drive(t.headers, sub.body.id, (s) => s.status === "sampling");
    const stub = env.BATCHES.get(env.BATCHES.idFromName(sub.body.id));
    // Shard 0 of 2 asks for work (as a shard that then died would have), and delivers it twice, and once more for a round that never was.
    const work = await stub.shardWork(0, 2);
    expect(work.items.length).toBeGreaterThan(0);
    const outcomes = work.items.map((w) => ({ idx: w.idx, round: w.round, ok: true as const, best: "x", reward: 1, rewards: [1, 0] }));
    await stub.shardDeliver(outcomes);
    await stub.shardDeliver(outcomes);
    await stub.shardDeliver(outcomes.map((o) => ({ ...o, round: 7, best: "y" })));
    const s = await drive(t.headers, sub.body.id);
    expect(s).toMatchObject({ status: "done", progress: { sampled: 12, failed: 0 } });
    const rs = await results(t.headers, sub.body.id);
    for (const w of work.items) expect(rs[w.idx]).toMatchObject({ best: "x", units: 2 });
    expect(await usage(t.headers)).toMatchObject({ used: 24, reserved: 0 });
    // After the batch has ended, a late delivery is not recorded.
    await stub.shardDeliver(outcomes.map((o) => ({ ...o, best: "late" })));
    expect((await results(t.headers, sub.body.id)).some((r) => r.best === "late")).toBe(false);
    expect(await usage(t.headers)).toMatchObject({ used: 24, reserved: 0 });
  });

  it("need an API key", async () => {
    expect((await call("/v1/batches", { method: "POST", body: "{}" })).status).toBe(401);
  });
});
