import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { allocate } from "../allocation/build.js";
import { AllocateRequestSchema, AllocateResponseSchema } from "../contracts/allocate.js";
import type { AppEnv } from "../env.js";
import { ErrorEnvelopeSchema } from "../http/errors.js";
import { validationHook } from "../http/validation.js";

/** Queries per stateless allocate request; larger batches belong in the CLI or the batch API. */
export const MAX_ALLOCATE_QUERIES = 10_000;

const RequestSchema = AllocateRequestSchema.refine((r) => r.queries.length <= MAX_ALLOCATE_QUERIES, {
  message: `at most ${MAX_ALLOCATE_QUERIES} queries per request`,
  path: ["queries"],
});

const errors = { content: { "application/json": { schema: ErrorEnvelopeSchema } } };

const route = createRoute({
  method: "post",
  path: "/v1/allocate",
  summary: "Allocate a compute budget over queries whose gain curves you already have",
  description:
    "Stateless. Each query gives its predicted marginal gains (or p, one sample's success probability); " +
    "allot returns the units per query that maximise the total predicted gain within the budget.",
  tags: ["allocation"],
  request: { body: { required: true, content: { "application/json": { schema: RequestSchema } } } },
  responses: {
    200: { description: "The optimal allocation.", content: { "application/json": { schema: AllocateResponseSchema } } },
    400: { description: "Malformed or infeasible request.", ...errors },
  },
});

export const allocateRoute = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(route, (c) =>
  c.json(allocate(c.req.valid("json")), 200),
);
