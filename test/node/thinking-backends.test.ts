/**
 * How a thinking budget reaches each server (src/core/backends/thinking.ts): vLLM's field
 * and s1's budget forcing against the thinking reference LM over HTTP, both capping the
 * thinking at N and still answering; SGLang's body and the reasoning_effort mapping as
 * pure checks against the shapes their sources give.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sampled } from "../../src/core/backends/completions.js";
import { THINKING_BACKENDS, ThinkingBackendConfigSchema, UNLIMITED, nearestEffort, runThinking, thinkingBackend } from "../../src/core/backends/thinking.js";
import { defaultRetryPolicy } from "../../src/core/lm/http.js";
import { type RunningServer, postJson, startLmServer } from "../../src/node/harness/lm-server.js";
import { CharTokenizer } from "../../src/node/reference-lm/tokenizer.js";

const manifest = JSON.parse(readFileSync(new URL("../../models/thinking.manifest.json", import.meta.url), "utf8"));
const tokenizer = new CharTokenizer(manifest.vocab);
/** Text's length in the thinking model's tokens. */
function tokensOf(text: string): number {
  const r = tokenizer.encode(text);
  if (!("ids" in r)) throw new Error(`not in the vocabulary: ${r.bad}`);
  return r.ids.length;
}
// 6 operands of 3 digits: the full scratchpad is 59 thinking tokens, more than any N here.
const long = "123+456+789+321+654+987=";
const policy = { ...defaultRetryPolicy, attempts: 1 };

/** A completion's thinking (between the markers) and its answer (after the end marker). */
function split(text: string): { thinking: string; answer: string } {
  expect(text.startsWith("<think>")).toBe(true);
  const end = text.indexOf("</think>");
  expect(end).toBeGreaterThan(0);
  return { thinking: text.slice("<think>".length, end), answer: text.slice(end + "</think>".length) };
}

describe("over HTTP, against the thinking reference LM", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startLmServer();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  const run = async (kind: "vllm" | "budget-forcing", budget: number, n: number, seed: number): Promise<Sampled> => {
    const backend = thinkingBackend(ThinkingBackendConfigSchema.parse({ kind }));
    // The reference LM's context is 96 tokens: budget forcing's answer call carries the thinking in its prompt.
    const maxTokens = kind === "vllm" ? 70 : 12;
    return runThinking({ url: server.url }, backend("thinking", { prompt: long }, n, { temperature: 0.8, maxTokens, extra: { return_token_ids: true } }, seed, budget), policy);
  };

  /** The binary verifier's mean score of prompt + completion (the answer after </think>). */
  const accuracy = async (texts: readonly string[], prompt: string) => {
    const res = await postJson(`${server.url}/pooling`, { model: "verifier-binary", input: texts.map((t) => prompt + t) });
    expect(res.status).toBe(200);
    const scores = res.json.data.map((d: { data: number[] }) => d.data[0]);
    return scores.reduce((a: number, b: number) => a + b, 0) / scores.length;
  };

  it.each([["vllm" as const], ["budget-forcing" as const]])("%s caps the thinking at N tokens (N = 0, 4, 16) and answers", async (kind) => {
    for (const budget of [0, 4, 16]) {
      const r = await run(kind, budget, 4, 5);
      expect(r.texts).toHaveLength(4);
      let thought = 0;
      for (const text of r.texts) {
        const { thinking, answer } = split(text);
        const tokens = tokensOf(thinking);
        expect(tokens).toBeLessThanOrEqual(budget);
        expect(answer).toMatch(/^\d+/);
        thought += tokens;
      }
      expect(r.reasoningTokens).not.toBeNull();
      expect(r.reasoningTokens!).toBeLessThanOrEqual(4 * budget);
      expect(r.reasoningTokens!).toBeGreaterThanOrEqual(thought);
      expect(r.completionTokens).toBeGreaterThan(r.reasoningTokens!);
    }
  }, 60_000);

  it("budget forcing counts both calls' completion tokens, and thinks as the server's forcing does", async () => {
    const n = 16;
    const forced = await run("budget-forcing", 16, n, 7);
    // Every sample: 16 thinking tokens (this sum needs 59), the end marker supplied by allot, then the answer and end of sequence.
    expect(forced.reasoningTokens).toBe(n * 16);
    expect(forced.sampleTokens.every((t) => t !== null && t > 16)).toBe(true);
    expect(forced.completionTokens).toBe(forced.sampleTokens.reduce((a, b) => a! + b!, 0));
    expect((await run("vllm", 16, n, 7)).reasoningTokens).toBe(n * 16);
  }, 60_000);

  it("budget forcing's answers score like the server's own forcing under the reference verifier", async () => {
    // 4 operands: the full scratchpad is 15 tokens, so N = 16 lets it finish and N = 4 cuts it short.
    const prompt = "17+305+9+48=";
    const acc: Record<string, number[]> = {};
    for (const kind of ["vllm", "budget-forcing"] as const) {
      const backend = thinkingBackend(ThinkingBackendConfigSchema.parse({ kind }));
      for (const budget of [4, 16]) {
        const r = await runThinking({ url: server.url }, backend("thinking", { prompt }, 32, { temperature: 0.8, maxTokens: kind === "vllm" ? 60 : 12 }, 11, budget), policy);
        (acc[kind] ??= []).push(await accuracy(r.texts, prompt));
      }
    }
    for (const kind of ["vllm", "budget-forcing"]) {
      expect(acc[kind][0]).toBeLessThan(0.25); // cut at 4 tokens: mostly wrong
      expect(acc[kind][1]).toBeGreaterThan(0.5); // room to finish: mostly right
    }
    for (const i of [0, 1]) expect(Math.abs(acc.vllm[i] - acc["budget-forcing"][i])).toBeLessThanOrEqual(0.25);
  }, 60_000);

  it("sends -1 to vLLM for unlimited thinking, and the model closes its scratchpad itself", async () => {
    const step = THINKING_BACKENDS.vllm({ kind: "vllm" })("thinking", { prompt: long }, 2, { temperature: 0.8, maxTokens: 70 }, 3, UNLIMITED);
    expect(step.call.body).toMatchObject({ thinking_token_budget: -1 });
    const r = await runThinking({ url: server.url }, step, policy);
    for (const text of r.texts) expect(tokensOf(split(text).thinking)).toBeGreaterThan(16);
  }, 60_000);

  it("reasoning_effort: the nearest level of the model's own table caps the thinking", async () => {
    const levels = manifest.thinking.reasoning_effort as Record<string, number | null>;
    const backend = thinkingBackend({ kind: "reasoning-effort", levels });
    const step = backend("thinking", { prompt: long }, 4, { temperature: 0.8, maxTokens: 70 }, 5, 10);
    expect(step.call.body).toMatchObject({ reasoning_effort: "low" }); // 8 is nearer 10 than 16
    const r = await runThinking({ url: server.url }, step, policy);
    expect(r.reasoningTokens).toBe(4 * 8);
  }, 60_000);
});

describe("SGLang: the custom logit processor fields, as its source spells them", () => {
  // sglang python/sglang/srt/entrypoints/openai/protocol.py, CompletionRequest and
  // ChatCompletionRequest: `custom_params: Optional[Dict] = None`,
  // `custom_logit_processor: Optional[str] = None` (top-level request fields).
  // python/sglang/srt/sampling/custom_logit_processor.py, ThinkingBudgetLogitProcessor.__call__:
  // `thinking_budget = param_dict.get("thinking_budget")`, skipped when None, not an int or negative.
  // The processor string is `json.dumps({"callable": dill.dumps(cls).hex()})` (to_str()).
  const processor = JSON.stringify({ callable: "80049500" });
  const backend = thinkingBackend({ kind: "sglang", processor });

  it("puts the processor and custom_params.thinking_budget at the top of the body, for completions and chat", () => {
    const completion = backend("qwen3", { prompt: "1+2=" }, 2, { temperature: 0.6, maxTokens: 64 }, 1, 32).call;
    expect(completion.path).toBe("/v1/completions");
    expect(completion.body).toEqual({ model: "qwen3", prompt: "1+2=", n: 2, temperature: 0.6, max_tokens: 64, seed: 1, custom_logit_processor: processor, custom_params: { thinking_budget: 32 } });
    const chat = backend("qwen3", { messages: [{ role: "user", content: "1+2=" }] }, 1, {}, undefined, 0).call;
    expect(chat.path).toBe("/v1/chat/completions");
    expect(chat.body).toMatchObject({ custom_logit_processor: processor, custom_params: { thinking_budget: 0 } });
  });

  it("keeps custom_params the caller gave, and sends neither field for unlimited thinking", () => {
    const kept = backend("qwen3", { prompt: "x" }, 1, { extra: { custom_params: { seed_offset: 3 } } }, undefined, 8).call.body;
    expect(kept).toMatchObject({ custom_params: { seed_offset: 3, thinking_budget: 8 } });
    const free = backend("qwen3", { prompt: "x" }, 1, {}, undefined, UNLIMITED).call.body as Record<string, unknown>;
    expect(free.custom_logit_processor).toBeUndefined();
    expect(free.custom_params).toBeUndefined();
  });

  it("refuses a budget that is neither a non-negative integer nor -1, as vLLM does", () => {
    for (const bad of [-2, 1.5, Number.NaN]) expect(() => backend("qwen3", { prompt: "x" }, 1, {}, undefined, bad)).toThrow(/non-negative integer/);
  });
});

describe("reasoning_effort: the nearest level", () => {
  const levels = { none: 0, minimal: 4, low: 8, medium: 16, high: 32, xhigh: 64, max: null };
  it.each([
    [0, "none"],
    [1, "none"],
    [3, "minimal"],
    [6, "minimal"], // a tie goes to the smaller budget: the cap is not overshot
    [7, "low"],
    [20, "medium"],
    [28, "high"],
    [1000, "xhigh"],
    [UNLIMITED, "max"],
  ])("N = %i → %s", (budget, level) => {
    expect(nearestEffort(levels, budget)).toBe(level);
  });

  it("takes the largest level for unlimited when none is unlimited, and refuses an empty table", () => {
    expect(nearestEffort({ low: 1024, high: 8192, medium: 4096 }, UNLIMITED)).toBe("high");
    expect(() => nearestEffort({}, 4)).toThrow(/no reasoning_effort levels/);
    expect(ThinkingBackendConfigSchema.safeParse({ kind: "reasoning-effort", levels: {} }).success).toBe(false);
  });

  it("budget forcing takes a raw prompt only: a conversation has no text to continue", () => {
    const backend = thinkingBackend(ThinkingBackendConfigSchema.parse({ kind: "budget-forcing" }));
    expect(() => backend("m", { messages: [{ role: "user", content: "1+2=" }] }, 1, {}, undefined, 4)).toThrow(/raw prompt/);
    const step = backend("m", { prompt: "1+2=" }, 2, { maxTokens: 10, stop: ["\n"] }, 1, 4);
    expect(step.call.body).toMatchObject({ prompt: "1+2=<think>", n: 2, max_tokens: 4, stop: ["</think>"] });
    expect(step.next).toBeDefined();
  });
});
