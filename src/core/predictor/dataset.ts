import { z } from "zod";

/** A prompt to collect: any JSONL with an id and a prompt; other fields ride along as meta. */
export const PromptLineSchema = z.looseObject({ id: z.string().min(1), prompt: z.string().min(1) });

/** K scored samples of a prompt at one thinking budget, with the tokens each generated. */
export const ThinkingLevelSchema = z.object({
  /** The thinking budget the samples were drawn at (thinking_token_budget). */
  budget: z.int().nonnegative(),
  samples: z.array(z.string()),
  rewards: z.array(z.number()),
  /** Tokens each sample generated (thinking, markers, answer and end-of-sequence): what it cost. */
  tokens: z.array(z.int().nonnegative()),
  /** Of all of them, the thinking tokens (the server's usage.completion_tokens_details.reasoning_tokens). */
  reasoning_tokens: z.int().nonnegative(),
});
export type ThinkingLevel = z.infer<typeof ThinkingLevelSchema>;

/**
 * One collected prompt: its hidden state and K scored samples. Collected at thinking
 * budgets (`allot collect --thinking-budgets`), `thinking` holds K samples at each budget,
 * in increasing order, and samples/rewards/tokens are the largest budget's.
 */
export const RecordSchema = z.object({
  id: z.string(),
  prompt: z.string(),
  hidden: z.array(z.number()),
  samples: z.array(z.string()),
  rewards: z.array(z.number()),
  /** Completion tokens the K samples cost. */
  tokens: z.int(),
  thinking: z.array(ThinkingLevelSchema).min(1).optional(),
  meta: z.record(z.string(), z.unknown()),
});
export type DataRecord = z.infer<typeof RecordSchema>;

/** The settings a dataset was collected with (`<out>.meta.json`); a resume must match them. */
export const CollectSettingsSchema = z.object({
  lm: z.string(),
  model: z.string(),
  reward_url: z.string(),
  reward_model: z.string(),
  samples: z.int().positive(),
  temperature: z.number(),
  max_tokens: z.int().positive(),
  seed: z.int(),
  prompts: z.string(),
  // Added with real deployments; absent in older data means the values below.
  /** Where hidden states came from (a vLLM pooling instance); default: lm. */
  hidden_url: z.string().optional(),
  /** Their protocol (a HIDDEN_STATE_BACKENDS key); default vllm-pooling. */
  hidden_states: z.string().optional(),
  /** The reward protocol (a REWARD_BACKENDS key); default vllm-pooling. */
  rewards: z.string().optional(),
  /** Thinking budgets each prompt was sampled at (K samples each), increasing; absent: the model's own thinking. */
  thinking_budgets: z.array(z.int().nonnegative()).min(1).optional(),
});
export type CollectSettings = z.infer<typeof CollectSettingsSchema>;
