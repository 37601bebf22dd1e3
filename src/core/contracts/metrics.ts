/**
 * What the operator's console reads: a request's record as serving reports it to its
 * tenant's ledger, and the JSON the admin routes answer with (per-minute usage series,
 * tenant summaries, batch lists). Types come from these schemas.
 */
import { z } from "@hono/zod-openapi";
import { CALIBRATION_BINS, CURVE_UNITS } from "../metrics/earned.js";
import { FeedbackSummarySchema } from "./feedback.js";

export const ONLINE_ROUTES = ["completions", "chat", "responses", "embeddings"] as const;

const ms = z.number().nonnegative().max(86_400_000);
const count = z.int().nonnegative();

export const EarnedSumsSchema = z.object({
  prompts: count,
  units: z.number().nonnegative(),
  reward: z.number(),
  reward_sq: z.number(),
  curve: z.array(z.number()).length(CURVE_UNITS),
});

/** Per model, the prompts it answered (the kept sample's model), the samples drawn of it and their units. */
export const ModelServedSchema = z.object({ prompts: count, samples: count, units: z.number().nonnegative() });
/** Per predictor or router (the one that decided the spend), per model. */
export const ServedSchema = z.record(z.string(), z.record(z.string(), ModelServedSchema));
export type Served = z.infer<typeof ServedSchema>;
export type ModelServed = z.infer<typeof ModelServedSchema>;

/** One online request, as serving reports it when it ends (ledger.finish, release, or a refusal at begin). */
export const RequestRecordSchema = z.object({
  route: z.enum(ONLINE_ROUTES),
  status: z.int().min(100).max(599),
  prompts: count,
  samples: count,
  rounds: count,
  /** Whether the price decided the spend (not pinned, not greedy): only those requests average the price. */
  priced: z.boolean(),
  total_ms: ms,
  /** Wall time with at least one LM, hidden-state or reward call in flight. */
  lm_ms: ms,
  lm_retries: count,
  lm_errors: count,
  earned: EarnedSumsSchema.nullable(),
  /** The predictor's single-sample success against the first sample's reward, per prompt (a router's: of the model that first sample was drawn from). */
  calibration: z.object({ predictor: z.string(), points: z.array(z.object({ predicted: z.number(), observed: z.number() })) }).nullable(),
  /** The units the price decided, per prompt (samples at their model's cost, no prefills): what it steers to the target. Absent: none (pinned, greedy, failed). */
  decided: z.array(z.number().nonnegative()).optional(),
  /** Prompts whose spend a predictor or router decided, per model: `ServedSchema`. Absent: none. */
  served: ServedSchema.optional(),
});
export type RequestRecord = z.infer<typeof RequestRecordSchema>;

const Quantiles = z.object({ p50: z.number().nullable(), p99: z.number().nullable() });

export const EarnedSchema = z
  .object({
    prompts: z.int(),
    mean_units: z.number().describe("allot's mean units per prompt"),
    quality: z.number().describe("observed mean reward of allot's answers"),
    quality_se: z.number().describe("its standard error: how much of the gain the prompts' sampling noise could explain"),
    uniform_quality: z.number().nullable().describe("uniform best-of-k at the same mean spend, predicted"),
    gain: z.number().nullable().describe("quality − uniform_quality"),
    uniform_units: z.number().nullable().describe("mean units per prompt uniform is predicted to need for allot's quality"),
    saved: z.number().nullable().describe("1 − mean_units / uniform_units"),
  })
  .openapi("Earned");

const pair = z.tuple([z.number(), z.number()]).readonly();

export const AuditedEarnedSchema = z
  .object({
    prompts: z.int().describe("audited prompts it is measured on"),
    mean_units: z.number().describe("allot's mean units per audited prompt (what its policy spent)"),
    quality: z.number().describe("mean reward of allot's answers on them"),
    uniform_quality: z.number().describe("uniform best-of-k at the same mean spend, measured on the same prompts and samples"),
    gain: z.number().describe("quality − uniform_quality"),
    gain_ci95: pair.describe("its 95% interval (bootstrap over the audited prompts)"),
    saved: z.number().nullable().describe("compute saved at equal quality: 1 − mean_units / uniform_units"),
    saved_ci95: pair.nullable().describe("its 95% interval"),
    uniform_units: z.number().nullable().describe("units per prompt uniform needs for allot's quality; null past the audit size"),
    beyond_audit_size: z.boolean().describe("uniform does not reach allot's quality within the audit size: saved is then a lower bound"),
  })
  .openapi("AuditedEarned");

export const EarnedReportSchema = z
  .object({
    audited: AuditedEarnedSchema.nullable().describe("measured on audited prompts (docs/audits.md): unbiased, with its error; null with too few audits (audits.note)"),
    audits: z.object({
      prompts: z.int().describe("audited prompts kept"),
      needed: z.int().describe("how many it takes before a figure is given"),
      units: z.number().describe("units audits drew beyond the policy's: the cost of proof, never charged to the tenant"),
      note: z.string().nullable().describe("why there is no audited figure yet, in words"),
    }),
    predicted: EarnedSchema.nullable().describe("a prediction: estimated from the predictor's own curves, only as good as its calibration on this traffic"),
  })
  .openapi("EarnedReport");

/**
 * The counters a tenant's rollups sum (tenants/rollups.ts), one row each: what it counts,
 * whether the console's points show it as it is (`point`), and the Prometheus counter
 * that exposes its all-time total (`prometheus`). The rollups, the usage points' schema and
 * /metrics are derived from this table.
 */
export const COUNTERS = {
  requests: { doc: "online requests, whatever their status", point: true },
  ok: { doc: "served (2xx)", point: true },
  refused: { doc: "429: the budget (spent, or held by requests in flight) or a rate", point: true },
  rejected: { doc: "other 4xx", point: true },
  failed: { doc: "5xx: the LM or the reward model failed", point: true },
  prompts: { doc: "prompts in online requests", point: true, prometheus: "allot_prompts_total" },
  units: { doc: "units charged online: samples at their model's cost, and prefills", point: true },
  batch_units: { doc: "units charged by batches", point: true },
  batch_prompts: { doc: "prompts of batches answered, counted when their batch ends", point: true, prometheus: "allot_batch_prompts_total" },
  batch_samples: { doc: "samples drawn for those prompts, counted when their batch ends", point: true, prometheus: "allot_batch_samples_total" },
  samples: { doc: "samples drawn for online requests", point: false, prometheus: "allot_samples_total" },
  rounds: { doc: "rounds of sampling of online requests", point: false },
  priced: { doc: "requests whose spend the price decided", point: false },
  decided_prompts: { doc: "prompts whose spend the price decided", point: false },
  decided_units: { doc: "the units the price decided for them (samples at their model's cost, no prefills): what it steers to the target", point: false },
  price_sum: { doc: "the price summed over those", point: false },
  lm_retries: { doc: "LM, hidden-state and reward calls retried (online)", point: true, prometheus: "allot_lm_retries_total" },
  lm_errors: { doc: "LM, hidden-state and reward calls that failed after their retries (online)", point: true, prometheus: "allot_lm_errors_total" },
  audits: { doc: "online prompts audited: every sample of max_units drawn and scored (docs/audits.md)", point: true, prometheus: "allot_audits_total" },
  audit_units: { doc: "units audits drew beyond what the policy spent: the cost of proof, never charged to the budget", point: true, prometheus: "allot_audit_units_total" },
  added_sum: { doc: "latency allot added, summed (ms)", point: false },
  lm_sum: { doc: "time waiting on the LM, summed (ms)", point: false },
} as const satisfies Record<string, { doc: string; point: boolean; prometheus?: string }>;
export type Counter = keyof typeof COUNTERS;
/** The counters a usage point shows as they are. */
export const POINT_COUNTERS = (Object.keys(COUNTERS) as Counter[]).filter((k) => COUNTERS[k].point);

export const UsagePointSchema = z.object({
  t: z.string().describe("start of the bucket (ISO 8601, UTC)"),
  ...(Object.fromEntries(POINT_COUNTERS.map((k) => [k, z.number().describe(COUNTERS[k].doc)])) as Record<(typeof POINT_COUNTERS)[number], z.ZodNumber>),
  samples_per_request: z.number().nullable().describe("samples drawn per request served"),
  rounds_per_request: z.number().nullable(),
  units_per_prompt: z.number().nullable().describe("units the price decided per prompt (samples at their model's cost, no prefills): what the target is in"),
  price: z.number().nullable().describe("mean price over the requests it decided"),
  target: z.number().nullable().describe("the online target (units per prompt the price decides) in force"),
  added_ms: Quantiles.describe("latency allot added (total − time waiting on the LM)"),
  lm_ms: Quantiles.describe("time waiting on the LM, hidden-state and reward calls"),
});

export const STEPS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type Step = keyof typeof STEPS;

export const UsageSeriesSchema = z
  .object({
    tenant: z.string(),
    step: z.enum(["minute", "hour", "day"]),
    from: z.string(),
    to: z.string(),
    retention: z.object({ minute: z.string(), hour: z.string() }).describe("how far back each resolution is kept"),
    points: z.array(UsagePointSchema),
    earned: EarnedReportSchema.describe("what allot earned over the range: measured on the range's audits, and predicted (docs/audits.md, docs/dashboard.md)"),
  })
  .openapi("UsageSeries");

export const CalibrationSchema = z.array(z.object({ n: z.int(), predicted: z.number(), observed: z.number() })).length(CALIBRATION_BINS);

const RefitSchema = z.object({
  temperature: z.number().describe("T on the predictor's logit, p' = σ(logit(p) / T), within [1/4, 4]"),
  strength: z.number().describe("the waves prior's strength refitted on p'"),
  audits: z.int().describe("audited prompts it was fitted on"),
  ece_before: z.number().describe("ECE of the predictor as shipped on them"),
  ece_after: z.number().describe("ECE after the refit on them"),
  at: z.string().describe("when it was fitted"),
});

/** A tenant's calibration of one predictor, learnt from its audits (docs/audits.md#calibration-that-learns). */
export const CalibrationStatusSchema = z
  .object({
    predictor: z.string(),
    ece: z.number().describe("the ECE of what is served now (the refit when applied, else the predictor as shipped) on the latest audits the refit used"),
    drifted: z.boolean().describe("ece above the drift threshold (0.05): the predictor is miscalibrated on this traffic beyond what a temperature corrects"),
    applied: z.boolean().describe("whether serving uses the refit (the tenant's online `calibration` is \"audited\")"),
    refit: RefitSchema.describe("the latest refit: the one served when applied"),
    history: z.array(RefitSchema).describe("the refits before it, newest first (20 are kept in all, the latest included): how the calibration moved"),
  })
  .openapi("CalibrationStatus");

export type CalibrationStatus = z.infer<typeof CalibrationStatusSchema>;

export const TenantSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    usage: z.array(z.object({ window: z.enum(["hour", "day", "month"]), limit: z.int().nullable(), used: z.number(), reserved: z.number() })),
    online: z.object({ target_units: z.number(), min_units: z.int(), max_units: z.int(), max_rounds: z.int(), shards: z.int(), audit_rate: z.number(), price: z.number(), mean_units: z.number(), requests: z.int() }),
    keys: z.array(z.object({ id: z.string(), revoked: z.boolean() })),
    totals: z.object({ requests: z.int(), ok: z.int(), refused: z.int().describe("429s"), rejected: z.int().describe("other 4xx"), failed: z.int().describe("5xx"),
      prompts: z.int().describe("prompts of online requests"), units: z.number().describe("units charged online"),
      batch_prompts: z.int().describe("prompts of batches answered (counted when their batch ends)"), batch_samples: z.int().describe("samples drawn for them"), batch_units: z.number().describe("units charged by batches") }),
    earned: EarnedSchema.nullable(),
    calibration: z.record(z.string(), CalibrationSchema).describe("per predictor or router, live: first sample's reward against predicted single-sample success, in tenths"),
    audited_calibration: z.array(CalibrationStatusSchema).describe("per predictor with enough audits, its calibration refitted on this tenant's audits and whether it has drifted (as GET /v1/usage `calibration`)"),
    served: ServedSchema.describe("per predictor or router, per model: the online prompts whose spend it decided, the samples drawn and their units"),
    feedback: FeedbackSummarySchema.describe("clients' feedback on the tenant's answers, and on its audited prompts against the verifier (as GET /v1/usage `feedback`)"),
    batch_served: ServedSchema.describe("per predictor or router (\"uniform\" for a uniform batch), per model: batches' prompts answered, the samples drawn and their units, counted when each batch ends"),
  })
  .openapi("TenantSummary");
export type TenantSummary = z.infer<typeof TenantSummarySchema>;

const ReliabilityBinSchema = z.object({
  n: z.int().describe("prompts in the bin"),
  predicted: z.number().describe("their mean predicted single-sample success"),
  observed: z.number().describe("their mean observed pass rate"),
  ci95: pair.describe("95% Wilson interval of the observed rate, on the bin's pooled samples"),
});

const ReliabilitySchema = z.object({
  prompts: z.int(),
  bins: z.array(ReliabilityBinSchema).length(CALIBRATION_BINS).describe("per tenth of predicted p"),
  ece: z.number().describe("expected calibration error: prompt-weighted mean |predicted − observed| over the bins"),
});

export const CalibrationReportSchema = z
  .object({
    predictor: z.string().describe("a predictor or router"),
    source: z.enum(["audits", "live"]).describe("what the plot shows: audits when there are enough, else the live first samples"),
    audited: ReliabilitySchema.extend({ needed: z.int().describe("audited prompts it takes before the plot uses them") }).describe(
      "on audited prompts: each prompt's pass rate over every sample drawn, an unbiased label",
    ),
    live: ReliabilitySchema.describe("each served prompt's first sample's reward: one draw per prompt, so each label is 0 or 1"),
    note: z.string().nullable().describe("why the plot is not from audits, in words"),
  })
  .openapi("CalibrationReport");
