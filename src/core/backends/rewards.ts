/** Reward backends: how to score completions of prompts or conversations (config objects). */
import type { ZodType } from "zod";
import { ClassifyResponseSchema, type ClassifyResponse, type LmInput, PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";
import type { BackendCall } from "./call.js";

export interface Scored {
  readonly input: LmInput;
  readonly completion: string;
}

export interface RewardBackend {
  /** Calls whose results, concatenated in order, are one score per pair. */
  readonly score: (model: string, pairs: readonly Scored[]) => BackendCall<number[]>[];
}

/**
 * A pooled reward: the first value of a sequence output, or of the last token's row when
 * the model pools per token (a process reward model's last step scores the answer).
 */
function pooledScores(res: PoolingResponse): number[] {
  return [...res.data]
    .sort((a, b) => a.index - b.index)
    .map((d) => {
      const row = d.data.length > 0 && Array.isArray(d.data[0]) ? (d.data as number[][])[d.data.length - 1] : (d.data as number[]);
      if (row.length === 0) throw new Error("an empty reward");
      return row[0];
    });
}

/**
 * /classify's reward: the probability of the last class, which is the only one for a
 * one-label reward model and the positive one for a [bad, good] classifier.
 */
function classProbabilities(res: ClassifyResponse): number[] {
  return [...res.data]
    .sort((a, b) => a.index - b.index)
    .map((d) => {
      if (d.probs.length === 0) throw new Error("a classification with no probabilities");
      return d.probs[d.probs.length - 1];
    });
}

/**
 * Calls for a reward endpoint that takes many texts or one conversation per call:
 * consecutive text pairs share one call, each input the prompt followed by the
 * completion; each chat pair is a call of its own, the conversation plus the answer.
 */
function scoringCalls<R>(path: string, extra: object, response: ZodType<R>, extract: (res: R) => number[]): RewardBackend {
  return {
    score: (model, pairs) => {
      const calls: BackendCall<number[]>[] = [];
      let texts: string[] = [];
      const flush = () => {
        if (texts.length > 0) calls.push({ path, body: { model, input: texts, ...extra }, response, extract });
        texts = [];
      };
      for (const { input, completion } of pairs) {
        if ("prompt" in input) {
          texts.push(input.prompt + completion);
          continue;
        }
        flush();
        calls.push({ path, body: { model, messages: [...input.messages, { role: "assistant", content: completion }], ...extra }, response, extract });
      }
      flush();
      return calls;
    },
  };
}

export const REWARD_BACKENDS: Record<string, RewardBackend> = {
  /** /pooling with the reward model's default task (the reference verifiers; vLLM reward models). */
  "vllm-pooling": scoringCalls("/pooling", {}, PoolingResponseSchema, pooledScores),
  /** /pooling with task classify: a sequence-classification reward model served by a multi-task vLLM. */
  "vllm-pooling-classify": scoringCalls("/pooling", { task: "classify" }, PoolingResponseSchema, pooledScores),
  /** vLLM's /classify (ClassificationResponse: probs per input). */
  "vllm-classify": scoringCalls("/classify", {}, ClassifyResponseSchema, classProbabilities),
};
