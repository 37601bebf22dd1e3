// Audits of online traffic (src/worker/online/audit.ts, docs/audits.md): a random share of
// requests also draws the rest of its max_units samples, scored, after its answer is charged.
// Against the real reference LM and real ledgers: an audited request's answer and charge are
// exactly an unaudited one's (the same seed, on a twin tenant), the audit's samples are
// counted apart, and the ledger keeps every reward in draw order.
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/core/config/settings.js";
import type { EarnedReport } from "../../src/core/audit/report.js";
import type { Env } from "../../src/worker/env.js";
import type { AuditRecord } from "../../src/worker/tenants/audits.js";
import { tenantLedger } from "../../src/worker/tenants/lookup.js";
import { ADMIN, call, newTenant, until } from "./support.js";

const env = workerEnv as unknown as Env;
const PREFILL = Number(SETTINGS.PREFILL_UNITS.default);
/** The audit size in these tests: the tenants' max_units. */
const K = 8;

type Allot = { units: number; samples: number; reward: number | null; rounds: number; choices: { samples: number; units: number; reward: number | null }[] };
type Completion = { choices: { text: string }[]; allot: Allot };

/** A tenant whose online settings are these tests' own, auditing `rate` of its requests (absent: the deployment's AUDIT_RATE, 0 in tests). */
async function auditingTenant(rate?: number) {
  const t = await newTenant();
  const online = { target_units: 4, min_units: 1, max_units: K, ...(rate === undefined ? {} : { audit_rate: rate }) };
  const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify(online) });
  expect(res.status).toBe(200);
  return t;
}

const complete = async (h: Record<string, string>, body: Record<string, unknown>, extra: Record<string, string> = {}) => {
  const res = await call("/v1/completions", { method: "POST", headers: { ...h, ...extra }, body: JSON.stringify({ model: "strong", temperature: 0.8, max_tokens: 12, ...body }) });
  expect(res.status).toBe(200);
  return (await res.json()) as Completion;
};

const used = async (h: Record<string, string>) => ((await (await call("/v1/usage", { headers: h })).json()) as { windows: { window: string; used: number; reserved: number }[] }).windows.find((w) => w.window === "day")!;

describe("audit_rate among a tenant's online settings", () => {
  it("is a fraction from 0 to 1, shown in force (the deployment's AUDIT_RATE when the tenant sets none)", async () => {
    const t = await newTenant();
    for (const bad of [1.5, -0.1, "0.5"]) {
      const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, audit_rate: bad }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe("audit_rate");
    }
    const set = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, audit_rate: 0.25 }) });
    expect(((await set.json()) as { audit_rate: number }).audit_rate).toBe(0.25);
    const unset = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4 }) });
    expect(((await unset.json()) as { audit_rate: number }).audit_rate).toBe(0); // vitest.config.ts sets AUDIT_RATE 0
  });
});

describe("audited online requests", () => {
  it("at audit_rate 1 audit every priced prompt: the same answer and charge as without, K rewards in draw order, the extra counted apart", async () => {
    const plain = await auditingTenant(0);
    const audited = await auditingTenant(1);
    // Waves (rounds decided by what is drawn), one round decided up front, and a prompt array.
    const requests: [Record<string, unknown>, Record<string, string>][] = [
      [{ prompt: "345+678=", seed: 7 }, {}],
      [{ prompt: "4567+8912=", seed: 7 }, {}],
      [{ prompt: "98765+43210=", seed: 5 }, {}],
      [{ prompt: "12+34=", seed: 8 }, {}],
      [{ prompt: "456+789=", seed: 9 }, { "x-allot-rounds": "1" }],
      [{ prompt: ["567+891=", "23+45="], seed: 10 }, {}],
    ];
    const ledger = tenantLedger(env, audited.id);
    const answers: Completion[] = [];
    let prompts = 0;
    for (const [body, headers] of requests) {
      const a = await complete(plain.headers, body, headers);
      const b = await complete(audited.headers, body, headers);
      // What the client sees is the policy's: the same texts, samples, units and rewards.
      expect(b.choices.map((c) => c.text)).toEqual(a.choices.map((c) => c.text));
      expect(b.allot.choices).toEqual(a.allot.choices);
      expect(b.allot.units).toBeCloseTo(a.allot.units, 9);
      answers.push(b);
      // Its audit lands in the background once the answer is charged; waiting for it keeps the ledger's order the requests'.
      prompts += b.allot.choices.length;
      await until(async () => (await ledger.listAudits())!.length === prompts, { timeoutMs: 30_000, what: "the request's audit" });
    }
    // The tenant is charged the policy's units only, and no reservation is left.
    const [pu, au] = [await used(plain.headers), await used(audited.headers)];
    expect(au.used).toBeCloseTo(pu.used, 9);
    const policy = answers.flatMap((a) => a.allot.choices);
    expect(au.used).toBeCloseTo(policy.reduce((s, c) => s + c.units, 0) + policy.length * PREFILL, 9);
    expect(au.reserved).toBe(0);

    const audits = (await ledger.listAudits())!;
    expect(audits).toHaveLength(policy.length);
    audits.forEach((x, i) => {
      const c = policy[i];
      expect(x.model).toBe("strong");
      expect(x.rewards).toHaveLength(K);
      expect(x.samples).toBe(c.samples);
      expect(x.units).toBe(c.units);
      expect(x.reward).toBe(c.reward);
      // The answer is the best of the policy's own samples: the first `samples` in draw order.
      expect(Math.max(...x.rewards.slice(0, x.samples))).toBe(c.reward);
      expect(x.audit_units).toBe(K - c.samples);
      expect(x.predictor).toBeTypeOf("string");
      expect(x.predicted).toBeGreaterThanOrEqual(0);
      expect(x.curve!.length).toBeGreaterThan(1);
    });
    // The cost of proof, counted apart from the tenant's spend.
    const life = (await ledger.lifetime())!;
    expect(life.audits).toBe(policy.length);
    expect(life.audit_units).toBe(policy.reduce((s, c) => s + K - c.samples, 0));
    expect(life.units).toBeCloseTo(au.used, 9);
    expect((await used(audited.headers)).used).toBeCloseTo(au.used, 9);
    // The usage API counts them, and says there are too few to tell yet.
    const report = ((await (await call("/v1/usage", { headers: audited.headers })).json()) as { earned: EarnedReport }).earned;
    expect(report.audits).toMatchObject({ prompts: policy.length, needed: 30, units: life.audit_units });
    expect(report.audits.note).toContain(`${policy.length} of 30`);
    expect(report.audited).toBeNull();
    expect(report.predicted!.prompts).toBe(policy.length);
  });

  it("at audit_rate 0 audit nothing, and never audit what the price did not decide (pinned, greedy)", async () => {
    const off = await auditingTenant(0);
    await complete(off.headers, { prompt: "345+678=", seed: 3 });
    const on = await auditingTenant(1);
    await complete(on.headers, { prompt: "345+678=", seed: 3 }, { "x-allot-units": "2" });
    await complete(on.headers, { prompt: "345+678=", seed: 3, temperature: 0 });
    // A priced request after them: once its audit is in, the others would have been too.
    await complete(on.headers, { prompt: "12+34=", seed: 3 });
    await until(async () => (await tenantLedger(env, on.id).listAudits())!.length > 0, { timeoutMs: 30_000, what: "the priced request's audit" });
    expect(await tenantLedger(env, on.id).listAudits()).toHaveLength(1);
    expect(await tenantLedger(env, off.id).listAudits()).toHaveLength(0);
    expect((await tenantLedger(env, off.id).lifetime())!.audits).toBe(0);
  });
});

describe("audits of a tenant on budget shards", () => {
  it("are recorded in its ledger, and charged nothing at the shard", async () => {
    const t = await newTenant();
    const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, max_units: K, shards: 2, audit_rate: 1 }) });
    expect(res.status).toBe(200);
    const b = await complete(t.headers, { prompt: "345+678=", seed: 7 });
    const ledger = tenantLedger(env, t.id);
    const [x] = await until(async () => {
      const xs = (await ledger.listAudits())!;
      return xs.length > 0 && xs;
    }, { timeoutMs: 30_000, what: "the audit" });
    expect(x).toMatchObject({ samples: b.allot.samples, reward: b.allot.reward, audit_units: K - b.allot.samples });
    expect(x.rewards).toHaveLength(K);
    // The shard reports what it charged (about once a second): the policy's units, nothing of the audit's.
    await until(async () => Math.abs((await used(t.headers)).used - b.allot.units) < 1e-9, { timeoutMs: 10_000, what: "the shard's report" });
  });
});

describe("earned.audited in the usage API", () => {
  /** A binary audit: the policy drew `samples` (its answer the best of them) of `rewards`. */
  const audit = (rewards: number[], samples: number): AuditRecord => ({
    model: "strong",
    predictor: "strong-binary",
    predicted: 0.5,
    curve: null,
    rewards,
    samples,
    units: samples,
    reward: Math.max(...rewards.slice(0, samples)),
    audit_units: rewards.length - samples,
  });

  it("is null with fewer than 30 audits, saying how many of how many; then measured, with 95% intervals, beside the prediction", async () => {
    const t = await auditingTenant(0);
    const ledger = tenantLedger(env, t.id);
    // Easy prompts (every sample passes) the policy answers with one sample; hard ones (one
    // pass in eight) it gives all eight: uniform at its mean spend does worse.
    const easy = audit([1, 1, 1, 1, 1, 1, 1, 1], 1);
    const hard = (i: number) => audit(Array.from({ length: 8 }, (_, j) => (j === i % 8 ? 1 : 0)), 8);
    await ledger.recordAudits(Array.from({ length: 29 }, (_, i) => (i % 2 ? easy : hard(i))));
    const usage = async () => ((await (await call("/v1/usage", { headers: t.headers })).json()) as { earned: EarnedReport }).earned;
    const few = await usage();
    expect(few.audited).toBeNull();
    expect(few.audits).toMatchObject({ prompts: 29, needed: 30 });
    expect(few.audits.note).toMatch(/too few audits to tell: 29 of 30/);
    expect(few.predicted).toBeNull(); // no adaptive requests: nothing predicted either

    await ledger.recordAudits([easy]);
    const e = await usage();
    expect(e.audits).toMatchObject({ prompts: 30, note: null });
    expect(e.audits.units).toBe(15 * 7);
    const a = e.audited!;
    expect(a.prompts).toBe(30);
    expect(a.mean_units).toBeCloseTo(4.5, 9);
    expect(a.quality).toBe(1);
    expect(a.uniform_quality).toBeLessThan(1);
    expect(a.gain).toBeGreaterThan(0);
    expect(a.saved).toBeGreaterThan(0);
    for (const [x, [lo, hi]] of [[a.saved!, a.saved_ci95!], [a.gain, a.gain_ci95]] as const) {
      expect(lo).toBeLessThanOrEqual(x);
      expect(x).toBeLessThanOrEqual(hi);
    }
    // The console's series over a range that holds them says the same; one before them has none.
    const series = async (q: string) => ((await (await call(`/admin/tenants/${t.id}/usage${q}`, { headers: ADMIN })).json()) as { earned: EarnedReport }).earned;
    expect((await series("?step=hour")).audited).toEqual(a);
    expect((await series("?step=hour&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z")).audits.prompts).toBe(0);
  });
});

describe("GET /admin/tenants/{id}/audits (allot audits export)", () => {
  type Page = { object: string; data: { id: number; rewards: number[]; samples: number; reward: number; form: string; hidden: number[] | null }[]; last_id: number | null; has_more: boolean; reward_model: string | null };
  const page = async (id: string, q = "") => {
    const res = await call(`/admin/tenants/${id}/audits${q}`, { headers: ADMIN });
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };

  it("pages a tenant's audited prompts oldest first, each with its rewards and the hidden state its prediction read", async () => {
    const t = await auditingTenant(1);
    for (const seed of [1, 2, 3]) await complete(t.headers, { prompt: "345+678=", seed });
    await until(async () => ((await tenantLedger(env, t.id).listAudits()) ?? []).length >= 3, { timeoutMs: 30_000, what: "three audits" });
    const first = await page(t.id, "?limit=2");
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    const rest = await page(t.id, `?limit=2&after=${first.last_id}`);
    expect(rest.data).toHaveLength(1);
    expect(rest.has_more).toBe(false);
    const all = [...first.data, ...rest.data];
    expect(all.map((a) => a.id)).toEqual([...all.map((a) => a.id)].sort((a, b) => a - b));
    for (const a of all) {
      expect(a.rewards).toHaveLength(K);
      expect(a.form).toBe("prompt");
      expect(a.hidden!.length).toBeGreaterThan(0);
      expect(a.hidden!.every(Number.isFinite)).toBe(true);
    }
    // The three prompts are the same text: the same hidden state, read from the reference LM.
    expect(all[1].hidden).toEqual(all[0].hidden);
  });

  it("refuses a bad page (400), an unknown tenant (404), and callers without the admin token (401)", async () => {
    const t = await newTenant();
    expect((await page(t.id)).data).toEqual([]);
    for (const q of ["?limit=0", "?limit=201", "?after=-1", "?after=x"]) expect((await call(`/admin/tenants/${t.id}/audits${q}`, { headers: ADMIN })).status, q).toBe(400);
    expect((await call(`/admin/tenants/0123456789abcdef/audits`, { headers: ADMIN })).status).toBe(404);
    expect((await call(`/admin/tenants/${t.id}/audits`, { headers: t.headers })).status).toBe(401);
  });
});

describe("feedback on audited prompts (docs/audits.md#feedback)", () => {
  type Agreement = { count: number; mean_feedback: number | null; mean_reward: number | null; mean_pass_rate: number | null; agreement: number | null };
  const feedbackOf = async (h: Record<string, string>) => ((await (await call("/v1/usage", { headers: h })).json()) as { feedback: { count: number; audited: Agreement } }).feedback;
  const give = (h: Record<string, string>, response_id: string, reward: number) => call("/v1/feedback", { method: "POST", headers: h, body: JSON.stringify({ response_id, reward }) });
  const passRate = (rewards: readonly number[]) => rewards.reduce((s, r) => s + Math.min(1, Math.max(0, r)), 0) / rewards.length;

  it("an audit keeps its response's id, and feedback on it is compared with the verifier's reward of the same answer", async () => {
    const t = await auditingTenant(1);
    const ledger = tenantLedger(env, t.id);
    const chat = await call("/v1/chat/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: "345+678=" }], seed: 3, max_tokens: 12 }) });
    expect(chat.status).toBe(200);
    const chatId = ((await chat.json()) as { id: string }).id;
    const two = (await (await call("/v1/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", prompt: ["12+34=", "4567*8912="], seed: 4, max_tokens: 12 }) })).json()) as { id: string };
    // Pinned: not audited (the price decided nothing), so its feedback is not among the audited.
    const pinned = (await (await call("/v1/completions", { method: "POST", headers: { ...t.headers, "x-allot-units": "1" }, body: JSON.stringify({ model: "strong", prompt: "1+1=", max_tokens: 8 }) })).json()) as { id: string };
    const audits = await until(async () => {
      const a = (await ledger.listAudits()) ?? [];
      return a.length === 3 && a;
    }, { timeoutMs: 30_000, what: "three audited prompts" });
    const byId = (id: string) => audits.filter((a) => a.response_id === id);
    expect(byId(chatId)).toHaveLength(1);
    expect(byId(two.id)).toHaveLength(2); // a completions request of two prompts: one id for both
    expect(byId(pinned.id)).toHaveLength(0);
    expect(await feedbackOf(t.headers)).toMatchObject({ count: 0, audited: { count: 0, mean_feedback: null, mean_reward: null, mean_pass_rate: null, agreement: null } });

    for (const [id, reward] of [[chatId, 1], [two.id, 0], [pinned.id, 1]] as const) expect((await give(t.headers, id, reward)).status).toBe(200);
    const f = await feedbackOf(t.headers);
    expect(f.count).toBe(3);
    const rated = [
      { feedback: 1, audit: byId(chatId)[0] },
      ...byId(two.id).map((audit) => ({ feedback: 0, audit })),
    ];
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(f.audited.count).toBe(3);
    expect(f.audited.mean_feedback).toBeCloseTo(1 / 3, 12);
    expect(f.audited.mean_reward).toBeCloseTo(mean(rated.map((r) => r.audit.reward)), 12);
    expect(f.audited.mean_pass_rate).toBeCloseTo(mean(rated.map((r) => passRate(r.audit.rewards))), 12);
    expect(f.audited.agreement).toBeCloseTo(mean(rated.map((r) => ((r.feedback >= 0.5) === (r.audit.reward >= 0.5) ? 1 : 0))), 12);
    // A second feedback replaces the first there too.
    expect((await give(t.headers, chatId, 0)).status).toBe(200);
    expect((await feedbackOf(t.headers)).audited.mean_feedback).toBe(0);
  });

  it("links feedback that arrives before its audit is recorded", async () => {
    const t = await auditingTenant(0);
    const ledger = tenantLedger(env, t.id);
    const id = "chatcmpl-" + "ab".repeat(24);
    await ledger.recordFeedback({ response_id: id, reward: 1, comment: null });
    expect((await feedbackOf(t.headers)).audited.count).toBe(0);
    const audit: AuditRecord = { model: "strong", predictor: null, predicted: null, curve: null, rewards: [1, 0, 0, 1], samples: 2, units: 2, reward: 1, audit_units: 2, response_id: id };
    await ledger.recordAudits([audit, { ...audit, response_id: null }]);
    expect((await feedbackOf(t.headers)).audited).toEqual({ count: 1, mean_feedback: 1, mean_reward: 1, mean_pass_rate: 0.5, agreement: 1 });
  });
});
