/** Reward backends: how to score (prompt, completion) pairs (config objects). */
import type { ZodType } from "zod";
import { PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";

export interface RewardBackend<T = unknown> {
  readonly path: string;
  readonly request: (model: string, pairs: readonly { prompt: string; completion: string }[]) => unknown;
  readonly response: ZodType<T>;
  readonly extract: (res: T) => number[];
}

/**
 * A reward model behind vLLM's /pooling (the reference verifiers too): the input is the
 * prompt followed by the completion, the score the first value of each pooled output.
 */
const vllmRewardPooling: RewardBackend<PoolingResponse> = {
  path: "/pooling",
  request: (model, pairs) => ({ model, input: pairs.map((p) => p.prompt + p.completion) }),
  response: PoolingResponseSchema,
  extract: (res) => [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data[0]),
};

export const REWARD_BACKENDS: Record<string, RewardBackend<any>> = { "vllm-pooling": vllmRewardPooling };
