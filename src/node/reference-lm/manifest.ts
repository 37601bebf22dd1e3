import { z } from "zod";
import { REASONING_EFFORTS } from "../../core/contracts/lm-protocol.js";

/**
 * Measured single-sample success per difficulty cell, written by `allot measure-lm`. For a
 * thinking model `cells` is with unlimited thinking, and `thinking_budgets` holds the same
 * table at each thinking budget measured (keys are budgets in tokens).
 */
export const SuccessTableSchema = z.object({
  temperature: z.number(),
  top_p: z.number(),
  samples_per_cell: z.int(),
  seed: z.int(),
  split: z.string(),
  measured_at: z.string(),
  cells: z.record(z.string(), z.number()),
  thinking_budgets: z.record(z.string(), z.record(z.string(), z.number())).optional(),
  /** Mean thinking tokens per sample by cell, with unlimited thinking. */
  thinking_tokens: z.record(z.string(), z.number()).optional(),
});


/**
 * A thinking model's scratchpad: its markers (one token each), how the server forces the
 * end of thinking, and what each reasoning_effort level means as a thinking budget (null:
 * unlimited).
 */
export const ThinkingSchema = z.object({
  start_token: z.int().nonnegative(),
  end_token: z.int().nonnegative(),
  start: z.string(),
  end: z.string(),
  line_separator: z.string().optional(),
  tokenizer: z.string().optional(),
  budget_forcing: z.string().optional(),
  max_thinking_tokens: z.int().nonnegative(),
  reasoning_effort: z.record(z.enum(REASONING_EFFORTS), z.int().nonnegative().nullable()).optional(),
  /** How a request sets the budget, for the reader. */
  budget_field: z.string().optional(),
});

/** The manifest committed beside each reference LM's ONNX file (written by train.py / train_thinking.py). */
export const LmManifestSchema = z.object({
  name: z.string(),
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  task: z.string(),
  vocab: z.array(z.string()),
  eos_token: z.int(),
  context_length: z.int().positive(),
  hidden_size: z.int().positive(),
  layers: z.int().positive(),
  heads: z.int().positive(),
  head_dim: z.int().positive(),
  parameters: z.int().positive(),
  /** How positions are encoded (absent: learned absolute positions, as train.py's models). */
  positions: z.string().optional(),
  /** Vocabulary entries that are one token but several characters, with their ids. */
  special_tokens: z.record(z.string(), z.int().nonnegative()).optional(),
  thinking: ThinkingSchema.optional(),
  /** The prompts and completions the model was trained on (the thinking model's task). */
  prompt_grammar: z.record(z.string(), z.unknown()).optional(),
  recipe: z.record(z.string(), z.unknown()),
  success: SuccessTableSchema.optional(),
});

export type LmManifest = z.infer<typeof LmManifestSchema>;
export type SuccessTable = z.infer<typeof SuccessTableSchema>;
export type Thinking = z.infer<typeof ThinkingSchema>;
