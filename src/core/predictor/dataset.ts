import { z } from "zod";

/** A prompt to collect: any JSONL with an id and a prompt; other fields ride along as meta. */
export const PromptLineSchema = z.looseObject({ id: z.string().min(1), prompt: z.string().min(1) });

/** One collected prompt: its hidden state and K scored samples. */
export const RecordSchema = z.object({
  id: z.string(),
  prompt: z.string(),
  hidden: z.array(z.number()),
  samples: z.array(z.string()),
  rewards: z.array(z.number()),
  /** Completion tokens the K samples cost. */
  tokens: z.int(),
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
});
export type CollectSettings = z.infer<typeof CollectSettingsSchema>;
