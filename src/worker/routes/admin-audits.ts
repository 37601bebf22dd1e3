/**
 * GET /admin/tenants/{id}/audits: a tenant's audited prompts, oldest first, paged by id,
 * each with every sample's reward in draw order and the hidden state its prediction was
 * made from: what `allot audits export` writes as a dataset `allot train` and `allot eval`
 * read (docs/audits.md#closing-the-loop). No prompt text: allot does not keep prompts.
 */
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { UnknownTenant } from "../../core/errors.js";
import { requireAdmin } from "../auth/middleware.js";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { tenantLedger } from "../tenants/lookup.js";

const Params = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, "a tenant id is 16 hex characters") });

/** At most 200 a page: a hidden state of width 4,096 is about 50 KB of JSON, so a page stays near 10 MB. */
const Query = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(100).openapi({ param: { name: "limit", in: "query" }, example: 100 }),
  after: z.coerce.number().int().min(0).default(0).openapi({ param: { name: "after", in: "query" }, description: "an audit id: the last_id of the previous page" }),
});

const AuditSchema = z
  .object({
    id: z.int().describe("its place in the tenant's audits (ids grow)"),
    at: z.string(),
    model: z.string(),
    predictor: z.string().nullable(),
    predicted: z.number().nullable().describe("the predictor's single-sample success"),
    rewards: z.array(z.number()).describe("every sample's reward in draw order: the policy's, then the audit's"),
    samples: z.int().describe("how many of them the policy drew"),
    units: z.number(),
    reward: z.number().describe("the reward of the answer the client got"),
    audit_units: z.number(),
    form: z.enum(["prompt", "chat"]).describe("what the hidden state was read from: a bare prompt, or a conversation under the chat template"),
    hidden: z.array(z.number()).nullable().describe("the hidden state the prediction was made from (float32); null for audits recorded before hidden states were kept"),
  })
  .openapi("Audit");

const AuditPageSchema = z
  .object({
    object: z.literal("list"),
    data: z.array(AuditSchema),
    last_id: z.int().nullable().describe("pass as `after` for the next page"),
    has_more: z.boolean(),
    reward_model: z.string().nullable().describe("the deployment's REWARD_MODEL: what scored the samples"),
  })
  .openapi("AuditPage");

export const adminAudits = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
adminAudits.use("/admin/tenants/:id/audits", requireAdmin);

adminAudits.openapi(
  createRoute({
    method: "get",
    path: "/admin/tenants/{id}/audits",
    summary: "A tenant's audited prompts with their rewards and hidden states, oldest first (allot audits export)",
    tags: ["admin"],
    security: [{ adminToken: [] }],
    request: { params: Params, query: Query },
    responses: {
      200: jsonResponse(AuditPageSchema, "A page of audited prompts."),
      400: errorDoc("Malformed request."),
      401: errorDoc("Missing or wrong admin token."),
      404: errorDoc("No such tenant."),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { limit, after } = c.req.valid("query");
    const page = await tenantLedger(c.env, id).exportAudits(after, limit);
    if (!page) throw new UnknownTenant({ tenant: id, param: "id" });
    const data = page.rows.map((a) => ({
      id: a.id,
      at: new Date(a.at).toISOString(),
      model: a.model,
      predictor: a.predictor,
      predicted: a.predicted,
      rewards: [...a.rewards],
      samples: a.samples,
      units: a.units,
      reward: a.reward,
      audit_units: a.audit_units,
      form: a.form,
      hidden: a.hidden ? [...a.hidden] : null,
    }));
    return c.json(
      { object: "list" as const, data, last_id: data.length > 0 ? data[data.length - 1].id : null, has_more: page.more, reward_model: settings(c.env).REWARD_MODEL ?? null },
      200,
    );
  },
);
