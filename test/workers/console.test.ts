// The data behind the operator's console, from real traffic: requests served by the real
// reference LM (and faults injected on purpose by the proxy) show up in the per-minute
// rollups, the tenant list, /metrics and the batch list, counted once each.
import { env as workerEnv } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { TenantLedger } from "../../src/worker/tenants/ledger.js";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/core/config/settings.js";
import type { z } from "@hono/zod-openapi";
import type { CalibrationReportSchema, EarnedSchema, UsagePointSchema, UsageSeriesSchema } from "../../src/core/contracts/metrics.js";
import { reliability } from "../../src/core/audit/calibration.js";
import type { AuditRecord } from "../../src/worker/tenants/audits.js";
import { tenantLedger } from "../../src/worker/tenants/lookup.js";
import type { Env } from "../../src/worker/env.js";
import { estimateEarned, curvePoints, earnedOf, emptyEarned, addEarned } from "../../src/core/metrics/earned.js";
import { LATENCY_BOUNDS_MS, emptyHistogram, observe, quantile } from "../../src/core/metrics/histogram.js";
import { ADMIN, call, newTenant, until } from "./support.js";

const env = workerEnv as unknown as Env;

// The response types are the routes' own schemas.
type Point = z.infer<typeof UsagePointSchema>;
type Earned = z.infer<typeof EarnedSchema>;
type Series = Pick<z.infer<typeof UsageSeriesSchema>, "points" | "earned" | "step">;

const complete = (h: Record<string, string>, body: Record<string, unknown>, extra: Record<string, string> = {}) =>
  call("/v1/completions", { method: "POST", headers: { ...h, ...extra }, body: JSON.stringify({ model: "strong", temperature: 0.8, max_tokens: 12, ...body }) });

const series = async (id: string, query = "") => {
  const res = await call(`/admin/tenants/${id}/usage${query}`, { headers: ADMIN });
  return { status: res.status, body: (await res.json()) as Series & { error?: { param: string; message: string } } };
};

const sum = (points: Point[], f: (p: Point) => number) => points.reduce((s, p) => s + f(p), 0);

describe("per-minute rollups (GET /admin/tenants/{id}/usage)", () => {
  it("counts each request once: successes, 429s, LM failures and retries, units, samples, latency and price", async () => {
    const t = await newTenant({ day: 60 });
    const served: { units: number; samples: number }[] = [];
    for (const prompt of ["12+34=", "345+678=", "56*78=", "1+1="]) {
      const res = await complete(t.headers, { prompt, seed: 3 });
      expect(res.status).toBe(200);
      served.push({ units: Number(res.headers.get("x-allot-units")), samples: Number(res.headers.get("x-allot-samples")) });
    }
    // One chat request, one that the LM fails once (retried, then served), one it fails for good.
    const chat = await call("/v1/chat/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: "2+2=" }], max_tokens: 8 }) });
    expect(chat.status).toBe(200);
    const chatUnits = Number(chat.headers.get("x-allot-units"));
    const retried = await complete(t.headers, { prompt: "3+4=", model: "fault-500x1:strong" }, { "x-allot-units": "1" });
    expect(retried.status).toBe(200);
    const failed = await complete(t.headers, { prompt: "5+6=", model: "fault-500x99:strong" }, { "x-allot-units": "1" });
    expect(failed.status).toBe(502);
    // Adaptive requests pay a prefill per prompt besides their samples; pinned ones read no hidden state.
    const used = served.reduce((s, r) => s + r.units, 0) + chatUnits + 1;
    // Spend what is left in whole samples (pinned), then one more: refused before any LM work.
    let rest = 60 - used;
    let spenders = 0;
    for (; rest >= 1; spenders++) {
      const k = Math.min(16, Math.floor(rest + 1e-9));
      expect((await complete(t.headers, { prompt: "7+8=" }, { "x-allot-units": String(k) })).status).toBe(200);
      rest -= k;
    }
    const refused = await complete(t.headers, { prompt: "9+9=" }, { "x-allot-units": "1" });
    expect(refused.status).toBe(429);

    const { status, body } = await series(t.id);
    expect(status).toBe(200);
    expect(body.step).toBe("minute");
    expect(body.points).toHaveLength(60);
    const requests = 4 + 1 + 1 + 1 + spenders + 1;
    expect(sum(body.points, (p) => p.requests)).toBe(requests);
    expect(sum(body.points, (p) => p.ok)).toBe(requests - 2);
    expect(sum(body.points, (p) => p.refused)).toBe(1);
    expect(sum(body.points, (p) => p.failed)).toBe(1);
    expect(sum(body.points, (p) => p.units)).toBeCloseTo(60 - rest, 9);
    // The retried call counts one retry; the failing one its 4 retries and one error (LM_ATTEMPTS 5).
    expect(sum(body.points, (p) => p.lm_retries)).toBe(1 + 4);
    expect(sum(body.points, (p) => p.lm_errors)).toBe(1);
    const busy = body.points.filter((p) => p.requests > 0);
    for (const p of busy) expect(p.target).toBe(4);
    // Latency is measured on the requests served (a minute may hold only a refusal).
    for (const p of busy.filter((p) => p.ok > 0)) {
      expect(p.lm_ms.p50).toBeGreaterThanOrEqual(0);
      expect(p.added_ms.p99).toBeGreaterThanOrEqual(p.added_ms.p50!);
    }
    expect(busy.filter((p) => p.ok === 0).every((p) => p.lm_ms.p50 === null)).toBe(true);
    expect(busy.some((p) => p.price !== null && p.price > 0)).toBe(true);
    // Matches what the tenant's own usage says.
    const own = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { window: string; used: number }[] };
    expect(own.windows.find((w) => w.window === "day")!.used).toBeCloseTo(60 - rest, 9);
    // What allot earned, predicted: the four adaptive requests and the chat (pinned requests are not allot's choice).
    // No audits (AUDIT_RATE 0 in tests): no audited figure, and the report says why.
    expect(body.earned.audited).toBeNull();
    expect(body.earned.audits.note).toMatch(/too few audits to tell: 0 of 30/);
    expect(body.earned.predicted!.prompts).toBe(5);
    // Per prompt, in samples' units: the prefills are the same whatever the allocation.
    const prefill = Number(SETTINGS.PREFILL_UNITS.default);
    expect(body.earned.predicted!.mean_units).toBeCloseTo((served.reduce((s, r) => s + r.units, 0) + chatUnits - 5 * prefill) / 5, 6);
    // Units per prompt the price decided, in the target's units (no prefills, no pinned requests): over a day, one point.
    const days = (await series(t.id, "?step=day")).body.points.filter((p) => p.requests > 0);
    if (days.length === 1) expect(days[0].units_per_prompt).toBeCloseTo(body.earned.predicted!.mean_units, 6);
    expect(body.points.filter((p) => p.units_per_prompt !== null).every((p) => p.units_per_prompt! >= 1 && p.units_per_prompt! <= 16)).toBe(true);
  });

  it("takes steps of minutes, hours or days, and refuses a range it cannot answer in the error envelope", async () => {
    const t = await newTenant();
    expect((await complete(t.headers, { prompt: "1+2=" })).status).toBe(200);
    const hourly = await series(t.id, "?step=hour");
    expect(hourly.body.points).toHaveLength(24);
    expect(sum(hourly.body.points, (p) => p.requests)).toBe(1);
    const daily = await series(t.id, "?step=day");
    expect(sum(daily.body.points, (p) => p.requests)).toBe(1);
    const now = Date.now();
    const window = await series(t.id, `?from=${new Date(now - 120_000).toISOString()}&to=${new Date(now + 60_000).toISOString()}`);
    expect(window.body.points.length).toBeGreaterThanOrEqual(3);
    expect(window.body.points.length).toBeLessThanOrEqual(4);
    expect(sum(window.body.points, (p) => p.requests)).toBe(1);

    const tooMany = await series(t.id, `?from=${new Date(now - 2 * 86_400_000).toISOString()}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error!.message).toMatch(/more than 1440 points/);
    const backwards = await series(t.id, `?from=${new Date(now).toISOString()}&to=${new Date(now - 1000).toISOString()}`);
    expect(backwards.status).toBe(400);
    expect((await series(t.id, "?step=week")).status).toBe(400);
    expect((await series(t.id, "?from=yesterday")).status).toBe(400);
    expect((await series("0123456789abcdef")).status).toBe(404);
    expect((await call(`/admin/tenants/${t.id}/usage`)).status).toBe(401);
  });

  it("keeps minutes for a day and hours for 92 days: older rows are dropped when a new minute starts", async () => {
    const t = await newTenant({});
    const ledger = env.TENANTS.get(env.TENANTS.idFromName(t.id));
    // In the future, two days apart: every lease lies ahead, so the ledger's expiry alarm
    // (due at the earliest lease's end) cannot race the test and end a reservation it uses.
    const t1 = Date.now() + 3 * 86_400_000;
    const t2 = t1 + 2 * 86_400_000; // past the minutes' retention from t1, within the hours'
    const charge = async (at: number, ref: string) => {
      await runInDurableObject(ledger, (l: TenantLedger) => void (l.clock = () => at));
      const r = await ledger.reserve(5, ref);
      if (!r.ok) throw new Error("expected a reservation");
      expect(await ledger.commitTo(r.id, 5)).toBe(5);
    };
    await charge(t1, "b-1");
    const from = new Date(t1 - 60_000).toISOString();
    const to = new Date(t1 + 60_000).toISOString();
    expect(sum((await series(t.id, `?from=${from}&to=${to}`)).body.points, (p) => p.batch_units)).toBe(5);
    // A charge two days later starts a new minute, which prunes.
    await charge(t2, "b-2");
    expect(sum((await series(t.id, `?from=${from}&to=${to}`)).body.points, (p) => p.batch_units)).toBe(0);
    const hours = await series(t.id, `?step=hour&from=${new Date(t1 - 3_600_000).toISOString()}&to=${new Date(t1 + 3_600_000).toISOString()}`);
    expect(sum(hours.body.points, (p) => p.batch_units)).toBe(5);
  });
});

describe("GET /admin/tenants and GET /metrics", () => {
  it("lists tenants with their budget use, online price and keys; pages with limit and after", async () => {
    const a = await newTenant({ day: 1_000, hour: 100 });
    const b = await newTenant();
    expect((await complete(a.headers, { prompt: "345+678=" })).status).toBe(200);
    const all: { id: string; usage: { window: string; limit: number | null; used: number }[]; online: { target_units: number; price: number }; keys: { id: string; revoked: boolean }[]; totals: { requests: number; ok: number; units: number }; calibration: Record<string, { n: number }[]> }[] = [];
    for (let after: string | null = null; ; ) {
      const res = await call(`/admin/tenants?limit=2${after ? `&after=${after}` : ""}`, { headers: ADMIN });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { data: typeof all; has_more: boolean; last_id: string | null };
      expect(page.data.length).toBeLessThanOrEqual(2);
      all.push(...page.data);
      if (!page.has_more) break;
      after = page.last_id;
    }
    expect(new Set(all.map((x) => x.id)).size).toBe(all.length);
    const ta = all.find((x) => x.id === a.id)!;
    const tb = all.find((x) => x.id === b.id)!;
    expect(ta.usage.find((w) => w.window === "hour")).toMatchObject({ limit: 100 });
    expect(ta.totals.requests).toBe(1);
    expect(ta.totals.units).toBe(ta.usage.find((w) => w.window === "day")!.used);
    expect(ta.keys).toHaveLength(1);
    expect(ta.online.target_units).toBe(4);
    // The live calibration counts the one predicted prompt, under the predictor that served it.
    expect(Object.values(ta.calibration).flat().reduce((s, bin) => s + bin.n, 0)).toBe(1);
    expect(tb.totals.requests).toBe(0);
    expect((await call("/admin/tenants?limit=0", { headers: ADMIN })).status).toBe(400);
    expect((await call("/admin/tenants?after=nope", { headers: ADMIN })).status).toBe(400);
    expect((await call("/admin/tenants")).status).toBe(401);
  });

  it("counts every 4xx in the tenant row and the rollups, those answered before the ledger too, each once", async () => {
    const t = await newTenant();
    await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, max_units: 8 }) });
    // Before any work: a body that fails validation, an unknown model, a pinned value that does not parse.
    expect((await complete(t.headers, { prompt: "" })).status).toBe(400);
    expect((await complete(t.headers, { prompt: "1+2=", model: "no-such-model" })).status).toBe(404);
    expect((await complete(t.headers, { prompt: "1+2=" }, { "x-allot-units": "lots" })).status).toBe(400);
    const chat = await call("/v1/chat/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", messages: [] }) });
    expect(chat.status).toBe(400);
    // At the ledger: more units pinned than the tenant's max (counted there, not again).
    expect((await complete(t.headers, { prompt: "1+2=" }, { "x-allot-units": "9" })).status).toBe(400);
    expect((await complete(t.headers, { prompt: "1+2=" })).status).toBe(200);
    type Totals = { requests: number; ok: number; refused: number; rejected: number; failed: number };
    const totals = async () => {
      const page = (await (await call("/admin/tenants?limit=100", { headers: ADMIN })).json()) as { data: { id: string; totals: Totals }[] };
      return page.data.find((x) => x.id === t.id)?.totals;
    };
    // The ones before the ledger are counted after their answer (waitUntil).
    const row = await until(async () => {
      const x = await totals();
      return x && x.rejected >= 5 && x;
    }, { timeoutMs: 5_000, what: "the 4xx answers to be counted" });
    await new Promise((r) => setTimeout(r, 100));
    expect(await totals()).toEqual({ ...row, requests: 6, ok: 1, refused: 0, rejected: 5, failed: 0 });
    const { body } = await series(t.id);
    expect(sum(body.points, (p) => p.rejected)).toBe(5);
    expect(sum(body.points, (p) => p.requests)).toBe(6);
    // A key that is not the tenant's has no tenant to count against: 401, and nothing counted.
    expect((await complete({ ...t.headers, authorization: "Bearer sk-nope" }, { prompt: "1+2=" })).status).toBe(401);
    expect((await totals())!.requests).toBe(6);
  });

  it("counts routed prompts under their router, per model (answered, samples, units), with the router's calibration", async () => {
    const t = await newTenant();
    const kept: Record<string, number> = {};
    let samples = 0;
    let units = 0;
    const prompts = ["12345+678=", "54321+9876=", "345+678=", "4567*89=", "98765+4321="];
    for (const [i, prompt] of prompts.entries()) {
      // Waves (a cascade over the models), and one round decided up front.
      const res = await complete(t.headers, { prompt, model: "route", seed: 60 + i }, i % 2 ? { "x-allot-rounds": "1" } : {});
      expect(res.status).toBe(200);
      const a = ((await res.json()) as { allot: { model: string; samples: number; units: number } }).allot;
      kept[a.model] = (kept[a.model] ?? 0) + 1;
      samples += a.samples;
      units += a.units - Number(SETTINGS.PREFILL_UNITS.default);
    }
    // And a best-of-k request, counted under its own predictor.
    expect((await complete(t.headers, { prompt: "12+34=" })).status).toBe(200);
    const page = (await (await call("/admin/tenants?limit=100", { headers: ADMIN })).json()) as {
      data: { id: string; served: Record<string, Record<string, { prompts: number; samples: number; units: number }>>; calibration: Record<string, { n: number }[]> }[];
    };
    const row = page.data.find((x) => x.id === t.id)!;
    const route = row.served.route;
    expect(Object.fromEntries(Object.entries(route).filter(([, x]) => x.prompts > 0).map(([m, x]) => [m, x.prompts]))).toEqual(kept);
    expect(Object.values(route).reduce((s, x) => s + x.samples, 0)).toBe(samples);
    expect(Object.values(route).reduce((s, x) => s + x.units, 0)).toBeCloseTo(units, 9);
    for (const m of Object.keys(route)) expect(["weak", "strong"]).toContain(m);
    // The router's calibration: one point per routed prompt (its first sample's model's predicted success).
    expect(row.calibration.route.reduce((s, b) => s + b.n, 0)).toBe(prompts.length);
    const others = Object.keys(row.served).filter((k) => k !== "route");
    expect(others).toHaveLength(1);
    expect(Object.values(row.served[others[0]])).toEqual([expect.objectContaining({ prompts: 1 })]);
  });

  it("plots reliability from audited prompts when there are enough, with prompts and Wilson intervals per bin; else from live first samples, saying so", async () => {
    type Report = z.infer<typeof CalibrationReportSchema>;
    const report = async () => ((await (await call("/admin/calibration", { headers: ADMIN })).json()) as { data: Report[] }).data;
    // Audits as serving records them, for a predictor of this test's own (the report pools every tenant's).
    const name = "audited-test-predictor";
    const audit = (predicted: number, passes: number): AuditRecord => ({
      model: "strong",
      predictor: name,
      predicted,
      curve: null,
      rewards: Array.from({ length: 8 }, (_, i) => (i < passes ? 1 : 0)),
      samples: 2,
      units: 2,
      reward: passes > 0 ? 1 : 0,
      audit_units: 6,
    });
    const rows = [...Array.from({ length: 20 }, (_, i) => audit(0.15, i % 3)), ...Array.from({ length: 14 }, (_, i) => audit(0.85, 6 + (i % 3)))];
    const a = await newTenant();
    const b = await newTenant();
    await tenantLedger(env, a.id).recordAudits(rows.slice(0, 10));
    let mine = (await report()).find((r) => r.predictor === name)!;
    // Ten audits: too few; nothing live for this predictor either.
    expect(mine.source).toBe("live");
    expect(mine.audited.prompts).toBe(10);
    expect(mine.note).toMatch(/too few audits to tell: 10 of 30/);
    // Pooled over tenants: 34 in all.
    await tenantLedger(env, a.id).recordAudits(rows.slice(10, 20));
    await tenantLedger(env, b.id).recordAudits(rows.slice(20));
    mine = (await report()).find((r) => r.predictor === name)!;
    expect(mine.source).toBe("audits");
    expect(mine.note).toBeNull();
    expect(mine.audited.prompts).toBe(34);
    const want = reliability(rows.map((r) => ({ p: r.predicted!, successes: r.rewards.reduce((s, x) => s + x, 0), samples: r.rewards.length })));
    expect(mine.audited.bins.map((x) => x.n)).toEqual(want.map((x) => x.n));
    expect(mine.audited.bins[1]).toMatchObject({ n: 20 });
    expect(mine.audited.bins[8]).toMatchObject({ n: 14 });
    for (const i of [1, 8]) {
      expect(mine.audited.bins[i].observed).toBeCloseTo(want[i].observed, 9);
      expect(mine.audited.bins[i].ci95[0]).toBeCloseTo(want[i].ci95[0], 9);
      expect(mine.audited.bins[i].ci95[1]).toBeCloseTo(want[i].ci95[1], 9);
      expect(mine.audited.bins[i].ci95[0]).toBeLessThan(mine.audited.bins[i].observed);
      expect(mine.audited.bins[i].ci95[1]).toBeGreaterThan(mine.audited.bins[i].observed);
    }
    // Routed traffic is not audited: the router's plot is its live first samples, labelled so.
    expect((await complete(a.headers, { prompt: "12345+678=", model: "route" })).status).toBe(200);
    const route = (await report()).find((r) => r.predictor === "route")!;
    expect(route.source).toBe("live");
    expect(route.live.prompts).toBeGreaterThanOrEqual(1);
    expect(route.note).toMatch(/too few audits/);
    expect((await call("/admin/calibration")).status).toBe(401);
  });

  it("exposes Prometheus counters, histograms and gauges per tenant, matching the rollups", async () => {
    const t = await newTenant({ day: 4 });
    expect((await complete(t.headers, { prompt: "1+1=" }, { "x-allot-units": "2" })).status).toBe(200);
    expect((await complete(t.headers, { prompt: "1+1=" }, { "x-allot-units": "3" })).status).toBe(429);
    const chat = await call("/v1/chat/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: "2+2=" }], max_tokens: 8 }) });
    expect(chat.status).toBe(200);
    const charged = 2 + Number(chat.headers.get("x-allot-units")); // the chat's samples and its prefill
    const res = await call("/metrics", { headers: ADMIN });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await res.text();
    const value = (line: string) => {
      const row = text.split("\n").find((l) => l.startsWith(line + " "));
      return row === undefined ? undefined : Number(row.slice(line.length + 1));
    };
    const id = `tenant="${t.id}"`;
    expect(value(`allot_requests_total{${id},route="completions",status="200"}`)).toBe(1);
    expect(value(`allot_requests_total{${id},route="completions",status="429"}`)).toBe(1);
    expect(value(`allot_requests_total{${id},route="chat",status="200"}`)).toBe(1);
    expect(value(`allot_units_total{${id},kind="online"}`)).toBeCloseTo(charged, 9);
    expect(value(`allot_budget_used_units{${id},window="day"}`)).toBeCloseTo(charged, 9);
    expect(value(`allot_budget_limit_units{${id},window="day"}`)).toBe(4);
    expect(value(`allot_target_units{${id}}`)).toBe(4);
    // Histogram: cumulative buckets, +Inf = _count = the successful requests.
    const buckets = [...LATENCY_BOUNDS_MS.map((b) => String(b / 1000)), "+Inf"].map((le) => value(`allot_lm_latency_seconds_bucket{${id},le="${le}"}`)!);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]);
    expect(buckets.at(-1)).toBe(2);
    expect(value(`allot_lm_latency_seconds_count{${id}}`)).toBe(2);
    expect(value(`allot_lm_latency_seconds_sum{${id}}`)).toBeGreaterThanOrEqual(0);
    // Every sample line belongs to a declared family.
    const families = new Set(text.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]));
    for (const l of text.split("\n").filter((l) => l && !l.startsWith("#"))) {
      const name = l.split(/[{ ]/)[0].replace(/_(bucket|sum|count)$/, "");
      expect(families.has(name) || families.has(l.split(/[{ ]/)[0])).toBe(true);
    }
    expect((await call("/metrics")).status).toBe(401);
  });
});

type ListItem = { id: string; status: string; mode: string; prompts: number; progress: { sampled: number }; ended_at: string | null; earned: Earned | null; allocation: { units_used: number; prefill_units: number } | null };

describe("GET /v1/batches", () => {
  const submit = async (h: Record<string, string>, prompts: string[], allocation?: string) => {
    const res = await call("/v1/batches", {
      method: "POST",
      headers: h,
      body: JSON.stringify({ prompts: prompts.map((prompt, i) => ({ id: `p${i}`, prompt })), budget: { average: 3 }, ...(allocation ? { allocation } : {}) }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const finish = async (h: Record<string, string>, id: string) => {
    const stub = env.BATCHES.get(env.BATCHES.idFromName(id));
    for (let i = 0; i < 500; i++) {
      const s = (await (await call(`/v1/batches/${id}`, { headers: h })).json()) as { status: string };
      if (["done", "failed", "cancelled"].includes(s.status)) return;
      await runDurableObjectAlarm(stub);
    }
    throw new Error(`batch ${id} did not end`);
  };
  const list = async (h: Record<string, string>, query = "") => {
    const res = await call(`/v1/batches${query}`, { headers: h });
    return { status: res.status, body: (await res.json()) as { data: ListItem[]; has_more: boolean; last_id: string | null; first_id: string | null } };
  };

  it("lists a tenant's own batches newest first, pages with limit and after, and shows what an ended one earned", async () => {
    const t = await newTenant();
    const other = await newTenant();
    const first = await submit(t.headers, ["12+34=", "345+678=", "56*78=", "1+1=", "234+567=", "4567*8912="], "learned");
    await finish(t.headers, first);
    const second = await submit(t.headers, ["9+9=", "99+99="], "uniform");
    const page = await list(t.headers);
    expect(page.status).toBe(200);
    expect(page.body.data.map((b) => b.id)).toEqual([second, first]);
    const ended = page.body.data[1];
    expect(ended).toMatchObject({ status: "done", mode: "best_of_k", prompts: 6 });
    expect(ended.ended_at).not.toBeNull();
    expect(ended.earned!.prompts).toBe(6);
    // What allot earned is per sample spent: the prefills are the same whatever the allocation.
    expect(ended.earned!.mean_units).toBeCloseTo((ended.allocation!.units_used - ended.allocation!.prefill_units) / 6, 6);
    expect(ended.earned!.quality).toBeGreaterThanOrEqual(0);
    expect(page.body.data[0].earned).toBeNull();
    // Pages of one.
    const p1 = await list(t.headers, "?limit=1");
    expect(p1.body).toMatchObject({ has_more: true, first_id: second, last_id: second });
    const p2 = await list(t.headers, `?limit=1&after=${second}`);
    expect(p2.body.data.map((b) => b.id)).toEqual([first]);
    expect(p2.body.has_more).toBe(false);
    // Someone else's batches are not listed, nor can they page through them.
    expect((await list(other.headers)).body.data).toEqual([]);
    expect((await list(other.headers, `?after=${first}`)).status).toBe(400);
    expect((await list(t.headers, "?limit=101")).status).toBe(400);
    expect((await list(t.headers, "?after=b_nope")).status).toBe(400);
    // The admin sees the same list, and a batch's live status.
    const viaAdmin = (await (await call(`/admin/tenants/${t.id}/batches`, { headers: ADMIN })).json()) as { data: ListItem[] };
    expect(viaAdmin.data.map((b) => b.id)).toEqual([second, first]);
    const one = await call(`/admin/tenants/${t.id}/batches/${second}`, { headers: ADMIN });
    expect(((await one.json()) as { id: string }).id).toBe(second);
    expect((await call(`/admin/tenants/${other.id}/batches/${second}`, { headers: ADMIN })).status).toBe(404);
    await finish(t.headers, second);
    const results = await call(`/admin/tenants/${t.id}/batches/${second}/results`, { headers: ADMIN });
    expect((await results.text()).trim().split("\n")).toHaveLength(2);
  });

  it("counts batches' prompts, samples and units in the rollups apart from online traffic, each batch once, under its predictor and model", async () => {
    const t = await newTenant();
    expect((await complete(t.headers, { prompt: "1+1=" }, { "x-allot-units": "2" })).status).toBe(200);
    const learned = await submit(t.headers, ["12+34=", "345+678=", "56*78="], "learned");
    const uniform = await submit(t.headers, ["9+9=", "99+99="], "uniform");
    await finish(t.headers, learned);
    await finish(t.headers, uniform);
    // Settling again (a status read of an ended batch, an alarm) counts nothing more.
    await runDurableObjectAlarm(env.BATCHES.get(env.BATCHES.idFromName(learned)));
    await call(`/v1/batches/${learned}`, { headers: t.headers });
    const results = async (id: string) =>
      new TextDecoder()
        .decode(await (await call(`/v1/batches/${id}/results`, { headers: t.headers })).arrayBuffer())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { status: string; samples: number; units: number; model: string });
    const rows = [...(await results(learned)), ...(await results(uniform))].filter((r) => r.status === "done");
    const samples = rows.reduce((s, r) => s + r.samples, 0);
    const { body } = await series(t.id);
    expect(sum(body.points, (p) => p.prompts)).toBe(1);
    expect(sum(body.points, (p) => p.batch_prompts)).toBe(rows.length);
    expect(sum(body.points, (p) => p.batch_samples)).toBe(samples);
    const listed = (await list(t.headers)).body.data;
    expect(sum(body.points, (p) => p.batch_units)).toBeCloseTo(listed.reduce((s, b) => s + b.allocation!.units_used, 0), 6);
    const summary = (await tenantLedger(env, t.id).summary())!;
    expect(summary.totals).toMatchObject({ prompts: 1, batch_prompts: rows.length, batch_samples: samples });
    // Per predictor ("uniform" for the uniform batch) and model, as online prompts are under `served`.
    const byPredictor = Object.fromEntries(Object.entries(summary.batch_served).map(([p, models]) => [p, Object.values(models).reduce((s, x) => s + x.prompts, 0)]));
    expect(byPredictor.uniform).toBe(2);
    expect(Object.entries(byPredictor).filter(([p]) => p !== "uniform").map(([, n]) => n)).toEqual([3]);
    expect(Object.keys(summary.batch_served.uniform)).toEqual(["strong"]);
    // Prometheus counts them too.
    const text = await (await call("/metrics", { headers: ADMIN })).text();
    expect(text).toContain(`allot_batch_prompts_total{tenant="${t.id}"} ${rows.length}`);
    expect(text).toContain(`allot_batch_samples_total{tenant="${t.id}"} ${samples}`);
  });

  it("leaves a refused submission out of the list and its units out of the rollups", async () => {
    const t = await newTenant({ day: 2 });
    const res = await call("/v1/batches", { method: "POST", headers: t.headers, body: JSON.stringify({ prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 3 } }) });
    expect(res.status).toBe(429);
    expect((await list(t.headers)).body.data).toEqual([]);
  });
});

describe("what allot earned (metrics/earned.ts) and latency quantiles (metrics/histogram.ts)", () => {
  it("compares observed quality with uniform's predicted curve at the same spend, and finds the units uniform would need", () => {
    // Two prompts, p = 0.5 and 0.1; allot gave them 1 and 3 units (mean 2) and both passed.
    const s = [
      { p: 0.5, units: 1 },
      { p: 0.1, units: 3 },
    ].reduce((acc, x) => addEarned(acc, earnedOf(1, x.units, curvePoints({ p: x.p }))), emptyEarned());
    const e = estimateEarned(s)!;
    const uniformAt2 = (1 - 0.5 ** 2 + 1 - 0.9 ** 2) / 2; // 0.47
    expect(e.mean_units).toBe(2);
    expect(e.quality).toBe(1);
    expect(e.quality_se).toBe(0); // both passed: no spread
    // One pass in two: mean 0.5, sample sd √0.5, standard error 0.5.
    expect(estimateEarned({ ...s, reward: 1, reward_sq: 1 })!.quality_se).toBeCloseTo(0.5, 12);
    expect(e.uniform_quality).toBeCloseTo(uniformAt2, 12);
    expect(e.gain).toBeCloseTo(1 - uniformAt2, 12);
    // Uniform never reaches a quality of 1 within 32 units (the p = 0.1 prompt stays below it).
    expect(e.uniform_units).toBeNull();
    // At a reachable quality, F(uniform_units) is that quality.
    const half = estimateEarned({ ...s, reward: 2 * 0.6, reward_sq: 2 * 0.36 })!;
    const F = (k: number) => (1 - 0.5 ** k + 1 - 0.9 ** k) / 2;
    const k = half.uniform_units!;
    const lo = Math.floor(k);
    expect(F(lo) + (k - lo) * (F(lo + 1) - F(lo))).toBeCloseTo(0.6, 12);
    expect(half.saved).toBeCloseTo(1 - 2 / k, 12);
    expect(estimateEarned(emptyEarned())).toBeNull();
  });

  it("reads quantiles off fixed buckets, to within a bucket's width", () => {
    const h = emptyHistogram();
    const values = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 700); // 0..699 ms
    for (const v of values) observe(h, v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1];
      const i = LATENCY_BOUNDS_MS.findIndex((b) => exact <= b);
      const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1];
      expect(quantile(h, q)!).toBeGreaterThanOrEqual(lo);
      expect(quantile(h, q)!).toBeLessThanOrEqual(LATENCY_BOUNDS_MS[i]);
    }
    expect(quantile(emptyHistogram(), 0.5)).toBeNull();
  });
});
