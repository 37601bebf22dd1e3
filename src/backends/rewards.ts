/** Reward backends: how to score completions of a prompt or a conversation (config objects). */
import { type LmInput, PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";
import type { BackendCall } from "./call.js";

export interface RewardBackend {
  /** Calls whose results, concatenated in order, are one score per completion. */
  readonly score: (model: string, input: LmInput, completions: readonly string[]) => BackendCall<number[]>[];
}

const firstValues = (res: PoolingResponse) => [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data[0]);

/**
 * A reward model behind vLLM's /pooling (the reference verifiers too), the score being
 * the first value of each pooled output. Text: one call, each input the prompt followed
 * by the completion. Chat: /pooling takes one conversation per call, so one call per
 * completion, each the conversation plus the assistant's answer.
 */
const vllmRewardPooling: RewardBackend = {
  score: (model, input, completions) => {
    if ("messages" in input) {
      return completions.map((content) => ({
        path: "/pooling",
        body: { model, messages: [...input.messages, { role: "assistant", content }] },
        response: PoolingResponseSchema,
        extract: firstValues,
      }));
    }
    return [{ path: "/pooling", body: { model, input: completions.map((c) => input.prompt + c) }, response: PoolingResponseSchema, extract: firstValues }];
  },
};

export const REWARD_BACKENDS: Record<string, RewardBackend> = { "vllm-pooling": vllmRewardPooling };
