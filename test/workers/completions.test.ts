import { env as workerEnv } from "cloudflare:workers";
import type { Env } from "../../src/worker/env.js";
import { BudgetExceeded } from "../../src/core/errors.js";
import { httpError } from "../../src/worker/http/errors.js";
import { describe, expect, inject, it } from "vitest";
import { call } from "./support.js";
import { SETTINGS } from "../../src/core/config/settings.js";

/** What reading one prompt's hidden state costs (PREFILL_UNITS's default): every request pays it per prompt. */
const PREFILL = Number(SETTINGS.PREFILL_UNITS.default);

const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

async function tenant(budget: Record<string, number> = { day: 100_000 }) {
  const t = (await (await call("/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "t", budget }) })).json()) as { id: string };
  const k = (await (await call(`/admin/tenants/${t.id}/keys`, { method: "POST", headers: ADMIN })).json()) as { key: string };
  return { id: t.id, headers: { authorization: `Bearer ${k.key}`, "content-type": "application/json" } };
}

type Completion = {
  object: string;
  model: string;
  choices: { index: number; text: string; finish_reason: string | null }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  allot: { units: number; samples: number; predicted_success: number | null; price: number; reward: number | null };
  error?: { type: string; param: string | null; message: string };
};

const complete = async (h: Record<string, string>, body: Record<string, unknown>, extra: Record<string, string> = {}) => {
  const res = await call("/v1/completions", { method: "POST", headers: { ...h, ...extra }, body: JSON.stringify({ model: "strong", temperature: 0.8, max_tokens: 12, seed: 1, ...body }) });
  return { res, body: (await res.json()) as Completion };
};

describe("POST /v1/completions (OpenAI-compatible, adaptive best-of-k)", () => {
  it("answers in OpenAI's shape, counts every sample's tokens, and says what it did", async () => {
    const t = await tenant();
    const { res, body } = await complete(t.headers, { prompt: "345+678=" });
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ object: "text_completion", model: "strong" });
    expect(body.choices).toHaveLength(1);
    expect(body.choices[0]).toMatchObject({ index: 0, finish_reason: "stop" });
    const k = body.allot.units;
    expect(res.headers.get("x-allot-units")).toBe(String(k));
    expect(Number(res.headers.get("x-allot-predicted-success"))).toBeCloseTo(body.allot.predicted_success!, 3);
    expect(Number(res.headers.get("x-allot-price"))).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBeGreaterThanOrEqual(k); // every sample ends with at least its EOS
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
    if (body.allot.reward === 1) expect(body.choices[0].text).toBe("1023");
  });

  it("spends samples where they help: few on easy or hopeless prompts, more on hard ones (k decided up front: one round)", async () => {
    const t = await tenant();
    const units = async (prompt: string) => (await complete(t.headers, { prompt }, { "x-allot-rounds": "1" })).body.allot.units;
    const easy = await units("12+34=");
    const hard = await units("345+678=");
    const hopeless = await units("45678*91234=");
    expect(hard).toBeGreaterThan(easy);
    expect(hard).toBeGreaterThan(hopeless);
  });

  it("charges every sample against the budget, and answers 429 budget_exceeded when it runs out", async () => {
    const t = await tenant({ day: 5 });
    const first = await complete(t.headers, { prompt: "1+1=" }, { "x-allot-units": "4" });
    // Four samples (pinned: no hidden state was read, so no prefill).
    expect(first.body.allot.units).toBe(4);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { window: string; used: number }[] };
    expect(usage.windows.find((w) => w.window === "day")!.used).toBe(4);
    const over = await complete(t.headers, { prompt: "1+1=" }, { "x-allot-units": "2" });
    expect(over.res.status).toBe(429);
    expect(over.body.error!.type).toBe("budget_exceeded");
    expect(over.body.error!.message).toContain(t.id);
    expect(over.body.error!.message).toContain("day");
  });

  it("moves the tenant's price after each adaptive request, and keeps it across requests; pinned requests leave it", async () => {
    const t = await tenant();
    await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 2, min_units: 2, max_units: 8 }) });
    // Every request spends at least 2 against a target of 2: the price never falls, and
    // it rises whenever a request spends more (the first, at the starting price, does).
    const prices: number[] = [];
    for (let i = 0; i < 3; i++) prices.push((await complete(t.headers, { prompt: "345+678=", allot: { rounds: 1 } })).body.allot.price);
    expect(prices[1]).toBeGreaterThan(prices[0]);
    expect(prices[2]).toBeGreaterThanOrEqual(prices[1]);
    const pinned: number[] = [];
    for (let i = 0; i < 3; i++) pinned.push((await complete(t.headers, { prompt: "345+678=" }, { "x-allot-units": "8" })).body.allot.price);
    expect(new Set(pinned).size).toBe(1);
  });

  it.each([
    [{ prompt: "1+1=", n: 0 }, "n"],
    [{ prompt: "1+1=", stream: "yes" }, "stream"],
    // Passed to the LM, which (the reference LM) does not implement it: its reason, naming the field.
    [{ prompt: "12+34=", frequency_penalty: 0.5 }, "frequency_penalty"],
    [{ prompt: [] }, "prompt"],
    [{ prompt: [1, 2, 3] }, "prompt"],
    [{ prompt: "1+1=", allot: { units: 0 } }, "allot.units"],
    [{ prompt: "1+1=", allot: { units: 500 } }, "allot.units"],
  ])("rejects %j naming %s", async (body, param) => {
    const t = await tenant();
    const { res, body: out } = await complete(t.headers, body);
    expect(res.status).toBe(400);
    expect(out.error!.type).toBe("invalid_request_error");
    if (param !== null) expect(out.error!.param).toBe(param);
  });

  it("answers an unknown model with OpenAI's 404 model_not_found", async () => {
    const t = await tenant();
    const { res, body } = await complete(t.headers, { prompt: "1+1=", model: "gpt-9" });
    expect(res.status).toBe(404);
    expect(body.error).toMatchObject({ type: "invalid_request_error", param: "model", code: "model_not_found" });
  });

  it("gives one choice per prompt of a prompt array, each planned and charged on its own", async () => {
    const t = await tenant();
    const { res, body } = await complete(t.headers, { prompt: ["1+1=", "345+678=", "12+34="], max_tokens: 8 });
    expect(res.status).toBe(200);
    const out = body as unknown as { choices: { index: number; text: string }[]; allot: { units: number; prefill_units: number; choices: { units: number; samples: number }[] } };
    expect(out.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(out.allot.choices).toHaveLength(3);
    expect(out.allot.prefill_units).toBeCloseTo(3 * PREFILL, 9);
    expect(out.allot.units).toBeCloseTo(out.allot.choices.reduce((s, c) => s + c.units, 0) + out.allot.prefill_units, 9);
    expect(res.headers.get("x-allot-samples")!.split(",")).toHaveLength(3);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { used: number; reserved: number }[] };
    expect(usage.windows[0].used).toBeCloseTo(out.allot.units, 9);
    expect(usage.windows[0].reserved).toBe(0);
  });

  it("treats null as absent and does not send no-op fields to the LM", async () => {
    const t = await tenant();
    const nulls = { prompt: "12+34=", temperature: null, top_p: null, stop: null, seed: null, user: null, logit_bias: {}, frequency_penalty: 0, presence_penalty: null, stream: null, stream_options: null, n: null, logprobs: null, suffix: null, echo: null, best_of: null, metadata: { a: "b" }, store: false, service_tier: "auto" };
    const { res } = await complete(t.headers, nulls);
    expect(res.status).toBe(200);
  });

  it("draws one sample under greedy decoding (temperature 0)", async () => {
    const t = await tenant();
    const { res, body } = await complete(t.headers, { prompt: "345+678=", temperature: 0 });
    expect(res.status).toBe(200);
    expect(body.allot.samples).toBe(1);
    expect(res.headers.get("x-allot-samples")).toBe("1");
  });

  it("serves fewer samples when the budget has fewer left, and 429s with Retry-After only below the minimum", async () => {
    const t = await tenant({ day: 4 });
    const first = await complete(t.headers, { prompt: "345+678=" }, { "x-allot-units": "2" });
    expect(first.res.status).toBe(200);
    // 1.9 units left: a hard prompt planned in one round wants more than one sample, and gets the one its prefill leaves room for.
    const limited = await complete(t.headers, { prompt: "345+678=", allot: { rounds: 1 } });
    expect(limited.res.status).toBe(200);
    expect(limited.body.allot.samples).toBe(1);
    expect(limited.body.allot.units).toBeCloseTo(1 + PREFILL, 9);
    expect(limited.res.headers.get("x-allot-budget-limited")).toBe("true");
    expect(Number(limited.res.headers.get("x-allot-planned-units"))).toBeGreaterThan(1);
    const refused = await complete(t.headers, { prompt: "345+678=" });
    expect(refused.res.status).toBe(429);
    expect(refused.body.error!.type).toBe("budget_exceeded");
    const after = Number(refused.res.headers.get("retry-after"));
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThanOrEqual(86_400);
  });

  it("samples in waves: stops at the first pass, pays for what it drew, never past its cap or the tenant's rounds", async () => {
    const t = await tenant();
    // An easy prompt passes at once: one round, one sample.
    const easy = await complete(t.headers, { prompt: "12+34=" });
    expect(easy.body.allot).toMatchObject({ samples: 1, rounds: 1, reward: 1 });
    expect(easy.body.allot.units).toBeCloseTo(1 + PREFILL, 9);
    expect(easy.res.headers.get("x-allot-rounds")).toBe("1");
    // Stopping before the cap is not a budget limit: the budget had plenty.
    expect(easy.res.headers.get("x-allot-budget-limited")).toBeNull();
    // Hard prompts (the strong model solves 3+3-digit sums about half the time): rounds of
    // 1, 1, 2, 4 samples until a pass; a pass ends it, a failure means the rule stopped or the cap was hit.
    let drawn = 0;
    for (const [i, prompt] of ["345+678=", "456+789=", "567+891=", "678+912=", "789+123="].entries()) {
      const r = await complete(t.headers, { prompt, seed: 100 + i });
      const a = r.body.allot as unknown as { samples: number; units: number; rounds: number; reward: number };
      expect(a.units).toBeCloseTo(a.samples + PREFILL, 9);
      expect(a.rounds).toBeLessThanOrEqual(4); // the tenant's max_rounds
      // Rounds draw at most 1, 1, 2 samples; the last allowed one whatever the rule still wants, up to max_units (16).
      expect(a.samples).toBeLessThanOrEqual(a.rounds < 4 ? [1, 2, 4][a.rounds - 1] : 16);
      expect(a.samples).toBeGreaterThanOrEqual(a.rounds);
      drawn += a.samples;
    }
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { used: number; reserved: number }[] };
    expect(usage.windows[0].used).toBeCloseTo(drawn + 1 + 6 * PREFILL, 9);
    expect(usage.windows[0].reserved).toBe(0);
    // A caller may ask for fewer rounds than the tenant allows, not more.
    expect((await complete(t.headers, { prompt: "345+678=" }, { "x-allot-rounds": "9" })).res.status).toBe(400);
    const one = await complete(t.headers, { prompt: "345+678=", allot: { rounds: 1 } });
    expect((one.body.allot as unknown as { rounds: number }).rounds).toBe(1);
  });

  it("never overspends a small budget under many concurrent requests", async () => {
    const t = await tenant({ day: 30 });
    // 24 requests at once, each reserving what it expects to spend and topping up as it draws.
    const all = await Promise.all(Array.from({ length: 24 }, (_, i) => complete(t.headers, { prompt: `${300 + i}+${400 + i}=`, seed: i })));
    const served = all.filter((r) => r.res.status === 200);
    expect(served.length).toBeGreaterThan(0);
    for (const r of all) expect([200, 429]).toContain(r.res.status);
    const charged = served.reduce((a, r) => a + r.body.allot.units, 0);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { window: string; used: number; reserved: number }[] };
    const day = usage.windows.find((w) => w.window === "day")!;
    expect(day.used).toBeCloseTo(charged, 9);
    expect(day.reserved).toBe(0);
    expect(day.used).toBeLessThanOrEqual(30);
  });

  it("refuses a tenant whose budget cannot pay even the minimum before any LM work", async () => {
    const t = await tenant({ day: 2 });
    // Two pinned samples leave nothing: less than another's minimum.
    expect((await complete(t.headers, { prompt: "12+34=" }, { "x-allot-units": "2" })).res.status).toBe(200);
    // With the LM unreachable, any LM call would be a 502: the 429 shows none was made.
    const { serveOnline } = await import("../../src/worker/online/serve.js");
    const deadLm = { ...workerEnv, LM_URL: "http://127.0.0.1:9", LM_ATTEMPTS: "1" } as unknown as Env;
    const err = await serveOnline(deadLm, { tenant: t.id, shard: null }, { inputs: [{ prompt: "345+678=" }], model: "strong", params: { temperature: 0.8, topP: 1, maxTokens: 8 } }).catch((e) => e);
    expect(err).toBeInstanceOf(BudgetExceeded);
    expect(httpError(err)).toMatchObject({ status: 429, body: { error: { type: "budget_exceeded", code: "insufficient_quota" } }, headers: { "x-should-retry": "false" } });
  });

  it("rejects a bad x-allot-units header, and requests without a key", async () => {
    const t = await tenant();
    const bad = await complete(t.headers, { prompt: "1+1=" }, { "x-allot-units": "many" });
    expect(bad.res.status).toBe(400);
    expect(bad.body.error!.param).toBe("x-allot-units");
    expect((await call("/v1/completions", { method: "POST", body: "{}" })).status).toBe(401);
  });

  it("answers 502 when the LM fails, and charges nothing", async () => {
    const t = await tenant();
    const { res, body } = await complete(t.headers, { prompt: "1+1=", model: "fault-500x99:strong" }, { "x-allot-units": "2" });
    expect(res.status).toBe(502);
    expect(body.error!.type).toBe("upstream_error");
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { used: number; reserved: number }[] };
    expect(usage.windows[0]).toMatchObject({ used: 0, reserved: 0 });
  });
});

/** The `data:` payloads of an OpenAI event stream, [DONE] last. */
async function events(res: Response): Promise<string[]> {
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((e) => e.length > 0)
    .map((e) => {
      expect(e.startsWith("data: ")).toBe(true);
      return e.slice("data: ".length);
    });
}

describe("stream: true (OpenAI's chunk format)", () => {
  it("streams the same answer the JSON response gives, then finish_reason, usage and [DONE]", async () => {
    const t = await tenant();
    const body = { prompt: "4821+7733=" };
    const json = await complete(t.headers, body, { "x-allot-units": "4" });
    const res = await call("/v1/completions", {
      method: "POST",
      headers: { ...t.headers, "x-allot-units": "4" },
      body: JSON.stringify({ model: "strong", temperature: 0.8, max_tokens: 12, seed: 1, ...body, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-allot-units")).toBe("4");
    const data = await events(res);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    for (const c of chunks) expect(c.object).toBe("text_completion");
    const text = chunks.flatMap((c) => c.choices.map((ch: { text: string }) => ch.text)).join("");
    expect(text).toBe(json.body.choices[0].text);
    const final = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(final.choices[0].finish_reason).toBe(json.body.choices[0].finish_reason);
    expect(final.allot.units).toBe(4);
    expect(chunks.at(-1).usage).toEqual(json.body.usage);
  });
});

type Chat = {
  object: string;
  choices: { index: number; message: { role: string; content: string }; finish_reason: string | null }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  allot: { units: number; predicted_success: number | null; price: number; reward: number | null };
  error?: { type: string; param: string | null; message: string };
};

const chat = async (h: Record<string, string>, body: Record<string, unknown>, extra: Record<string, string> = {}) => {
  const res = await call("/v1/chat/completions", {
    method: "POST",
    headers: { ...h, ...extra },
    body: JSON.stringify({ model: "strong", temperature: 0.8, max_completion_tokens: 12, seed: 1, ...body }),
  });
  return { res, body: (await res.json()) as Chat };
};
const ask = (content: string) => [{ role: "system", content: "You are a calculator." }, { role: "user", content }];

describe("POST /v1/chat/completions (OpenAI-compatible, adaptive best-of-k)", () => {
  it("answers in OpenAI's chat shape, adapts k to the question, and counts every sample", async () => {
    const t = await tenant();
    const hard = await chat(t.headers, { messages: ask("345+678=") }, { "x-allot-rounds": "1" });
    expect(hard.res.status).toBe(200);
    expect(hard.body).toMatchObject({ object: "chat.completion" });
    expect(hard.body.choices[0]).toMatchObject({ index: 0, message: { role: "assistant" }, finish_reason: "stop" });
    expect(hard.res.headers.get("x-allot-units")).toBe(String(hard.body.allot.units));
    expect(hard.body.usage.completion_tokens).toBeGreaterThanOrEqual(hard.body.allot.units);
    if (hard.body.allot.reward === 1) expect(hard.body.choices[0].message.content).toBe("1023");
    const easy = await chat(t.headers, { messages: ask("12+34=") }, { "x-allot-rounds": "1" });
    expect(hard.body.allot.units).toBeGreaterThan(easy.body.allot.units);
    // The chat was predicted by the chat-form predictor, on the conversation's state as the
    // server renders it with the generation prompt (what collect --chat trained it on).
    const pooled = (await (await fetch(`${inject("lmUrl")}/pooling`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "strong", messages: ask("345+678="), task: "embed", add_generation_prompt: true }),
    })).json()) as { data: { data: number[] }[] };
    const offline = await call("/v1/allocate", { method: "POST", headers: t.headers, body: JSON.stringify({ budget: 1, max: 1, predictor: "strong-binary-chat", queries: [{ id: "a", hidden: pooled.data[0].data }] }) });
    const p = ((await offline.json()) as { allocation: { p: number }[] }).allocation[0].p;
    expect(hard.body.allot.predicted_success).toBeCloseTo(p, 5);
  });

  it("streams role, content pieces, finish_reason, usage and [DONE]", async () => {
    const t = await tenant();
    const json = await chat(t.headers, { messages: ask("4821+7733=") }, { "x-allot-units": "3" });
    const res = await call("/v1/chat/completions", {
      method: "POST",
      headers: { ...t.headers, "x-allot-units": "3" },
      body: JSON.stringify({ model: "strong", temperature: 0.8, max_completion_tokens: 12, seed: 1, messages: ask("4821+7733="), stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.status).toBe(200);
    const data = await events(res);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    for (const c of chunks) expect(c.object).toBe("chat.completion.chunk");
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const content = chunks.flatMap((c) => c.choices.map((ch: { delta: { content?: string } }) => ch.delta.content ?? "")).join("");
    expect(content).toBe(json.body.choices[0].message.content);
    expect(chunks.find((c) => c.choices[0]?.finish_reason).choices[0].finish_reason).toBe("stop");
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: json.body.usage });
  });

  it.each([
    [{ messages: [] }, "messages"],
    // Passed to the LM's chat template untouched; the reference LM's refuses them (a 400 naming the LM's reason).
    [{ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }, "messages"],
    [{ messages: [{ role: "tool", content: "1" }] }, "messages"],
    [{ messages: [{ role: "robot", content: "1" }] }, "messages[0].role"],
    [{ messages: ask("1+1="), tools: "f" }, "tools"],
    [{ messages: ask("1+1="), audio: { voice: "alloy", format: "mp3" } }, "audio"],
    [{ messages: ask("1+1="), modalities: ["text", "audio"] }, "modalities[1]"],
    [{ messages: ask("1+1="), n: 1.5 }, "n"],
    [{ messages: ask("1+1="), max_completion_tokens: 0 }, "max_completion_tokens"],
  ])("rejects %j naming %s", async (body, param) => {
    const t = await tenant();
    const { res, body: out } = await chat(t.headers, body);
    expect(res.status).toBe(400);
    expect(out.error!.param).toBe(param);
  });

  it("answers 400 with the LM's reason when its chat template refuses the conversation, and charges nothing", async () => {
    const t = await tenant();
    const { res, body } = await chat(t.headers, { messages: [{ role: "user", content: "1+1=" }, { role: "assistant", content: "2" }] });
    expect(res.status).toBe(400);
    expect(body.error!.type).toBe("invalid_request_error");
    expect(body.error!.message).toContain("last message");
    // The caller never learns where the LM lives.
    expect(body.error!.message).not.toMatch(/127\.0\.0\.1|http:/);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { used: number; reserved: number }[] };
    expect(usage.windows[0]).toMatchObject({ used: 0, reserved: 0 });
  });

  it("accepts every standard chat field: null as absent, bookkeeping ignored, refusal null in the answer", async () => {
    const t = await tenant();
    const { res, body } = await chat(t.headers, {
      messages: ask("12+34="),
      tool_choice: "none",
      tools: [],
      parallel_tool_calls: false,
      modalities: ["text"],
      metadata: { run: "x" },
      store: false,
      service_tier: "auto",
      prompt_cache_key: "k",
      safety_identifier: "u1",
      reasoning_effort: null,
      verbosity: "low",
      response_format: { type: "text" },
      logprobs: false,
      top_logprobs: null,
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: null,
      audio: null,
      stream_options: null,
      user: "u",
    });
    expect(res.status).toBe(200);
    expect((body as unknown as { choices: { message: { refusal: null } }[] }).choices[0].message.refusal).toBeNull();
  });
});

describe("routing online: model \"route\" (the shipped weak/strong router)", () => {
  type Routed = Completion & { model: string; allot: { model: string; samples: number; units: number } };
  const routed = async (h: Record<string, string>, prompt: string, extra: Record<string, string> = {}) => {
    const r = await complete(h, { prompt, model: "route" }, extra);
    return { res: r.res, body: r.body as Routed };
  };

  it("sends each prompt to the model that does it well, and charges samples × that model's cost", async () => {
    const t = await tenant();
    // 5-digit + 3-digit sums: the strong model solves 86%, the weak one 9% (manifests' tables).
    const toStrong = await routed(t.headers, "12345+678=");
    expect(toStrong.res.status).toBe(200);
    expect(toStrong.body.model).toBe("strong");
    expect(toStrong.res.headers.get("x-allot-model")).toBe("strong");
    expect(toStrong.body.allot.units).toBeCloseTo(3 * toStrong.body.allot.samples + PREFILL, 9);
    // 5-digit + 4-digit sums: weak 69%, strong 0%.
    const toWeak = await routed(t.headers, "54321+9876=");
    expect(toWeak.body.model).toBe("weak");
    expect(toWeak.body.allot.units).toBeCloseTo(toWeak.body.allot.samples + PREFILL, 9);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { window: string; used: number }[] };
    expect(usage.windows.find((w) => w.window === "day")!.used).toBeCloseTo(toStrong.body.allot.units + toWeak.body.allot.units, 9);
  });

  it("samples in a cascade: rounds pick a model each, pay each sample at its model's cost, and stay within the tenant's rounds and units", async () => {
    const t = await tenant();
    let charged = 0;
    for (const [i, prompt] of ["12345+678=", "54321+9876=", "345+678=", "4567*89=", "98765+4321="].entries()) {
      const r = await complete(t.headers, { prompt, model: "route", seed: 40 + i });
      expect(r.res.status).toBe(200);
      const a = (r.body as Routed).allot as Routed["allot"] & { rounds: number; reward: number };
      expect(["weak", "strong"]).toContain(a.model);
      expect(a.rounds).toBeLessThanOrEqual(4);
      expect(a.samples).toBeGreaterThanOrEqual(a.rounds);
      // Each sample costs 1 (weak) or 3 (strong): between all-weak and all-strong, within max_units (16).
      const sampled = a.units - PREFILL;
      expect(sampled).toBeGreaterThanOrEqual(a.samples - 1e-9);
      expect(sampled).toBeLessThanOrEqual(Math.min(3 * a.samples, 16) + 1e-9);
      expect(r.res.headers.get("x-allot-rounds")).toBe(String(a.rounds));
      charged += a.units;
    }
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { window: string; used: number; reserved: number }[] };
    expect(usage.windows.find((w) => w.window === "day")!.used).toBeCloseTo(charged, 9);
    expect(usage.windows.find((w) => w.window === "day")!.reserved).toBe(0);
    // One round decides the (model, k) up front, as before.
    const one = await complete(t.headers, { prompt: "12345+678=", model: "route", allot: { rounds: 1 } });
    expect((one.body.allot as unknown as { rounds: number }).rounds).toBe(1);
  });

  it("with units pinned, buys the most valuable option those units afford", async () => {
    const t = await tenant();
    const two = await routed(t.headers, "12345+678=", { "x-allot-units": "2" });
    expect(two.body.allot.units - PREFILL).toBeLessThanOrEqual(2 + 1e-9);
    expect(two.body.model).toBe("weak"); // a strong sample costs 3
    const three = await routed(t.headers, "12345+678=", { "x-allot-units": "3" });
    expect(three.body).toMatchObject({ model: "strong", allot: { samples: 1 } });
    expect(three.body.allot.units).toBeCloseTo(3 + PREFILL, 9);
  });

  it("routes chat requests too", async () => {
    const t = await tenant();
    const res = await call("/v1/chat/completions", {
      method: "POST",
      headers: t.headers,
      body: JSON.stringify({ model: "route", messages: [{ role: "user", content: "12345+678=" }], max_completion_tokens: 12, seed: 1 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; allot: { model: string } };
    expect(body.model).toBe("strong");
    expect(body.allot.model).toBe("strong");
  });

  it("stays within the tenant's max units, and rejects a pin of 0", async () => {
    const t = await tenant();
    await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 1, min_units: 1, max_units: 1 }) });
    // Max 1 unit: a strong sample (3 units) does not fit, however much better it is here.
    const one = (await routed(t.headers, "12345+678=")).body.allot;
    expect(one.model).toBe("weak");
    expect(one.units).toBeCloseTo(1 + PREFILL, 9);
    const bad = await routed(t.headers, "12345+678=", { "x-allot-units": "0" });
    expect(bad.res.status).toBe(400);
    expect(bad.body.error!.param).toBe("x-allot-units");
  });
});
