import { choosePredictor, modelNotFound } from "../predictor/predict.js";
import { findRouter, knownModel } from "../predictor/registry.js";
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { requireTenant } from "../auth/middleware.js";
import { type BatchRequest, BatchRequestSchema, type BatchStatus, BatchStatusSchema, TERMINAL_STATES } from "../../core/contracts/batches.js";
import type { AppEnv, Env } from "../env.js";
import { Invalid, NotFound, TryLater, UnknownTenant } from "../../core/errors.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { type BatchPrompt, batchReservation } from "../batches/run.js";
import { settings } from "../config.js";
import { BatchListQuery, BatchListSchema, batchRun, listBatches, ndjson } from "../batches/list.js";
import { refusalError } from "../tenants/budget-error.js";
import { randomHex, tenantLedger } from "../tenants/lookup.js";
import { openaiBatchCreate, openaiBatchList, openaiBatchView } from "./openai-batches.js";

const json = jsonResponse;
const BatchId = z.object({ id: z.string().regex(/^b_[0-9a-f]{24}$/, "a batch id looks like b_ and 24 hex characters") });
const security = [{ apiKey: [] }];
const notFound = (id: string) => new NotFound({ what: "batch", message: `no batch ${id}`, param: "id" });
const run = batchRun;
const ledger = tenantLedger;

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

/**
 * Submits a batch for `tenant`: checks its size and model, resolves its allocation,
 * takes a batch slot and reserves its whole budget before any LM work, and starts its
 * BatchRun. Also what POST /v1/batches with an OpenAI input file does (openai-batches.ts),
 * whose prompts carry their own requests.
 */
export async function submitBatch(env: Env, tenant: string, spec: Omit<BatchRequest, "prompts"> & { prompts: BatchPrompt[] }): Promise<BatchStatus> {
  const limits = await ledger(env, tenant).batchLimits();
  if (!limits) throw new UnknownTenant({ tenant });
  if (spec.prompts.length > limits.maxBatchSize) {
    throw new Invalid({ message: `${spec.prompts.length} prompts is more than this tenant's max_batch_size of ${limits.maxBatchSize}`, param: "prompts" });
  }
  // A model or predictor that does not exist is a 400 now, not a failed batch later.
  // Unset, the allocation is waves wherever the predictor or router can run them.
  let allocation = spec.allocation;
  if (spec.mode === "route") {
    const router = await findRouter(env, spec.model ?? "route");
    if (!router) throw new Invalid({ message: `no router named "${spec.model}"; mode route needs the name of a shipped router`, param: "model" });
    if (allocation === "waves" && router.manifest.prior_strength === undefined) {
      throw new Invalid({ message: `a cascade needs the router's fitted prior_strength; ${router.manifest.name} has none (retrain it with allot train-route)`, param: "allocation" });
    }
    allocation ??= router.manifest.prior_strength !== undefined ? "waves" : "learned";
  } else if (allocation === "uniform") {
    const model = spec.model ?? settings(env).LM_MODEL;
    if (!(await knownModel(env, model))) throw modelNotFound(model);
  } else {
    const predictor = await choosePredictor(env, spec);
    const wavesReady = predictor.manifest.kind !== "bernoulli" || predictor.manifest.prior_strength !== undefined;
    if (allocation === "waves" && !wavesReady) {
      throw new Invalid({ message: `waves on a binary-reward predictor need its fitted prior_strength; ${predictor.manifest.name} has none (retrain it with allot train)`, param: "allocation" });
    }
    allocation ??= wavesReady ? "waves" : "learned";
  }
  const resolved = { ...spec, allocation };
  const id = `b_${randomHex(12)}`;
  const book = ledger(env, tenant);
  if (!(await book.startBatch(id, { prompts: spec.prompts.length, mode: spec.mode, model: spec.model ?? null }))) {
    throw new TryLater({ message: `tenant ${tenant} already runs ${limits.maxConcurrentBatches} batches (max_concurrent_batches); wait for one to finish` });
  }
  // The batch's whole budget is reserved before any LM work: a tenant that cannot pay
  // for it learns now, and the LM never sees the batch. Each step undoes the ones before
  // it if it fails, so a refused or broken submission holds nothing.
  let reservation: string | null = null;
  try {
    const prefill = settings(env).PREFILL_UNITS;
    const units = batchReservation(resolved, prefill);
    if (units > 0) {
      const r = await book.reserve(units, id);
      if (!r.ok) throw refusalError(tenant, r, "this batch");
      reservation = r.id;
    }
    return await run(env, id).start(id, tenant, resolved, reservation, prefill);
  } catch (e) {
    if (reservation) await book.releaseBatch(reservation);
    await book.endBatch(id);
    throw e;
  }
}

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
  "Results as JSON lines: id, best completion, its reward, units used, the model that answered, samples, predicted success",
  "application/x-ndjson",
  "One JSON object per line, for the prompts finished so far.",
);
batches.get("/v1/batches/:id/results", async (c) => {
  const id = batchIdOf(c.req.param("id"));
  const results = await run(c.env, id).results(c.get("tenant"));
  if (!results) throw notFound(id);
  return c.body(ndjson(results), 200, { "content-type": "application/x-ndjson" });
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
