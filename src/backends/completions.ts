/** Sampling backends: how to ask a server for n samples of a prompt (config objects). */
import type { ZodType } from "zod";
import { type CompletionResponse, CompletionResponseSchema } from "../contracts/lm-protocol.js";

export interface SamplingParams {
  readonly temperature: number;
  readonly topP: number;
  readonly maxTokens: number;
  readonly stop?: readonly string[];
}

export interface CompletionsBackend<T = unknown> {
  readonly path: string;
  readonly request: (model: string, prompt: string, n: number, params: SamplingParams, seed?: number) => unknown;
  readonly response: ZodType<T>;
  readonly extract: (res: T, n: number) => { texts: string[]; finishReasons: (string | null)[]; promptTokens: number; completionTokens: number };
}

/** OpenAI-compatible /v1/completions with n: vLLM, SGLang, TGI, the reference LM. */
const openaiCompletions: CompletionsBackend<CompletionResponse> = {
  path: "/v1/completions",
  request: (model, prompt, n, p, seed) => ({
    model,
    prompt,
    n,
    temperature: p.temperature,
    top_p: p.topP,
    max_tokens: p.maxTokens,
    ...(p.stop?.length ? { stop: [...p.stop] } : {}),
    ...(seed !== undefined ? { seed } : {}),
  }),
  response: CompletionResponseSchema,
  extract: (res, n) => {
    const texts = new Array<string>(n);
    const finishReasons = new Array<string | null>(n).fill(null);
    for (const c of res.choices) {
      if (c.index >= n) continue;
      texts[c.index] = c.text;
      finishReasons[c.index] = c.finish_reason;
    }
    if (texts.some((t) => t === undefined) || res.choices.length < n) throw new Error(`asked for ${n} samples, got ${res.choices.length}`);
    return { texts, finishReasons, promptTokens: res.usage.prompt_tokens, completionTokens: res.usage.completion_tokens };
  },
};

export const COMPLETIONS_BACKENDS: Record<string, CompletionsBackend<any>> = { openai: openaiCompletions };
