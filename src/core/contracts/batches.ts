import { z } from "@hono/zod-openapi";
import { AuditedEarnedSchema } from "./metrics.js";

export const BatchRequestSchema = z
  .strictObject({
    prompts: z
      .array(z.strictObject({ id: z.string().min(1).max(512), prompt: z.string().min(1).max(100_000) }))
      .min(1)
      .describe("The queries; ids must be unique."),
    mode: z
      .enum(["best_of_k", "route"])
      .default("best_of_k")
      .describe("best_of_k: k samples of `model` per prompt. route: a (model, k) per prompt, chosen with the router named by `model` (default \"route\"), each sample costing its model's units."),
    allocation: z
      .enum(["learned", "uniform", "waves"])
      .optional()
      .describe(
        "waves (the default where the predictor or router has a fitted prior_strength, as every shipped one has; else learned): samples in " +
          "rounds, and after every round the budget left is re-allocated on what the samples taught: a binary-reward prompt stops at its " +
          "first passing sample, a real-valued one (curve predictor) when more samples are not expected to improve its best enough, a routed " +
          "one (mode route) escalates from a cheaper model to a dearer one where that is worth it. learned: k (or the router's (model, k)) " +
          "per prompt decided up front. uniform: best-of-B for every prompt, to measure the gain (best_of_k only).",
      ),
    budget: z.strictObject({
      average: z.number().min(0).max(1_000).describe("B: average units per prompt (samples, or for route, samples × their model's cost)."),
      min: z.int().min(0).max(1_000).default(1),
      max: z.int().min(1).max(1_000).default(16),
    }),
    sampling: z
      .strictObject({
        temperature: z.number().min(0).max(2).default(0.8),
        top_p: z.number().gt(0).max(1).default(1),
        max_tokens: z.int().min(1).max(32_768).default(16),
        seed: z.int().optional(),
      })
      .default({ temperature: 0.8, top_p: 1, max_tokens: 16 }),
    model: z.string().min(1).optional().describe("The LM (default: the gateway's LM_MODEL); for mode route, the router."),
    predictor: z.string().min(1).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.budget.min > b.budget.max) ctx.addIssue({ code: "custom", message: "min exceeds max", path: ["budget", "min"] });
    if (b.budget.average < b.budget.min || b.budget.average > b.budget.max) {
      ctx.addIssue({ code: "custom", message: "average must lie between min and max", path: ["budget", "average"] });
    }
    if (b.mode === "route" && b.allocation === "uniform") {
      ctx.addIssue({ code: "custom", message: "a routed batch is allocated by its router (learned or waves); uniform applies to best_of_k", path: ["allocation"] });
    }
    if (b.mode === "route" && b.predictor !== undefined) {
      ctx.addIssue({ code: "custom", message: "for mode route, name the router in model", path: ["predictor"] });
    }
    const seen = new Set<string>();
    b.prompts.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: "custom", message: `duplicate id "${p.id}"`, path: ["prompts", i, "id"] });
      seen.add(p.id);
    });
  })
  .openapi("BatchRequest", {
    example: { prompts: [{ id: "a", prompt: "12+34=" }, { id: "b", prompt: "345+678=" }, { id: "c", prompt: "4567*8912=" }], budget: { average: 4, min: 1, max: 16 } },
  });

export const BATCH_STATES = ["queued", "predicting", "sampling", "done", "failed", "cancelled"] as const;
/** States a batch never leaves. */
export const TERMINAL_STATES: readonly (typeof BATCH_STATES)[number][] = ["done", "failed", "cancelled"];

/** A batch's own audits (batches/audit.ts): its policy against uniform on its audited prompts. */
const pair = z.array(z.number()).length(2);
export const BatchAuditsSchema = z
  .object({
    rate: z.number().describe("the tenant's audit_rate when the batch was submitted: each prompt's chance of being audited"),
    picked: z.int().describe("prompts picked for an audit"),
    prompts: z.int().describe("audits drawn (after the batch is done, outside its budget)"),
    needed: z.int().describe("how many it takes before a figure is given"),
    units: z.number().describe("units the audits drew beyond the policy's: the cost of proof, never charged"),
    note: z.string().nullable().describe("why there is no audited figure yet, in words"),
    // The intervals as arrays of two: a batch's status crosses Durable Object RPC, whose types do not keep tuples.
    audited: AuditedEarnedSchema.extend({ gain_ci95: pair, saved_ci95: pair.nullable() })
      .nullable()
      .describe("this batch's policy against uniform best-of-k on its own audited prompts; null with too few (note)"),
  })
  .openapi("BatchAudits");

export const BatchStatusSchema = z
  .object({
    id: z.string(),
    status: z.enum(BATCH_STATES),
    created_at: z.string(),
    prompts: z.int(),
    progress: z.object({ sampled: z.int(), failed: z.int() }),
    allocation: z
      .object({
        mode: z.enum(["learned", "uniform", "waves"]),
        budget_units: z.int(),
        allocated_units: z.int(),
        units_used: z.number().describe("units charged so far: the samples delivered, and the prompts' prefills"),
        prefill_units: z.number().describe("of which for reading the prompts' hidden states (PREFILL_UNITS each)"),
        predictor: z.string().nullable(),
        models: z.record(z.string(), z.int()).optional().describe("route: prompts sent to each model"),
        shards: z.int().describe("objects drawing the samples (1: the batch's own; more for a large batch, each with its own LM connections)"),
      })
      .nullable(),
    error: z.object({ type: z.string(), message: z.string() }).nullable(),
    audits: BatchAuditsSchema.nullable()
      .optional()
      .describe("audits of this batch's prompts (docs/audits.md#audits-of-batches); null for a routed batch (not audited)"),
  })
  .openapi("BatchStatus");


export const BatchResultSchema = z.object({
  id: z.string(),
  best: z.string().nullable(),
  reward: z.number().nullable(),
  units: z.number().describe("units its samples were charged (its prefill is counted in the batch's)"),
  model: z.string().nullable().describe("the model that answered (null if the prompt got no samples)"),
  samples: z.int(),
  predicted_success: z.number().nullable(),
  status: z.enum(["done", "failed"]),
  error: z.string().optional().describe("why a failed prompt failed: the model server refused it (its reason), or kept failing"),
  response_id: z
    .string()
    .nullable()
    .optional()
    .describe("the answer's response id, signed for the tenant as an online answer's: POST /v1/feedback takes it (null for a prompt that failed)"),
});

export type BatchRequest = z.infer<typeof BatchRequestSchema>;
export type BatchStatus = z.infer<typeof BatchStatusSchema>;
export type BatchAudits = z.infer<typeof BatchAuditsSchema>;
export type BatchResult = z.infer<typeof BatchResultSchema>;
