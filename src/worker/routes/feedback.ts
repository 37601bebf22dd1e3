/**
 * POST /v1/feedback: a client's reward for an answer it got, possibly hours later
 * (docs/audits.md#feedback). The response id must be one allot gave the calling tenant:
 * ids are signed for their tenant (auth/response-id.ts), so this is checked without a
 * record of every id, and a made-up id or another tenant's is a 404 like one never given.
 * Kept in the tenant's ledger, one per response (a second replaces the first), and counted
 * in GET /v1/usage: a signal, not a label (the answer is the sample allot selected).
 */
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { FeedbackRequestSchema, FeedbackSchema } from "../../core/contracts/feedback.js";
import { NotFound } from "../../core/errors.js";
import { requireTenant } from "../auth/middleware.js";
import { responseGivenTo } from "../auth/response-id.js";
import type { AppEnv } from "../env.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { twice } from "../tenants/account.js";
import { tenantLedger } from "../tenants/lookup.js";

export const feedback = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
feedback.use("/v1/feedback", requireTenant);

feedback.openapi(
  createRoute({
    method: "post",
    path: "/v1/feedback",
    summary: "A client's reward for an answer it got",
    description:
      "Records the client's reward (0 to 1) for a response allot gave this tenant (its id: chatcmpl-…, cmpl-… or resp_…), at any time after. " +
      "A second feedback on the same response replaces the first; it is counted once in GET /v1/usage (`feedback`). " +
      "The answer is the sample allot selected from its samples, so its reward is a signal for drift, not an unbiased label of the prompt (docs/audits.md#feedback). " +
      "A batch's answers take it too: the `response_id` of each line of GET /v1/batches/{id}/results, or the `response.body.id` of a Batch API output line.",
    tags: ["tenants"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: FeedbackRequestSchema } } } },
    responses: {
      200: jsonResponse(FeedbackSchema, "The feedback as recorded."),
      400: errorDoc("Malformed request (the field is named)."),
      401: errorDoc("Missing or invalid API key."),
      404: errorDoc("No response with this id was given to this tenant."),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const tenant = c.get("tenant");
    if (!(await responseGivenTo(c.env, tenant, body.response_id))) {
      throw new NotFound({ what: "response", message: `no response ${body.response_id} was given to this tenant (response ids of chat completions, completions, the Responses API and batches' answers)`, param: "response_id" });
    }
    const comment = body.comment ?? null;
    const r = await twice(() => tenantLedger(c.env, tenant).recordFeedback({ response_id: body.response_id, reward: body.reward, comment }));
    return c.json({ object: "feedback" as const, response_id: body.response_id, reward: body.reward, comment, recorded_at: new Date(r.at).toISOString(), replaced: r.replaced }, 200);
  },
);
