import { z } from "zod";

/**
 * The manifest beside a predictor's ONNX file: everything the gateway needs to use it
 * (which LM's hidden states it reads, what it outputs) and what it was measured to do.
 */
export const PredictorManifestSchema = z.object({
  name: z.string(),
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** bernoulli: output p [N, 1], one sample's success probability. curve: output q [N, b_max]. */
  kind: z.enum(["bernoulli", "curve"]),
  input: z.literal("hidden"),
  output: z.enum(["p", "q"]),
  input_size: z.int().positive(),
  b_max: z.int().positive().nullable(),
  lm: z.object({ model: z.string(), hidden_size: z.int().positive() }),
  reward_model: z.string(),
  normalization: z.literal("folded into the first layer"),
  temperature: z.number().positive(),
  training: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.number()),
});
export type PredictorManifest = z.infer<typeof PredictorManifestSchema>;
