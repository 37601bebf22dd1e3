// What allot does with OpenAI's request fields and features, inside workerd against the
// real reference LM (through the fault proxy, which records what reaches the LM): the one
// field table, n, tools, stop and the verifier, warnings, rate-limit headers, streaming,
// the Responses API, models, embeddings, files and OpenAI-shaped batches.
import { env as workerEnv } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { FIELDS, ENDPOINTS, fieldsOf, requestSchema } from "../../src/core/contracts/openai.js";
import { cutAtStop, rank } from "../../src/core/backends/best-of-k.js";
import { createApp } from "../../src/worker/app.js";
import type { Env } from "../../src/worker/env.js";
import { CORS_ALLOWED, CORS_EXPOSED, RESPONSE_HEADERS } from "../../src/worker/http/headers.js";
import { goDuration } from "../../src/worker/online/headers.js";
import { StreamedSample } from "../../src/core/backends/completions.js";
import { CHAT_FORMAT } from "../../src/worker/online/openai-response.js";
import { outputItems } from "../../src/worker/online/responses-format.js";
import { call, newTenant } from "./support.js";

const env = workerEnv as unknown as Env;
const ask = (content: string) => [{ role: "user", content }];
const post = (path: string, headers: Record<string, string>, body: unknown, extra: Record<string, string> = {}) =>
  call(path, { method: "POST", headers: { ...headers, ...extra }, body: JSON.stringify(body) });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (res: Response): Promise<any> => res.json();

/** The bodies that reached the LM carrying `marker` (a field of the test's own, which the gateway forwards). */
async function reached(marker: string): Promise<Record<string, unknown>[]> {
  const seen = (await (await fetch(`${inject("lmUrl")}/__seen`)).json()) as { path: string; body: string }[];
  return seen.filter((r) => r.body.includes(marker)).map((r) => JSON.parse(r.body) as Record<string, unknown>);
}

describe("the field table", () => {
  it("has one row per field and endpoint, and every row says what allot does or when it is sent", () => {
    for (const e of ENDPOINTS) {
      const names = fieldsOf(e).map((f) => f.name);
      expect(new Set(names).size, e).toBe(names.length);
    }
    for (const f of FIELDS) expect(f.does !== "" || f.sent !== null, f.name).toBe(true);
  });

  it("keeps fields it does not know, refuses the refused ones, and validates the rest", () => {
    const chat = requestSchema("chat", ["model", "messages"]);
    expect(chat.safeParse({ model: "m", messages: ask("1+1="), top_k: 5, chat_template_kwargs: { enable_thinking: false } }).data).toMatchObject({ top_k: 5 });
    expect(chat.safeParse({ model: "m", messages: ask("1+1="), audio: { voice: "x" } }).success).toBe(false);
    expect(chat.safeParse({ model: "m", messages: ask("1+1="), temperature: 3 }).success).toBe(false);
    expect(requestSchema("responses", ["model", "input"]).safeParse({ model: "m", input: "x", background: true }).success).toBe(false);
  });

  it("forwards provider fields and leaves out what the client left out: no temperature, top_p or max_tokens of allot's own", async () => {
    const t = await newTenant();
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("12+34="), top_k: 5, min_p: 0.1, repetition_penalty: 1.1, chat_template_kwargs: { enable_thinking: false }, x_marker: "fields-1" }, { "x-allot-units": "1" });
    expect(res.status).toBe(200);
    const [sent] = await reached("fields-1");
    expect(sent).toMatchObject({ top_k: 5, min_p: 0.1, repetition_penalty: 1.1, chat_template_kwargs: { enable_thinking: false } });
    for (const absent of ["temperature", "top_p", "max_tokens", "stop"]) expect(sent, absent).not.toHaveProperty(absent);
  });

  it("takes max_tokens up to what the model allows: above its context, the LM server's reason comes back", async () => {
    const t = await newTenant();
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("12+34="), max_tokens: 100_000 }, { "x-allot-units": "1" });
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatchObject({ code: "context_length_exceeded", param: "max_tokens" });
  });
});

describe("n", () => {
  it("gives the n best of at least n samples, ordered best first, charged as drawn", async () => {
    const t = await newTenant();
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("345+678="), n: 3, temperature: 0.8, seed: 3 });
    const body = await json(res);
    expect(body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
    expect(body.allot.samples).toBeGreaterThanOrEqual(3);
    expect(Number(res.headers.get("x-allot-units"))).toBeCloseTo(body.allot.samples + 0.1, 6); // and the prefill
  });

  it("orders a completions prompt array's choices prompt-major", async () => {
    const t = await newTenant();
    const body = await json(await post("/v1/completions", t.headers, { model: "strong", prompt: ["12+34=", "1+1="], n: 2, temperature: 0.8 }));
    expect(body.choices.map((c: { index: number; text: string }) => [c.index, c.text])).toEqual([
      [0, "46"],
      [1, "46"],
      [2, "2"],
      [3, "2"],
    ]);
  });

  it("refuses an n above the tenant's max_units, or above the samples pinned", async () => {
    const t = await newTenant();
    expect((await json(await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("1+1="), n: 20 }))).error.param).toBe("n");
    expect((await json(await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("1+1="), n: 3 }, { "x-allot-units": "2" }))).error.param).toBe("x-allot-units");
  });
});

describe("tools", () => {
  const tools = [{ type: "function", function: { name: "check", parameters: { type: "object", properties: { answer: { type: "string" } } } } }];

  it("passes them to the LM and answers with the call most samples make, in one round", async () => {
    const t = await newTenant();
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("345+678="), tools, temperature: 0.8, x_marker: "tools-1" }, { "x-allot-units": "5" });
    const body = await json(res);
    expect(body.choices[0].finish_reason).toBe("tool_calls");
    expect(body.choices[0].message.content).toBeNull();
    const call = body.choices[0].message.tool_calls[0];
    expect(call).toMatchObject({ type: "function", function: { name: "check" } });
    expect(body.allot).toMatchObject({ ranked_by: "agreement", reward: null, rounds: 1, samples: 5 });
    expect(body.allot.agreement).toBeGreaterThanOrEqual(0.2);
    const [sent] = await reached("tools-1");
    expect(sent.tools).toEqual(tools);
  });

  it("ranks by the most frequent identical call (arguments compared as parsed JSON), the earliest on a tie", () => {
    const s = (args: string, reward: number | null = null) => ({ text: "", toolCalls: [{ id: "x", type: "function" as const, function: { name: "f", arguments: args } }], reasoning: null, finishReason: "tool_calls", logprobs: null, reward });
    const r = rank([s('{"a":1,"b":2}'), s('{"a":2}'), s('{"b":2,"a":1}'), { ...s(""), toolCalls: null, text: "no call", reward: 1 }], 0, 0);
    expect(r.by).toBe("agreement");
    expect(r.votes).toBe(2);
    expect(r.order.slice(0, 2)).toEqual([0, 2]);
    const texts = rank([{ ...s(""), toolCalls: null, text: "a", reward: 0 }, { ...s(""), toolCalls: null, text: "b", reward: 1 }, s("{}")], 0, 0);
    expect(texts).toMatchObject({ by: "reward", best: "b", reward: 1 });
  });
});

describe("reasoning", () => {
  it("comes back under the name the LM server gave it, as chat's field, a streamed delta, and a Responses reasoning item", () => {
    const streamed = new StreamedSample();
    const pieces = [
      ...streamed.add({ choices: [{ index: 0, delta: { reasoning: "carry the 1" } }] }),
      ...streamed.add({ choices: [{ index: 0, delta: { content: "46" }, finish_reason: "stop" }], usage: { prompt_tokens: 6, completion_tokens: 9, total_tokens: 15 } }),
    ];
    expect(pieces).toEqual([{ reasoning: "carry the 1", field: "reasoning" }, { text: "46" }]);
    const sample = streamed.sample();
    expect(sample).toMatchObject({ text: "46", reasoning: { field: "reasoning", text: "carry the 1" }, finishReason: "stop" });
    const answer = { ...sample, reward: 1, reasoning: { field: "reasoning_content" as const, text: "carry the 1" } };
    expect(CHAT_FORMAT.choice(0, answer)).toMatchObject({ message: { content: "46", reasoning_content: "carry the 1" } });
    const items = outputItems("resp_0123456789abcdef01234567", answer);
    expect(items.map((i) => i.type)).toEqual(["reasoning", "message"]);
    expect(items[0]).toMatchObject({ summary: [], content: [{ type: "reasoning_text", text: "carry the 1" }] });
  });
});

describe("stop and the verifier", () => {
  it("applies a client's stop after scoring: the verifier judges whole answers, and a stop that cuts every answer spends nothing extra", async () => {
    const t = await newTenant();
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("12+34="), stop: ["6"], temperature: 0.8, x_marker: "stop-1" });
    const body = await json(res);
    expect(body.choices[0]).toMatchObject({ message: { content: "4" }, finish_reason: "stop" });
    expect(body.allot.reward).toBe(1); // "46" passed
    expect(body.allot.samples).toBe(1); // predicted 0.91 and passed at once, not drawn to the maximum
    const sent = await reached("stop-1");
    expect(sent.every((b) => !("stop" in b) || b.n === 1)).toBe(true);
    expect(cutAtStop("46\n1", ["\n", "6"])).toEqual({ text: "4", stopped: true });
  });

  it("says so when every sample was cut by max_tokens", async () => {
    const t = await newTenant();
    const res = await post("/v1/completions", t.headers, { model: "strong", prompt: "345+678=", max_tokens: 1, temperature: 0.8 }, { "x-allot-units": "3" });
    const body = await json(res);
    expect(body.allot.warnings[0]).toMatch(/all 3 samples stopped at the token limit \(max_tokens 1\)/);
    expect(res.headers.get("x-allot-warning")).toMatch(/max_tokens 1/);
  });
});

describe("x-ratelimit-* headers", () => {
  it("report the tenant's tightest window: limit, what is left after the request, and when it resets (Go duration)", async () => {
    const t = await newTenant({ day: 1000, hour: 50 });
    const res = await post("/v1/completions", t.headers, { model: "strong", prompt: "1+1=" }, { "x-allot-units": "2" });
    expect(res.headers.get("x-ratelimit-limit-units")).toBe("50");
    expect(res.headers.get("x-ratelimit-remaining-units")).toBe("48");
    expect(res.headers.get("x-ratelimit-reset-units")).toMatch(/^(\d+m)?[\d.]+s$/);
    expect(goDuration(360_000)).toBe("6m0s");
    expect(goDuration(3_723_500)).toBe("1h2m3.5s");
    expect(CORS_EXPOSED).toEqual(expect.arrayContaining([RESPONSE_HEADERS.remainingUnits.name, RESPONSE_HEADERS.warning.name]));
    expect(CORS_ALLOWED).toEqual(expect.arrayContaining(["x-allot-units", "x-allot-rounds"]));
  });

  it("are what CORS exposes, from the one list of headers", async () => {
    const res = await createApp().fetch(
      new Request("https://allot.test/v1/chat/completions", { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "x-allot-rounds" } }),
      { ...env, CORS_ORIGINS: "https://app.example" } as Env,
      createExecutionContext(),
    );
    expect(res.headers.get("access-control-allow-headers")).toContain("x-allot-rounds");
  });
});

/** A stream's SSE events, as [event name or null, data] pairs, and its comments. */
async function events(res: Response): Promise<{ data: string[]; named: [string | null, string][]; comments: number }> {
  const text = await res.text();
  const blocks = text.split("\n\n").filter((b) => b.trim() !== "");
  const named: [string | null, string][] = [];
  let comments = 0;
  for (const b of blocks) {
    if (b.startsWith(":")) {
      comments++;
      continue;
    }
    const ev = /^event: (.+)$/m.exec(b)?.[1] ?? null;
    const data = /^data: (.*)$/m.exec(b)?.[1];
    if (data !== undefined) named.push([ev, data]);
  }
  return { data: named.map(([, d]) => d), named, comments };
}

describe("streaming", () => {
  it("a one-sample plan streams the LM's tokens: role first, then content, then finish_reason with allot, usage, [DONE]", async () => {
    const t = await newTenant();
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("345+678="), temperature: 0, stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const { data } = await events(res);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("1023");
    const close = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(close.choices[0].finish_reason).toBe("stop");
    expect(close.allot).toMatchObject({ samples: 1, reward: 1 });
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
  });

  it("a request that samples in rounds sends keep-alive comments while it works, then the answer", async () => {
    const t = await newTenant();
    // A slow LM (1.5 s a call, past the 1 s grace), two samples pinned: one round of two.
    const res = await post("/v1/chat/completions", t.headers, { model: "fault-delayx1500:strong", messages: ask("12+34="), stream: true }, { "x-allot-units": "2" });
    const { data, comments } = await events(res);
    expect(comments).toBeGreaterThanOrEqual(1);
    expect(data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? "").join("")).toBe("46");
  });

  it("an error before the stream starts stays an HTTP error (a budget that is spent)", async () => {
    const t = await newTenant({ day: 1 });
    const res = await post("/v1/chat/completions", t.headers, { model: "strong", messages: ask("12+34="), stream: true }, { "x-allot-units": "3" });
    expect(res.status).toBe(429);
  });
});

describe("the Responses API", () => {
  const tools = [{ type: "function", name: "check", parameters: { type: "object", properties: { answer: { type: "string" } } } }];

  it("answers a string or items with instructions, in OpenAI's Response shape, kept for GET", async () => {
    const t = await newTenant();
    const res = await post("/v1/responses", t.headers, { model: "strong", input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "12+34=" }] }], instructions: "You are a calculator.", metadata: { k: "v" } });
    const r = await json(res);
    expect(r).toMatchObject({ object: "response", status: "completed", instructions: "You are a calculator.", metadata: { k: "v" } });
    expect(r.output[0]).toMatchObject({ type: "message", role: "assistant", content: [{ type: "output_text", text: "46", annotations: [] }] });
    expect(r.usage.input_tokens).toBeGreaterThan(0);
    expect(res.headers.get("x-allot-units")).not.toBeNull();
    expect((await json(await call(`/v1/responses/${r.id}`, { headers: t.headers }))).output[0].content[0].text).toBe("46");
    const other = await newTenant();
    expect((await call(`/v1/responses/${r.id}`, { headers: other.headers })).status).toBe(404);
  });

  it("calls function tools as function_call items, and continues after function_call_output", async () => {
    const t = await newTenant();
    // Nine samples, so the call most of them make is the right one (one sample is wrong ~9% of the time: a flaky test).
    const r = await json(await post("/v1/responses", t.headers, { model: "strong", input: "12+34=", tools }, { "x-allot-units": "9" }));
    const fc = r.output.find((o: { type: string }) => o.type === "function_call");
    expect(fc).toMatchObject({ type: "function_call", name: "check", arguments: '{"answer":"46"}', status: "completed" });
    expect(fc.call_id).toBeTruthy();
    const next = await json(await post("/v1/responses", t.headers, { model: "strong", tools, previous_response_id: r.id, input: [{ type: "function_call_output", call_id: fc.call_id, output: "correct" }] }));
    expect(next.output[0].content[0].text).toBe("46");
  });

  it("resolves an item_reference to a stored output item; refuses one it does not hold, and store: false keeps nothing", async () => {
    const t = await newTenant();
    const first = await json(await post("/v1/responses", t.headers, { model: "strong", input: "12+34=" }));
    const ok = await post("/v1/responses", t.headers, { model: "strong", input: [{ role: "user", content: "12+34=" }, { type: "item_reference", id: first.output[0].id }, { role: "user", content: "1+1=" }] });
    expect((await json(ok)).output[0].content[0].text).toBe("2");
    const bad = await post("/v1/responses", t.headers, { model: "strong", input: [{ type: "item_reference", id: "msg_000000000000000000000000_0" }, { role: "user", content: "1+1=" }] });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.param).toBe("input[0].id");
    const unstored = await json(await post("/v1/responses", t.headers, { model: "strong", input: "1+1=", store: false }));
    expect((await call(`/v1/responses/${unstored.id}`, { headers: t.headers })).status).toBe(404);
    const missing = await post("/v1/responses", t.headers, { model: "strong", input: "1+1=", previous_response_id: unstored.id });
    expect(missing.status).toBe(404);
  });

  it("refuses what it does not serve, naming the field", async () => {
    const t = await newTenant();
    for (const [body, param] of [
      [{ input: "1+1=", tools: [{ type: "web_search" }] }, "tools[0].type"],
      [{ input: "1+1=", background: true }, "background"],
      [{ input: "1+1=", conversation: "conv_1" }, "conversation"],
      [{ input: [{ type: "computer_call", id: "x" }] }, "input"],
    ] as const) {
      const res = await post("/v1/responses", t.headers, { model: "strong", ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).error.param).toMatch(new RegExp(`^${param.replace(/[[\]]/g, "\\$&")}`));
    }
  });

  it("streams the typed events the SDKs read, through response.completed with the whole output", async () => {
    const t = await newTenant();
    const res = await post("/v1/responses", t.headers, { model: "strong", input: "345+678=", temperature: 0, stream: true });
    const { named } = await events(res);
    const types = named.map(([e, d]) => {
      const parsed = JSON.parse(d);
      expect(parsed.type).toBe(e);
      return parsed.type;
    });
    expect(types[0]).toBe("response.created");
    expect(types).toEqual(expect.arrayContaining(["response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_item.done"]));
    expect(types.at(-1)).toBe("response.completed");
    const done = JSON.parse(named.at(-1)![1]);
    expect(done.response.output[0].content[0].text).toBe("1023");
    expect(named.map(([, d]) => JSON.parse(d).sequence_number)).toEqual(named.map((_, i) => i));
  });
});

describe("models and embeddings", () => {
  it("GET /v1/models/{id}, its id percent-decoded", async () => {
    const t = await newTenant();
    expect(await json(await call("/v1/models/strong", { headers: t.headers }))).toMatchObject({ id: "strong", object: "model" });
    const res = await call("/v1/models/Qwen%2FQwen3-8B", { headers: t.headers });
    expect(res.status).toBe(404);
    expect((await json(res)).error).toMatchObject({ code: "model_not_found", message: expect.stringContaining("Qwen/Qwen3-8B") });
  });

  it("POST /v1/embeddings is a 404 without an embedding server; with one, base64 decodes to the floats", async () => {
    const t = await newTenant();
    expect((await post("/v1/embeddings", t.headers, { model: "strong", input: "1+1=" })).status).toBe(404);
    const app = createApp();
    const withServer = { ...env, EMBEDDINGS_URL: inject("lmUrl") } as Env;
    const embed = (body: unknown) => app.fetch(new Request("https://allot.test/v1/embeddings", { method: "POST", headers: t.headers, body: JSON.stringify(body) }), withServer, createExecutionContext());
    const floats = await json(await embed({ model: "strong", input: ["1+1="] }));
    const b64 = await json(await embed({ model: "strong", input: ["1+1="], encoding_format: "base64" }));
    const bytes = Uint8Array.from(atob(b64.data[0].embedding), (c) => c.charCodeAt(0));
    const decoded = Array.from(new Float32Array(bytes.buffer));
    decoded.forEach((x, i) => expect(x).toBeCloseTo(floats.data[0].embedding[i], 6));
  });
});

describe("files and OpenAI-shaped batches", () => {
  const line = (id: string, body: object, url = "/v1/chat/completions") => JSON.stringify({ custom_id: id, method: "POST", url, body });
  const upload = (headers: Record<string, string>, text: string, e: Env = env) => {
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new File([text], "in.jsonl"));
    const { "content-type": _, ...auth } = headers;
    return createApp().fetch(new Request("https://allot.test/v1/files", { method: "POST", headers: auth, body: form }), e, createExecutionContext());
  };

  it("checks an uploaded file line by line, and refuses one over FILE_MAX_BYTES with a 413", async () => {
    const t = await newTenant();
    const bad = await upload(t.headers, `${line("a", { model: "strong", messages: ask("1+1=") })}\n{"custom_id":"a"}\n`);
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toMatch(/^line 2/);
    const big = await upload(t.headers, line("a", { model: "strong", messages: ask("1+1=") }).repeat(1), { ...env, FILE_MAX_BYTES: "50" } as Env);
    expect(big.status).toBe(413);
  });

  it("runs a file of requests as an allot batch and writes OpenAI's output lines", async () => {
    const t = await newTenant();
    const file = await json(await upload(t.headers, [line("a", { model: "strong", messages: ask("12+34="), stop: ["6"] }), line("b", { model: "strong", messages: ask("1+1=") })].join("\n")));
    const mismatch = await post("/v1/batches", t.headers, { input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" });
    expect(mismatch.status).toBe(400);
    expect((await json(mismatch)).error.message).toMatch(/^line 1: url/);
    const b = await json(await post("/v1/batches", t.headers, { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }));
    expect(b).toMatchObject({ object: "batch", status: "validating", request_counts: { total: 2 } });
    let s = b;
    for (let i = 0; i < 100 && s.status !== "completed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await json(await call(`/v1/batches/${b.id}`, { headers: t.headers }));
    }
    expect(s.status).toBe("completed");
    const bytes = await (await call(`/v1/files/${s.output_file_id}/content`, { headers: t.headers })).arrayBuffer();
    const out = new TextDecoder().decode(bytes).trim().split("\n").map((l) => JSON.parse(l));
    expect(out.map((l) => [l.custom_id, l.response.body.choices[0].message.content])).toEqual([
      ["a", "4"],
      ["b", "2"],
    ]);
    expect(out[0].response.body.usage.total_tokens).toBeGreaterThan(0);
    // allot's own shape is untouched for a batch of prompts.
    const own = await json(await post("/v1/batches", t.headers, { prompts: [{ id: "x", prompt: "1+1=" }], budget: { average: 1, min: 1, max: 1 } }));
    expect(own.status).toBe("queued");
    expect(own.object).toBeUndefined();
    expect((await json(await post(`/v1/batches/${own.id}/cancel`, t.headers, {}))).status).toBe("cancelled");
  });

  it("cancels in OpenAI's shape; what it never drew is in the error file as batch_cancelled", async () => {
    const t = await newTenant();
    // A slow LM (2 s a call; uniform allocation: the proxy's model name has no predictor).
    const file = await json(await upload(t.headers, ["a", "b", "c"].map((id) => line(id, { model: "fault-delayx2000:strong", messages: ask("1+1=") })).join("\n")));
    const b = await json(await post("/v1/batches", t.headers, { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h", allot: { allocation: "uniform", budget: { average: 1, min: 1, max: 1 } } }));
    const cancelled = await json(await post(`/v1/batches/${b.id}/cancel`, t.headers, {}));
    expect(cancelled).toMatchObject({ object: "batch", status: "cancelled" });
    const bytes = await (await call(`/v1/files/${cancelled.error_file_id}/content`, { headers: t.headers })).arrayBuffer();
    const lines = new TextDecoder().decode(bytes).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.response === null && l.error.code === "batch_cancelled")).toBe(true);
  });
});
