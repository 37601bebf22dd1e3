/**
 * A tenant's batches, newest first, one page at a time: the tenant's ledger lists them;
 * a batch still running is asked for its live status, an ended one answers from the
 * summary it left when it settled. Shared by GET /v1/batches and the admin routes.
 */
import { z } from "@hono/zod-openapi";
import { BatchStatusSchema, TERMINAL_STATES } from "../../core/contracts/batches.js";
import { EarnedSchema } from "../../core/contracts/metrics.js";
import type { Env } from "../env.js";
import { Invalid } from "../../core/errors.js";
import { tenantLedger } from "../tenants/lookup.js";

export const BatchListItemSchema = BatchStatusSchema.extend({
  mode: z.enum(["best_of_k", "route"]),
  model: z.string().nullable().describe("the LM, or for mode route the router (null: the gateway's LM_MODEL)"),
  ended_at: z.string().nullable(),
  earned: EarnedSchema.nullable().describe("what the batch earned over uniform best-of-k at its spend, once it has ended (null for uniform and routed batches)"),
}).openapi("BatchListItem");

export const BatchListSchema = z
  .object({
    object: z.literal("list"),
    data: z.array(BatchListItemSchema),
    first_id: z.string().nullable(),
    last_id: z.string().nullable().describe("pass as `after` for the next page"),
    has_more: z.boolean(),
  })
  .openapi("BatchList");

export const BatchListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ param: { name: "limit", in: "query" }, example: 20 }),
  after: z
    .string()
    .regex(/^b_[0-9a-f]{24}$/, "after is a batch id (the last_id of the previous page)")
    .optional()
    .openapi({ param: { name: "after", in: "query" } }),
});

/** The BatchRun object of batch `id`. */
export const batchRun = (env: Env, id: string) => env.BATCHES.get(env.BATCHES.idFromName(id));

/** A batch's results as the results routes send them: one JSON object per line. */
export const ndjson = (rows: readonly unknown[]): string => rows.map((r) => JSON.stringify(r) + "\n").join("");

export async function listBatches(env: Env, tenant: string, limit: number, after: string | undefined): Promise<z.infer<typeof BatchListSchema>> {
  const page = await tenantLedger(env, tenant).listBatches(limit, after ?? null);
  if (!page) throw new Invalid({ message: `no batch ${after} in this tenant's list (it may have passed its retention)`, param: "after" });
  const data = await Promise.all(
    page.rows.map(async (row) => {
      const base = { mode: row.mode as "best_of_k" | "route", model: row.model, ended_at: row.ended_at === null ? null : new Date(row.ended_at).toISOString() };
      if (row.summary) {
        const { earned, ...status } = JSON.parse(row.summary) as z.infer<typeof BatchStatusSchema> & { earned: z.infer<typeof EarnedSchema> | null };
        return { ...status, ...base, earned };
      }
      const live = await batchRun(env, row.id).status(tenant);
      const status = live ?? {
        id: row.id,
        status: TERMINAL_STATES.includes(row.status as never) ? (row.status as z.infer<typeof BatchStatusSchema>["status"]) : "queued",
        created_at: new Date(row.created_at).toISOString(),
        prompts: row.prompts,
        progress: { sampled: 0, failed: 0 },
        allocation: null,
        error: null,
      };
      return { ...status, ...base, earned: null };
    }),
  );
  return { object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.more };
}
