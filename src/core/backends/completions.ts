/** Sampling backends: how to ask a server for n samples of a prompt or a conversation (config objects). */
import {
  type ChatCompletionResponse,
  ChatCompletionResponseSchema,
  type CompletionResponse,
  CompletionResponseSchema,
  type LmInput,
} from "../contracts/lm-protocol.js";
import type { BackendCall } from "./call.js";

export interface SamplingParams {
  readonly temperature: number;
  readonly topP: number;
  readonly maxTokens: number;
  readonly stop?: readonly string[];
  /**
   * Further OpenAI fields the LM server honours as it would for any client
   * (frequency_penalty, logit_bias, logprobs, response_format, …), sent as given.
   */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface Sampled {
  readonly texts: string[];
  readonly finishReasons: (string | null)[];
  /** Each sample's logprobs as the server gave them (null unless asked for). */
  readonly logprobs: unknown[];
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Each sample's generated tokens, when the server returned their ids (vLLM's return_token_ids); else null. */
  readonly sampleTokens: (number | null)[];
  /** Of completionTokens, those spent thinking (usage.completion_tokens_details.reasoning_tokens), when the server says. */
  readonly reasoningTokens: number | null;
}

export interface CompletionsBackend {
  readonly sample: (model: string, input: LmInput, n: number, params: SamplingParams, seed?: number) => BackendCall<Sampled>;
}

/** Exactly n choices, indexed 0..n−1, whatever order they arrive in. */
function byChoice<C extends { index: number; finish_reason: string | null; logprobs?: unknown; token_ids?: number[] | null }>(choices: readonly C[], n: number, text: (c: C) => string) {
  const texts = new Array<string>(n);
  const finishReasons = new Array<string | null>(n).fill(null);
  const logprobs = new Array<unknown>(n).fill(null);
  const sampleTokens = new Array<number | null>(n).fill(null);
  for (const c of choices) {
    if (c.index >= n) continue;
    texts[c.index] = text(c);
    finishReasons[c.index] = c.finish_reason;
    logprobs[c.index] = c.logprobs ?? null;
    sampleTokens[c.index] = c.token_ids?.length ?? null;
  }
  if (texts.some((t) => t === undefined) || choices.length < n) throw new Error(`asked for ${n} samples, got ${choices.length}`);
  return { texts, finishReasons, logprobs, sampleTokens };
}

/** OpenAI-compatible /v1/completions and /v1/chat/completions with n: vLLM, SGLang, TGI, the reference LM. */
const openai: CompletionsBackend = {
  sample: (model, input, n, p, seed) => {
    const common = {
      model,
      n,
      temperature: p.temperature,
      top_p: p.topP,
      max_tokens: p.maxTokens,
      ...(p.stop?.length ? { stop: [...p.stop] } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...p.extra,
    };
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
        extract: (res: ChatCompletionResponse) => ({ ...byChoice(res.choices, n, (c) => c.message.content ?? ""), ...usage(res.usage) }),
      };
    }
    return {
      path: "/v1/completions",
      body: { ...common, prompt: input.prompt },
      response: CompletionResponseSchema,
      extract: (res: CompletionResponse) => ({ ...byChoice(res.choices, n, (c) => c.text), ...usage(res.usage) }),
    };
  },
};

export const COMPLETIONS_BACKENDS: Record<string, CompletionsBackend> = { openai };
