import { z } from "zod";

/** Measured single-sample success per difficulty cell, written by `allot measure-lm`. */
export const SuccessTableSchema = z.object({
  temperature: z.number(),
  top_p: z.number(),
  samples_per_cell: z.int(),
  seed: z.int(),
  split: z.string(),
  measured_at: z.string(),
  cells: z.record(z.string(), z.number()),
});

/** The manifest committed beside each reference LM's ONNX file (written by train.py). */
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
  recipe: z.record(z.string(), z.unknown()),
  success: SuccessTableSchema.optional(),
});

export type LmManifest = z.infer<typeof LmManifestSchema>;
export type SuccessTable = z.infer<typeof SuccessTableSchema>;
