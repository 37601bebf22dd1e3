import { z } from "@hono/zod-openapi";

/** One finding of `allot doctor` (core/doctor.ts Finding). */
export const FindingSchema = z
  .object({
    level: z.enum(["ok", "warn", "error"]),
    role: z.enum(["settings", "generate", "hidden states", "rewards", "thinking"]),
    server: z.string().nullable().describe("the server's base URL (admins only)"),
    model: z.string().nullable(),
    message: z.string(),
    setting: z.string().nullable().describe("the setting to change"),
  })
  .openapi("Finding");

export const DoctorReportSchema = z
  .object({
    status: z.enum(["ok", "warn", "error"]).describe("the worst finding's level"),
    findings: z.array(FindingSchema),
  })
  .openapi("DoctorReport");

/** GET /admin/doctor's query: the probe the reward model is asked about (defaults: 12+34=, right 46, wrong 47). */
export const DoctorQuerySchema = z.strictObject({
  prompt: z.string().min(1).max(2_000).optional().describe("a prompt every model of the deployment can read"),
  right: z.string().min(1).max(2_000).optional().describe("a right answer to it"),
  wrong: z.string().min(1).max(2_000).optional().describe("a wrong answer to it"),
});

/** /healthz: liveness, and whether the deployment is known to be degraded. */
export const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]).describe("degraded: a setting is missing or a server answered that the deployment is wrong (problems says which)"),
    service: z.literal("allot"),
    version: z.string().describe("package.json's version"),
    problems: z
      .array(z.object({ setting: z.string().nullable(), message: z.string(), count: z.int().optional(), last_seen: z.string().optional() }))
      .optional()
      .describe("what is wrong: unset settings, and deployment faults requests met in this isolate in the last 5 minutes"),
  })
  .openapi("Health");
