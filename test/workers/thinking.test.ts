// Thinking budgets served (src/worker/online/plan-thinking.ts, batches/thinking.ts,
// docs/thinking.md): requests and batches to the reference LM's "thinking" model, which
// wrangler.toml's THINKING_MODELS serves with vLLM's thinking_token_budget at 16 tokens a
// unit. Against the real reference LM (it forces the end of thinking at the budget, and
// reports reasoning tokens as vLLM does) and real ledgers: each prompt's budget is chosen
// from its prediction, reaches the server, and the tenant is charged the tokens generated.
import { createExecutionContext, runDurableObjectAlarm } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/core/config/settings.js";
import type { Env } from "../../src/worker/env.js";
import worker from "../../src/worker/index.js";
import { ADMIN, call, newTenant, until } from "./support.js";

const env = workerEnv as unknown as Env;
const PREFILL = Number(SETTINGS.PREFILL_UNITS.default);
const TOKENS_PER_UNIT = 16;

type Thinking = { budgets: (number | null)[]; tokens: number; reasoning_tokens: number };
type Choice = { samples: number; units: number; rounds: number; reward: number | null; thinking?: Thinking };
type Completion = {
  choices: { text: string }[];
  usage: { completion_tokens: number; completion_tokens_details?: { reasoning_tokens: number } };
  allot: Choice & { units: number; prefill_units: number; choices: Choice[] };
};

async function thinkingTenant(online: Record<string, unknown> = {}) {
  const t = await newTenant();
  const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 2, min_units: 1, max_units: 8, ...online }) });
  expect(res.status).toBe(200);
  return t;
}

async function complete(h: Record<string, string>, body: Record<string, unknown>, extra: Record<string, string> = {}, via = call) {
  const res = await via("/v1/completions", { method: "POST", headers: { ...h, ...extra }, body: JSON.stringify({ model: "thinking", temperature: 0.8, ...body }) });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as Completion;
}

const day = async (h: Record<string, string>) => ((await (await call("/v1/usage", { headers: h })).json()) as { windows: { window: string; used: number; reserved: number }[] }).windows.find((w) => w.window === "day")!;

/** Sums of few small operands (the predictor is sure of them) and of many large ones (it is not). */
const EASY = ["2+3=", "4+1=", "3+5=", "1+6="];
const HARD = ["617+305+94+48+71+86=", "839+472+65+918+27+54=", "758+96+341+87+609+15=", "947+382+56+719+63+28="];

describe("online requests to a model that thinks", () => {
  it("choose each prompt's thinking budget from its prediction: easy sums think less than hard ones, and the budget reaches the server", async () => {
    const t = await thinkingTenant();
    const first = async (prompt: string) => (await complete(t.headers, { prompt, seed: 3 })).allot.choices[0].thinking!;
    const easy = await Promise.all(EASY.map(first));
    const hard = await Promise.all(HARD.map(first));
    for (const th of [...easy, ...hard]) {
      // A budget of allot's on every round, each one of the predictor's levels.
      expect(th.budgets.length).toBeGreaterThan(0);
      for (const b of th.budgets) expect([0, 4, 8, 16, 32, 64]).toContain(b);
      // The server thought no longer than it was allowed (one sample a round here: the rule draws one at a time).
      expect(th.reasoning_tokens).toBeLessThanOrEqual(th.budgets.reduce<number>((s, b) => s + (b ?? 0), 0));
    }
    const firstBudget = (ths: Thinking[]) => ths.map((th) => th.budgets[0]!);
    expect(Math.max(...firstBudget(easy))).toBeLessThan(Math.min(...firstBudget(hard)));
    // Easy sums need no thinking at all.
    for (const th of easy) expect(th.reasoning_tokens).toBe(0);
  });

  it("charges the tokens generated (16 to a unit) and the prefill, exactly, and holds nothing after", async () => {
    const t = await thinkingTenant();
    const before = await day(t.headers);
    let total = 0;
    for (const prompt of [EASY[0], HARD[0], "17+35+9+48="]) {
      const r = await complete(t.headers, { prompt, seed: 11 });
      const th = r.allot.choices[0].thinking!;
      expect(th.tokens).toBe(r.usage.completion_tokens);
      expect(r.allot.choices[0].units).toBeCloseTo(th.tokens / TOKENS_PER_UNIT, 9);
      expect(r.allot.units).toBeCloseTo(th.tokens / TOKENS_PER_UNIT + PREFILL, 9);
      expect(r.usage.completion_tokens_details?.reasoning_tokens ?? 0).toBe(th.reasoning_tokens);
      total += r.allot.units;
    }
    const after = await day(t.headers);
    expect(after.used - before.used).toBeCloseTo(total, 9);
    expect(after.reserved).toBe(0);
  });

  it("in rounds, a failed short think may be followed by a longer one (the sequential core decides)", async () => {
    const t = await thinkingTenant({ target_units: 4, max_units: 12 });
    // Prompts of middling difficulty, whose first think is short: some fail it and draw again, and some of those think longer.
    const MID = ["123+456+789=", "305+94+48+71=", "8+7+6+5+4+3=", "56+78+91=", "99+88+77="];
    const runs = await Promise.all(MID.flatMap((prompt) => [1, 2, 3, 4].map((seed) => complete(t.headers, { prompt, seed }))));
    const multi = runs.map((r) => r.allot.choices[0].thinking!.budgets as number[]).filter((b) => b.length > 1);
    expect(multi.length).toBeGreaterThan(0);
    expect(multi.some((b) => b.some((x, i) => i > 0 && x > b[0]))).toBe(true);
  });

  it("chooses budgets for conversations too (the chat-form thinking predictor), returning the thinking apart as vLLM does", async () => {
    const t = await thinkingTenant();
    const chat = async (content: string) => {
      const res = await call("/v1/chat/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "thinking", messages: [{ role: "user", content }], temperature: 0.8, seed: 2 }) });
      expect(res.status).toBe(200);
      return (await res.json()) as { choices: { message: { content: string; reasoning?: string } }[]; allot: Choice & { warnings?: string[] } };
    };
    const easy = await chat(EASY[1]);
    const hard = await chat(HARD[2]);
    // Predicted, not the fallback without a prediction.
    expect(easy.allot.warnings).toBeUndefined();
    expect(easy.allot.thinking!.budgets[0]).not.toBeNull();
    expect(hard.allot.thinking!.budgets[0]!).toBeGreaterThan(easy.allot.thinking!.budgets[0]!);
    expect(hard.choices[0].message.reasoning?.length ?? 0).toBeGreaterThan(0);
  });

  it("draws a long prompt whose thinking ceiling overflows the context within the room the server names (allot's max_tokens, not the client's)", async () => {
    const t = await thinkingTenant({ target_units: 4, max_units: 12 });
    // Six 3-digit operands: 24 prompt tokens, and level 64 + the answer's allowance is 73 > the reference LM's 96 − 24.
    const long = ["617+305+941+448+715+864=", "839+472+651+918+273+540=", "758+961+341+872+609+153="];
    const runs = await Promise.all(long.flatMap((prompt) => [1, 2].map((seed) => complete(t.headers, { prompt, seed }))));
    expect(runs.some((r) => r.allot.choices[0].thinking!.budgets.includes(64))).toBe(true);
    // But a max_tokens the client set is the client's: refused as too long, naming max_tokens.
    const res = await call("/v1/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "thinking", prompt: long[0], max_tokens: 90 }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded");
  });

  it("keeps a budget the client pinned (vLLM's thinking_token_budget): allot sends none of its own", async () => {
    const t = await thinkingTenant();
    const r = await complete(t.headers, { prompt: HARD[1], seed: 5, thinking_token_budget: 4 });
    const th = r.allot.choices[0].thinking!;
    expect(th.budgets.every((b) => b === null)).toBe(true);
    // The server got the client's 4: at most 4 thinking tokens per sample.
    expect(th.reasoning_tokens).toBeLessThanOrEqual(4 * r.allot.choices[0].samples);
    expect(r.allot.units).toBeCloseTo(th.tokens / TOKENS_PER_UNIT + PREFILL, 9);
  });

  it("the Responses API's reasoning.effort pins the thinking too, and its usage counts the reasoning tokens", async () => {
    const t = await thinkingTenant();
    const res = await call("/v1/responses", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "thinking", input: HARD[0], reasoning: { effort: "low" } }) });
    expect(res.status).toBe(200);
    const r = (await res.json()) as { output: { type: string }[]; usage: { output_tokens: number; output_tokens_details: { reasoning_tokens: number } }; allot: { thinking: Thinking } };
    expect(r.allot.thinking.budgets.every((b) => b === null)).toBe(true);
    expect(r.usage.output_tokens).toBe(r.allot.thinking.tokens);
    expect(r.usage.output_tokens_details.reasoning_tokens).toBe(r.allot.thinking.reasoning_tokens);
    expect(r.output.map((o) => o.type)).toContain("reasoning");
  });

  it("pinned samples (x-allot-units) draw that many, charged by their tokens; no prefill is read", async () => {
    const t = await thinkingTenant();
    const r = await complete(t.headers, { prompt: HARD[2], seed: 5 }, { "x-allot-units": "3" });
    expect(r.allot.choices[0].samples).toBe(3);
    expect(r.allot.prefill_units).toBe(0);
    expect(r.allot.units).toBeCloseTo(r.allot.choices[0].thinking!.tokens / TOKENS_PER_UNIT, 9);
  });

  it("refuses a bad THINKING_MODELS by name (a 503 that says what to set), never a 500", async () => {
    const t = await thinkingTenant();
    const broken = { ...env, THINKING_MODELS: '{"thinking": {"backend": {"kind": "telepathy"}}}' } as Env;
    const via = (path: string, init?: RequestInit) => worker.fetch(new Request(`https://allot.test${path}`, init), broken, createExecutionContext());
    const res = await via("/v1/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "thinking", prompt: "2+3=" }) });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("THINKING_MODELS");
  });

  it("an outage of the model's server mid-request charges nothing it did not draw, and leaves nothing reserved", async () => {
    const t = await thinkingTenant();
    const before = await day(t.headers);
    // Every LM call fails (nothing listens there); hidden states and rewards still come from the real server.
    const down = { ...env, LM_URLS: `thinking=http://127.0.0.1:9` } as unknown as Env;
    const via = (path: string, init?: RequestInit) => worker.fetch(new Request(`https://allot.test${path}`, init), down, createExecutionContext());
    const res = await via("/v1/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "thinking", prompt: HARD[3], seed: 1 }) });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.status).not.toBe(500);
    const after = await until(async () => {
      const d = await day(t.headers);
      return d.reserved === 0 && d;
    }, { timeoutMs: 20_000, what: "the reservation to be released" });
    // At most the prefill that was read: no sample was drawn.
    expect(after.used - before.used).toBeLessThanOrEqual(PREFILL + 1e-9);
  });
});

describe("batches of a model that thinks", () => {
  type BatchStatus = { id: string; status: string; allocation: { mode: string; budget_units: number; units_used: number; prefill_units: number; predictor: string | null } };
  type Row = { id: string; reward: number | null; units: number; samples: number; status: string };
  const TERMINAL = ["done", "failed", "cancelled"];

  async function run(h: Record<string, string>, body: Record<string, unknown>): Promise<{ s: BatchStatus; rows: Row[] }> {
    const res = await call("/v1/batches", { method: "POST", headers: h, body: JSON.stringify({ model: "thinking", ...body }) });
    const text = await res.text();
    expect(res.status, text).toBe(202);
    const { id } = JSON.parse(text) as { id: string };
    const stub = env.BATCHES.get(env.BATCHES.idFromName(id));
    const s = await until(async () => {
      const st = (await (await call(`/v1/batches/${id}`, { headers: h })).json()) as BatchStatus;
      if (TERMINAL.includes(st.status)) return st;
      await runDurableObjectAlarm(stub);
      return null;
    }, { timeoutMs: 60_000, what: `batch ${id} to end` });
    const out = (await (await call(`/v1/batches/${id}/results`, { headers: h })).text()).trim();
    return { s, rows: out === "" ? [] : out.split("\n").map((l) => JSON.parse(l) as Row) };
  }

  const prompts = [...EASY, ...HARD].map((prompt, i) => ({ id: `p${i}`, prompt }));

  it("are not audited, even at audit_rate 1 (an audit set would need samples at every level), and thinking requests online neither", async () => {
    const t = await thinkingTenant({ audit_rate: 1 });
    const { s } = await run(t.headers, { allocation: "learned", prompts, budget: { average: 2, min: 0, max: 8 }, sampling: { seed: 4, temperature: 0.8 } });
    expect(s.status).toBe("done");
    expect((s as unknown as { audits: unknown }).audits).toBeNull();
    await complete(t.headers, { prompt: HARD[0], seed: 1 });
    // No audit of either: none recorded in the tenant's ledger.
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { earned: { audits: { prompts: number; units: number } } };
    expect(usage.earned.audits.prompts).toBe(0);
    expect(usage.earned.audits.units).toBe(0);
  });

  for (const allocation of ["learned", "waves", "uniform"] as const) {
    it(`${allocation}: shares the budget over thinking levels and samples, charged the tokens generated`, async () => {
      const t = await newTenant();
      const before = await day(t.headers);
      const { s, rows } = await run(t.headers, { allocation, prompts, budget: { average: 2, min: 0, max: 8 }, sampling: { seed: 4, temperature: 0.8 } });
      expect(s.status).toBe("done");
      expect(rows).toHaveLength(prompts.length);
      for (const r of rows) {
        // Each prompt's units are whole tokens generated, 16 to a unit: the charge counts tokens, not planned costs.
        const tokens = r.units * TOKENS_PER_UNIT;
        expect(Math.abs(tokens - Math.round(tokens))).toBeLessThan(1e-6);
      }
      const sampled = rows.reduce((x, r) => x + r.units, 0);
      expect(s.allocation.units_used).toBeCloseTo(sampled + s.allocation.prefill_units, 6);
      const after = await day(t.headers);
      expect(after.used - before.used).toBeCloseTo(s.allocation.units_used, 6);
      expect(after.reserved).toBe(0);
      if (allocation !== "uniform") {
        // Easy sums are solved cheaply; the units go to the hard ones.
        const unitsOf = (ids: string[]) => rows.filter((r) => ids.includes(r.id)).reduce((x, r) => x + r.units, 0);
        expect(unitsOf(prompts.slice(4).map((p) => p.id))).toBeGreaterThan(unitsOf(prompts.slice(0, 4).map((p) => p.id)));
      }
      if (allocation === "waves") expect(sampled).toBeLessThanOrEqual(s.allocation.budget_units + 8 * (4 + 64) / TOKENS_PER_UNIT);
    });
  }
});
