import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { allocate } from "../../core/allocation/build.js";
import { authenticated, clientOf } from "../auth/middleware.js";
import { TryLater } from "../../core/errors.js";
import { type AllocateQuery, type AllocateRequest, AllocateRequestSchema, AllocateResponseSchema } from "../../core/contracts/allocate.js";
import type { AppEnv, Env } from "../env.js";
import { errorDoc as errors } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { type Prediction, choosePredictor, marginalsOf, predict } from "../predictor/predict.js";
import { settings } from "../config.js";
import { refusalError } from "../tenants/budget-error.js";
import { tenantLedger } from "../tenants/lookup.js";

/** Queries per stateless allocate request; larger batches belong in the CLI or the batch API. */
export const MAX_ALLOCATE_QUERIES = 10_000;

const RequestSchema = AllocateRequestSchema.refine((r) => r.queries.length <= MAX_ALLOCATE_QUERIES, {
  message: `at most ${MAX_ALLOCATE_QUERIES} queries per request`,
  path: ["queries"],
});


const route = createRoute({
  method: "post",
  path: "/v1/allocate",
  summary: "Allocate a compute budget over queries",
  description:
    "Stateless. Each query gives its predicted marginal gains, or p (one sample's success probability), or its prompt " +
    "(allot reads the prompt's hidden state from the LM and runs the predictor), or the hidden state itself. allot returns " +
    "the units per query that maximise the total predicted gain within the budget, and the predicted curve it used. " +
    "Queries with a prompt or a hidden state need an API key; p and marginals queries do not.",
  tags: ["allocation"],
  request: { body: { required: true, content: { "application/json": { schema: RequestSchema } } } },
  responses: {
    200: { description: "The optimal allocation.", content: { "application/json": { schema: AllocateResponseSchema } } },
    400: errors("Malformed or infeasible request."),
    401: errors("A prompt or hidden query without a valid API key."),
    502: errors("The LM server failed to return hidden states."),
    503: errors("The gateway is not configured for prompt queries."),
  },
});

/** Replaces prompt and hidden queries by the predictor's p or marginals; returns what it predicted. */
async function resolvePredicted(env: Env, req: AllocateRequest, authorization: string | undefined, client: string): Promise<{ req: AllocateRequest; predicted: Map<number, Prediction> }> {
  const predicted = new Map<number, Prediction>();
  const needed = req.queries.flatMap((q, i) => (q.prompt !== undefined || q.hidden !== undefined ? [i] : []));
  if (needed.length === 0) return { req, predicted };
  // Predicting costs LM work (a prompt's prefill) and the predictor's: a tenant's, not anyone's.
  const { tenant } = await authenticated(env, authorization, client, " (queries with a prompt or a hidden state run the LM and the predictor)");
  if (env.PREDICTIONS && !(await env.PREDICTIONS.limit({ key: tenant })).success) {
    throw new TryLater({ message: `tenant ${tenant} is over its rate of allocations from prompts (PREDICTIONS); wait a minute`, retryAfterMs: 60_000 });
  }
  const shipped = await choosePredictor(env, req);
  const inputs = needed.map((i) => {
    const q = req.queries[i];
    return q.hidden !== undefined ? { hidden: q.hidden } : { prompt: q.prompt! };
  });
  // Each prompt's hidden state is a prefill on the LM, inside the tenant's budget: reserved
  // before any LM work (refused when the budget has no room), charged once read.
  const prompts = inputs.filter((x) => "prompt" in x).length;
  const units = prompts * settings(env).PREFILL_UNITS;
  const book = tenantLedger(env, tenant);
  let reservation: string | null = null;
  if (units > 0) {
    const r = await book.reserve(units);
    if (!r.ok) throw refusalError(tenant, r, `reading ${prompts} prompts' hidden states`);
    reservation = r.id;
  }
  let predictions: Prediction[];
  try {
    predictions = await predict(env, shipped, inputs, (k, kind) => `queries[${needed[k]}].${kind}`);
    if (reservation) await book.commitTo(reservation, units);
  } finally {
    if (reservation) await book.releaseBatch(reservation);
  }
  const queries: AllocateQuery[] = [...req.queries];
  needed.forEach((i, k) => {
    const { prompt: _p, hidden: _h, ...rest } = req.queries[i];
    const pr = predictions[k];
    queries[i] = "p" in pr ? { ...rest, p: pr.p, max: rest.max ?? req.max ?? 16 } : { ...rest, marginals: marginalsOf(pr.curve) };
    predicted.set(i, pr);
  });
  return { req: { ...req, queries }, predicted };
}

export const allocateRoute = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(route, async (c) => {
  const { req, predicted } = await resolvePredicted(c.env, c.req.valid("json"), c.req.header("authorization"), clientOf((n) => c.req.header(n)));
  const res = allocate(req);
  return c.json({ ...res, allocation: res.allocation.map((a, i) => ({ ...a, ...predicted.get(i) })) }, 200);
});
