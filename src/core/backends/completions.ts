/** Sampling backends: how to ask a server for n samples of a prompt or a conversation (config objects). */
import {
  type ChatCompletionResponse,
  ChatCompletionResponseSchema,
  type CompletionChunk,
  type CompletionResponse,
  CompletionResponseSchema,
  type LmInput,
  type ToolCall,
} from "../contracts/lm-protocol.js";
import type { BackendCall } from "./call.js";

/**
 * How to sample. Every field is optional: one the client left out is left out, so the
 * server's defaults apply (vLLM's come from the model's generation_config.json).
 */
export interface SamplingParams {
  readonly temperature?: number;
  readonly topP?: number;
  readonly maxTokens?: number;
  readonly stop?: readonly string[];
  /**
   * Further request fields the LM server honours as it would for any client
   * (frequency_penalty, logit_bias, tools, top_k, chat_template_kwargs, …), sent as given.
   */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A reasoning model's thinking, under the name its server gave it (vLLM ≥ 0.11.1: `reasoning`; SGLang, older vLLM: `reasoning_content`). */
export interface Reasoning {
  readonly field: "reasoning" | "reasoning_content";
  readonly text: string;
}

/** One sample as the server gave it. */
export interface Sample {
  readonly text: string;
  /** The function calls of a chat sample that called tools (finish_reason "tool_calls"); null for a text answer. */
  readonly toolCalls: readonly ToolCall[] | null;
  readonly reasoning: Reasoning | null;
  readonly finishReason: string | null;
  /** Its logprobs as the server gave them (null unless asked for). */
  readonly logprobs: unknown;
  /** Its generated tokens, when the server returned their ids (vLLM's return_token_ids); else null. */
  readonly tokens?: number | null;
}

export interface Sampled {
  readonly texts: string[];
  readonly finishReasons: (string | null)[];
  /** Each sample's logprobs as the server gave them (null unless asked for). */
  readonly logprobs: unknown[];
  /** Each sample in full (texts, finishReasons and logprobs are its columns). */
  readonly samples: Sample[];
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Each sample's generated tokens, when the server returned their ids (vLLM's return_token_ids); else null. */
  readonly sampleTokens: (number | null)[];
  /** Of completionTokens, those spent thinking (usage.completion_tokens_details.reasoning_tokens), when the server says. */
  readonly reasoningTokens: number | null;
}

/** A streamed request: where, what (with `stream: true`); its chunks are read with `readChunk`. */
export interface StreamCall {
  readonly path: string;
  readonly body: unknown;
}

export interface CompletionsBackend {
  readonly sample: (model: string, input: LmInput, n: number, params: SamplingParams, seed?: number) => BackendCall<Sampled>;
  /** One sample, streamed: the server sends its tokens as they come (OpenAI's chunks). */
  readonly stream: (model: string, input: LmInput, params: SamplingParams, seed?: number) => StreamCall;
}

/** Exactly n samples, indexed 0..n−1, whatever order they arrive in. */
function byChoice<C extends { index: number }>(choices: readonly C[], n: number, sample: (c: C) => Sample): Omit<Sampled, "promptTokens" | "completionTokens" | "reasoningTokens"> {
  const samples = new Array<Sample>(n);
  for (const c of choices) if (c.index < n) samples[c.index] = sample(c);
  for (let i = 0; i < n; i++) if (samples[i] === undefined) throw new Error(`asked for ${n} samples, got ${choices.length}`);
  return {
    samples,
    texts: samples.map((s) => s.text),
    finishReasons: samples.map((s) => s.finishReason),
    logprobs: samples.map((s) => s.logprobs),
    sampleTokens: samples.map((s) => s.tokens ?? null),
  };
}

const reasoningOf = (m: { reasoning?: string | null; reasoning_content?: string | null }): Reasoning | null =>
  typeof m.reasoning === "string" ? { field: "reasoning", text: m.reasoning } : typeof m.reasoning_content === "string" ? { field: "reasoning_content", text: m.reasoning_content } : null;

/** The request body's sampling fields: only those given. */
function samplingBody(model: string, p: SamplingParams, seed: number | undefined) {
  return {
    model,
    ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    ...(p.topP !== undefined ? { top_p: p.topP } : {}),
    ...(p.maxTokens !== undefined ? { max_tokens: p.maxTokens } : {}),
    ...(p.stop?.length ? { stop: [...p.stop] } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...p.extra,
  };
}

/** OpenAI-compatible /v1/completions and /v1/chat/completions with n: vLLM, SGLang, TGI, the reference LM. */
const openai: CompletionsBackend = {
  sample: (model, input, n, p, seed) => {
    const common = { ...samplingBody(model, p, seed), n };
    const usage = (u: CompletionResponse["usage"]) => ({
      promptTokens: u.prompt_tokens,
      completionTokens: u.completion_tokens,
      reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? null,
    });
    if ("messages" in input) {
      return {
        path: "/v1/chat/completions",
        body: { ...common, messages: input.messages },
        response: ChatCompletionResponseSchema,
        extract: (res: ChatCompletionResponse) => ({
          ...byChoice(res.choices, n, (c) => ({
            text: c.message.content ?? "",
            toolCalls: c.message.tool_calls?.length ? c.message.tool_calls : null,
            reasoning: reasoningOf(c.message),
            finishReason: c.finish_reason,
            logprobs: c.logprobs ?? null,
            tokens: c.token_ids?.length ?? null,
          })),
          ...usage(res.usage),
        }),
      };
    }
    return {
      path: "/v1/completions",
      body: { ...common, prompt: input.prompt },
      response: CompletionResponseSchema,
      extract: (res: CompletionResponse) => ({
        ...byChoice(res.choices, n, (c) => ({ text: c.text, toolCalls: null, reasoning: null, finishReason: c.finish_reason, logprobs: c.logprobs ?? null, tokens: c.token_ids?.length ?? null })),
        ...usage(res.usage),
      }),
    };
  },
  stream: (model, input, p, seed) => {
    const common = { ...samplingBody(model, p, seed), n: 1, stream: true, stream_options: { include_usage: true } };
    return "messages" in input ? { path: "/v1/chat/completions", body: { ...common, messages: input.messages } } : { path: "/v1/completions", body: { ...common, prompt: input.prompt } };
  },
};

export const COMPLETIONS_BACKENDS: Record<string, CompletionsBackend> = { openai };

/** A streamed sample as it accumulates, chunk by chunk. */
export class StreamedSample {
  text = "";
  reasoning: Reasoning | null = null;
  finishReason: string | null = null;
  promptTokens = 0;
  completionTokens = 0;
  private readonly calls: { id: string; name: string; arguments: string }[] = [];

  /**
   * Takes one chunk (of choice 0) and says what it added: text, reasoning, a new tool
   * call (its index, id and name) or more of a call's arguments.
   */
  add(chunk: CompletionChunk): { text?: string; reasoning?: string; field?: Reasoning["field"]; call?: { index: number; id: string; name: string }; args?: { index: number; delta: string } }[] {
    if (chunk.usage) {
      this.promptTokens = chunk.usage.prompt_tokens;
      this.completionTokens = chunk.usage.completion_tokens;
    }
    const out: ReturnType<StreamedSample["add"]> = [];
    for (const c of chunk.choices) {
      if (c.index !== 0) continue;
      const text = c.text ?? c.delta?.content ?? "";
      if (text) {
        this.text += text;
        out.push({ text });
      }
      const r = c.delta && reasoningOf(c.delta);
      if (r && r.text) {
        this.reasoning = { field: r.field, text: (this.reasoning?.text ?? "") + r.text };
        out.push({ reasoning: r.text, field: r.field });
      }
      for (const t of c.delta?.tool_calls ?? []) {
        if (!this.calls[t.index]) {
          this.calls[t.index] = { id: t.id ?? `call_${t.index}`, name: t.function?.name ?? "", arguments: "" };
          out.push({ call: { index: t.index, id: this.calls[t.index].id, name: this.calls[t.index].name } });
        }
        const delta = t.function?.arguments ?? "";
        if (delta) {
          this.calls[t.index].arguments += delta;
          out.push({ args: { index: t.index, delta } });
        }
      }
      if (c.finish_reason) this.finishReason = c.finish_reason;
    }
    return out;
  }

  /** The whole sample. */
  sample(): Sample {
    const calls = this.calls.filter(Boolean);
    return {
      text: this.text,
      toolCalls: calls.length > 0 ? calls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.name, arguments: c.arguments } })) : null,
      reasoning: this.reasoning,
      finishReason: this.finishReason,
      logprobs: null,
    };
  }
}
