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
  /**
   * What its training vectors were read from: bare prompt text ("prompt", `allot collect`;
   * the default for manifests written before forms were recorded) or conversations rendered
   * by the server's chat template with the generation prompt ("chat", `allot collect
   * --chat`). The gateway serves a predictor only inputs of its form: a chat template adds
   * tokens the bare prompt has not, so the two forms' states differ.
   */
  input_form: z.enum(["prompt", "chat"]).optional(),
  output: z.enum(["p", "q"]),
  input_size: z.int().positive(),
  b_max: z.int().positive().nullable(),
  lm: z.object({ model: z.string(), hidden_size: z.int().positive() }),
  /**
   * The L2 norms of the hidden states it was trained on. Servers differ in what they return
   * (vLLM's embed pooler L2-normalises by default, older vLLM ignored normalize=false, a
   * pooler config may turn it off): the gateway refuses vectors whose norm is far outside
   * this range rather than predict from states the model never saw.
   */
  hidden_norm: z.object({ min: z.number().nonnegative(), mean: z.number().nonnegative(), max: z.number().nonnegative() }).optional(),
  reward_model: z.string(),
  normalization: z.literal("folded into the first layer"),
  /** One temperature, or one per output (a router's). */
  temperature: z.union([z.number().positive(), z.array(z.number().positive())]),
  /**
   * A router: output p is [N, options.length], p_j the success probability of one sample
   * from options[j].model, which costs options[j].cost units. Absent for best-of-k
   * predictors.
   */
  route: z
    .object({ options: z.array(z.object({ model: z.string(), cost: z.int().positive() })).min(2), cost_basis: z.string() })
    .optional(),
  /**
   * Reward against thinking budget: output p is [N, levels.length], p_ℓ the chance that one
   * sample of lm.model passes when its thinking is capped at levels[ℓ] tokens
   * (thinking_token_budget), non-decreasing in ℓ. A sample's cost is the tokens it
   * generates (thinking, markers, answer, end-of-sequence); expected_tokens[ℓ] is its mean
   * at levels[ℓ] on the training prompts, and a unit of compute is tokens_per_unit tokens.
   * tokens_output names a second output [N, levels.length]: each prompt's own expected
   * tokens per sample at each level (non-decreasing), what allocation plans with.
   * Absent for predictors of best-of-k or routing.
   */
  thinking: z
    .object({
      levels: z.array(z.int().nonnegative()).min(1),
      budget_field: z.literal("thinking_token_budget"),
      tokens_per_unit: z.number().positive(),
      expected_tokens: z.array(z.number().positive()),
      expected_reasoning_tokens: z.array(z.number().nonnegative()),
      tokens_output: z.string().optional(),
      cost_basis: z.string(),
      calibration: z.string(),
    })
    .optional(),
  /**
   * How much to trust the prediction, fitted on the validation split; waves revise it with
   * every sample. Bernoulli predictors: the strength s of a Beta(s·p, s·(1 − p)) prior on
   * a query's true success rate. Curve predictors: the strength of a Dirichlet-process
   * prior centred on the reward distribution the curve implies (absent: never revised).
   */
  prior_strength: z.number().positive().optional(),
  training: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.number()),
});
export type PredictorManifest = z.infer<typeof PredictorManifestSchema>;

/** Outputs per row: 1 for p, b_max for q, one per model for a router, one per level for thinking budgets. */
export const outputWidth = (m: PredictorManifest): number =>
  m.route ? m.route.options.length : m.thinking ? m.thinking.levels.length : m.kind === "bernoulli" ? 1 : m.b_max!;

export type InputForm = "prompt" | "chat";

/** The form a predictor's inputs take (manifests without one were trained on prompts). */
export const inputForm = (m: PredictorManifest): InputForm => m.input_form ?? "prompt";
