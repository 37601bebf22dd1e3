import { z } from "@hono/zod-openapi";
import { FeedbackSummarySchema } from "./feedback.js";
import { CalibrationStatusSchema, EarnedReportSchema } from "./metrics.js";

export { type CalibrationStatus, CalibrationStatusSchema } from "./metrics.js";

const units = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const BudgetSchema = z
  .strictObject({
    hour: units.nullable().optional().describe("Units per UTC hour; null or absent for no hourly limit."),
    day: units.nullable().optional().describe("Units per UTC day."),
    month: units.nullable().optional().describe("Units per UTC calendar month."),
  })
  .openapi("Budget", { example: { day: 100_000, month: 2_000_000 } });

export const LimitsSchema = z
  .strictObject({
    max_batch_size: z.int().min(1).max(100_000).default(1_000),
    max_concurrent_batches: z.int().min(1).max(1_000).default(4),
  })
  .openapi("Limits");

export const CreateTenantSchema = z
  .strictObject({
    name: z.string().min(1).max(200),
    budget: BudgetSchema.default({}),
    limits: LimitsSchema.default({ max_batch_size: 1_000, max_concurrent_batches: 4 }),
  })
  .openapi("CreateTenant", { example: { name: "acme", budget: { day: 100_000 }, limits: { max_batch_size: 10_000, max_concurrent_batches: 4 } } });

export const TenantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    budget: z.object({ hour: z.int().nullable(), day: z.int().nullable(), month: z.int().nullable() }),
    limits: z.object({ max_batch_size: z.int(), max_concurrent_batches: z.int() }),
    keys: z.array(z.object({ id: z.string(), created_at: z.string(), revoked_at: z.string().nullable() })),
  })
  .openapi("Tenant");

export const NewKeySchema = z
  .object({
    id: z.string(),
    key: z.string().describe("The API key. Shown once: allot stores only its hash."),
  })
  .openapi("NewKey");

export const UsageSchema = z
  .object({
    tenant: z.string(),
    windows: z.array(
      z.object({
        window: z.enum(["hour", "day", "month"]),
        limit: z.int().nullable(),
        used: z.number().describe("units charged in the window's current period (fractional: prefills cost a fraction of a sample)"),
        reserved: z.number().describe("units held by requests and batches in flight"),
        remaining: z.number().nullable(),
        resets_at: z.string(),
      }),
    ),
    earned: EarnedReportSchema.optional().describe(
      "what allot earned on this tenant's online traffic: `audited` measured on its audited prompts (kept: the last 2,000), with 95% intervals, and `predicted` from the predictor's curves (all time)",
    ),
    feedback: FeedbackSummarySchema.optional(),
    calibration: z
      .array(CalibrationStatusSchema)
      .optional()
      .describe("per predictor with enough audits (30), its calibration refitted on this tenant's audits, and whether it has drifted (docs/audits.md#calibration-that-learns)"),
  })
  .openapi("Usage");

export const OnlineSchema = z
  .strictObject({
    target_units: z.number().min(1).max(1_000).describe("B: the average units (samples) per online request the price steers toward."),
    min_units: z.int().min(1).max(1_000).default(1),
    max_units: z.int().min(1).max(1_000).default(16),
    max_rounds: z
      .int()
      .min(1)
      .max(16)
      .default(4)
      .describe("Rounds an online request may sample in (each a round trip to the LM): 1 decides k up front; more stop at the first passing sample."),
    shards: z
      .int()
      .min(0)
      .max(64)
      .default(0)
      .describe(
        "Budget shards for a hot tenant: its online requests spread over this many objects, each holding a block of budget leased from the ledger and reporting to it about once a second (docs/tenants.md). 0: every request goes to the ledger.",
      ),
    audit_rate: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        "The share of online requests audited, picked at random (absent: the deployment's AUDIT_RATE, 0.05 unless set): each audited prompt also draws the rest of its max_units samples, scored, after its answer is sent, so the saving is measured without bias (docs/audits.md). The answer and the charge are the policy's; the extra samples are the cost of proof, counted apart and never charged to the budget. 0: no audits.",
      ),
    calibration: z
      .enum(["audited", "shipped"])
      .optional()
      .describe(
        "\"audited\" (absent: the default): once 30 audits of a predictor exist, its p and the waves prior's strength are refitted on this tenant's audits (a bounded temperature; recomputed every 30 new audits) and served. \"shipped\": the predictor as published. Reversible either way (docs/audits.md#calibration-that-learns).",
      ),
  })
  .refine((o) => o.min_units <= o.target_units && o.target_units <= o.max_units, { message: "need min_units ≤ target_units ≤ max_units", path: ["target_units"] })
  .openapi("Online", { example: { target_units: 4, min_units: 1, max_units: 16, max_rounds: 4, shards: 0, audit_rate: 0.05, calibration: "audited" } });

export type Online = z.infer<typeof OnlineSchema>;
export type CreateTenant = z.infer<typeof CreateTenantSchema>;
export type Budget = z.infer<typeof BudgetSchema>;
export type Tenant = z.infer<typeof TenantSchema>;
export type Usage = z.infer<typeof UsageSchema>;
