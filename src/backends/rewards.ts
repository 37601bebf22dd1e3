/** Reward backends: how to score completions of prompts or conversations (config objects). */
import { type LmInput, PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";
import type { BackendCall } from "./call.js";

export interface Scored {
  readonly input: LmInput;
  readonly completion: string;
}

export interface RewardBackend {
  /** Calls whose results, concatenated in order, are one score per pair. */
  readonly score: (model: string, pairs: readonly Scored[]) => BackendCall<number[]>[];
}

const firstValues = (res: PoolingResponse) => [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data[0]);

/**
 * A reward model behind vLLM's /pooling (the reference verifiers too), the score being
 * the first value of each pooled output. Consecutive text pairs share one call, each
 * input the prompt followed by the completion. /pooling takes one conversation per
 * call, so each chat pair is a call of its own: the conversation plus the answer.
 */
const vllmRewardPooling: RewardBackend = {
  score: (model, pairs) => {
    const calls: BackendCall<number[]>[] = [];
    let texts: string[] = [];
    const flush = () => {
      if (texts.length > 0) calls.push({ path: "/pooling", body: { model, input: texts }, response: PoolingResponseSchema, extract: firstValues });
      texts = [];
    };
    for (const { input, completion } of pairs) {
      if ("prompt" in input) {
        texts.push(input.prompt + completion);
        continue;
      }
      flush();
      calls.push({
        path: "/pooling",
        body: { model, messages: [...input.messages, { role: "assistant", content: completion }] },
        response: PoolingResponseSchema,
        extract: firstValues,
      });
    }
    flush();
    return calls;
  },
};

export const REWARD_BACKENDS: Record<string, RewardBackend> = { "vllm-pooling": vllmRewardPooling };
