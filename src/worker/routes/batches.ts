import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { requireTenant } from "../auth/middleware.js";
import { BatchRequestSchema, type BatchStatus, BatchStatusSchema, TERMINAL_STATES } from "../../core/contracts/batches.js";
import type { AppEnv } from "../env.js";
import { Invalid, NotFound } from "../../core/errors.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { BatchListQuery, BatchListSchema, batchRun, listBatches, ndjson } from "../batches/list.js";
import { batchAnswerPrefix, openaiBatchCreate, openaiBatchList, openaiBatchView } from "./openai-batches.js";
import { withAnswerIds } from "../batches/answer-ids.js";
import { submitBatch } from "../batches/submit.js";

const json = jsonResponse;
const BatchId = z.object({ id: z.string().regex(/^b_[0-9a-f]{24}$/, "a batch id looks like b_ and 24 hex characters") });
const security = [{ apiKey: [] }];
const notFound = (id: string) => new NotFound({ what: "batch", message: `no batch ${id}`, param: "id" });
const run = batchRun;

export const batches = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
batches.use("/v1/batches", requireTenant);
batches.use("/v1/batches/*", requireTenant);
// OpenAI's Batch API (a body with input_file_id, and the batches it made): openai-batches.ts.
batches.use("/v1/batches", openaiBatchCreate, openaiBatchList);
batches.use("/v1/batches/*", openaiBatchView);

batches.openapi(
  createRoute({
    method: "post",
    path: "/v1/batches",
    summary: "Submit a batch: allot predicts, allocates the budget, samples best-of-k and keeps the best answers",
    tags: ["batches"],
    security,
    request: { body: { required: true, content: { "application/json": { schema: BatchRequestSchema } } } },
    responses: {
      202: json(BatchStatusSchema, "Accepted; poll GET /v1/batches/{id}."),
      400: errorDoc("Malformed request."),
      401: errorDoc("Missing or invalid API key."),
      429: errorDoc("Too many batches running for this tenant."),
    },
  }),
  async (c) => c.json(await submitBatch(c.env, c.get("tenant"), c.req.valid("json")), 202),
);


batches.openapi(
  createRoute({
    method: "get",
    path: "/v1/batches",
    summary: "Your batches, newest first (paginated like OpenAI's: limit, after = the previous page's last_id)",
    description: "Running batches show their live progress; ended ones their final status and what they earned over uniform best-of-k. Batches are listed until BATCH_RETENTION_SECONDS after they end.",
    tags: ["batches"],
    security,
    request: { query: BatchListQuery },
    responses: { 200: json(BatchListSchema, "A page of batches."), 400: errorDoc("A bad limit or cursor."), 401: errorDoc("Missing or invalid API key.") },
  }),
  async (c) => {
    const { limit, after } = c.req.valid("query");
    return c.json(await listBatches(c.env, c.get("tenant"), limit, after), 200);
  },
);

/** A route that answers with the batch's status after `action` (a read, or a cancel). */
function statusRoute(
  method: "get" | "post",
  path: string,
  summary: string,
  action: (stub: ReturnType<typeof run>, tenant: string) => Promise<BatchStatus | null>,
): void {
  batches.openapi(
    createRoute({
      method,
      path,
      summary,
      tags: ["batches"],
      security,
      request: { params: BatchId },
      responses: { 200: json(BatchStatusSchema, "The batch."), 404: errorDoc("No such batch for this tenant.") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const status = await action(run(c.env, id), c.get("tenant"));
      if (!status) throw notFound(id);
      return c.json(status, 200);
    },
  );
}

statusRoute("get", "/v1/batches/{id}", "A batch's status, progress and allocation", (stub, tenant) => stub.status(tenant));
statusRoute("post", "/v1/batches/{id}/cancel", "Cancel a batch; unused reserved units are released", (stub, tenant) => stub.cancel(tenant));

/**
 * Documents a GET route whose 200 body is not typed JSON (JSON lines, an event stream):
 * such routes are registered for OpenAPI here and served by plain handlers.
 */
function documentStream(path: string, summary: string, contentType: string, description: string): void {
  batches.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path,
      summary,
      tags: ["batches"],
      security,
      request: { params: BatchId },
      responses: {
        200: { description, content: { [contentType]: { schema: z.string() } } },
        404: errorDoc("No such batch for this tenant."),
      },
    }),
  );
}

/** The batch id of a plain handler's path, validated like the typed routes'. */
function batchIdOf(raw: string | undefined): string {
  const parsed = BatchId.safeParse({ id: raw });
  if (!parsed.success) throw new Invalid({ message: parsed.error.issues[0].message, param: "id" });
  return parsed.data.id;
}

documentStream(
  "/v1/batches/{id}/results",
  "Results as JSON lines: id, best completion, its reward, units used, the model that answered, samples, predicted success, and the answer's response_id (POST /v1/feedback takes it)",
  "application/x-ndjson",
  "One JSON object per line, for the prompts finished so far.",
);
batches.get("/v1/batches/:id/results", async (c) => {
  const id = batchIdOf(c.req.param("id"));
  const tenant = c.get("tenant");
  const results = await run(c.env, id).results(tenant);
  if (!results) throw notFound(id);
  const answered = await withAnswerIds(c.env, tenant, id, await batchAnswerPrefix(c.env, tenant, id), results);
  return c.body(ndjson(answered), 200, { "content-type": "application/x-ndjson" });
});

/** How often the events stream looks at the batch. */
const EVENTS_POLL_MS = 500;

documentStream(
  "/v1/batches/{id}/events",
  "Server-sent events: a `progress` event whenever the status changes, then `end`",
  "text/event-stream",
  "Each event's data is the BatchStatus JSON.",
);
batches.get("/v1/batches/:id/events", async (c) => {
  const id = batchIdOf(c.req.param("id"));
  const stub = run(c.env, id);
  const tenant = c.get("tenant");
  const first = await stub.status(tenant);
  if (!first) throw notFound(id);
  return streamSSE(c, async (stream) => {
    let last = "";
    let s: Awaited<ReturnType<typeof stub.status>> = first;
    for (let n = 0; s && !stream.aborted; n++) {
      const data = JSON.stringify(s);
      if (data !== last) await stream.writeSSE({ event: "progress", data, id: String(n) });
      last = data;
      if (TERMINAL_STATES.includes(s.status)) break;
      await stream.sleep(EVENTS_POLL_MS);
      s = await stub.status(tenant);
    }
    await stream.writeSSE({ event: "end", data: last });
  });
});
