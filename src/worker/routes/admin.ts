import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { keyTag } from "../auth/key-tag.js";
import { requireAdmin } from "../auth/middleware.js";
import { BudgetSchema, CreateTenantSchema, NewKeySchema, OnlineSchema, TenantSchema } from "../../core/contracts/tenants.js";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";
import { Conflict, Invalid, NotFound, UnknownTenant } from "../../core/errors.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { randomHex, tenantLedger } from "../tenants/lookup.js";
import { tenantDirectory } from "../tenants/directory.js";
import { STEPS, TenantSummarySchema, UsageSeriesSchema } from "../../core/contracts/metrics.js";
import { estimateEarned } from "../../core/metrics/earned.js";
import { reportOf } from "../tenants/audits.js";
import { pointOf } from "../metrics/series.js";
import { HOUR_RETENTION_MS, MINUTE_RETENTION_MS, addRollups, emptyRollup } from "../tenants/rollups.js";
import { BatchListQuery, BatchListSchema, batchRun, listBatches, ndjson } from "../batches/list.js";
import { BatchStatusSchema } from "../../core/contracts/batches.js";
import { withAnswerIds } from "../batches/answer-ids.js";
import { batchAnswerPrefix } from "./openai-batches.js";
import { mapBounded } from "../../core/backends/best-of-k.js";
import { DoctorQuerySchema, DoctorReportSchema } from "../../core/contracts/doctor.js";
import { DEFAULT_PROBE, worst } from "../../core/doctor.js";
import { doctor } from "../backends/doctor.js";

const json = jsonResponse;
const errors = {
  400: errorDoc("Malformed request."),
  401: errorDoc("Missing or wrong admin token."),
  404: errorDoc("No such tenant or key."),
};
const TenantId = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, "a tenant id is 16 hex characters") });
const security = [{ adminToken: [] }];

const ledger = tenantLedger;
const noTenant = (id: string) => new UnknownTenant({ tenant: id, param: "id" });

export const admin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
admin.use("/admin/tenants", requireAdmin);
admin.use("/admin/tenants/*", requireAdmin);

admin.openapi(
  createRoute({
    method: "post",
    path: "/admin/tenants",
    summary: "Create a tenant",
    tags: ["admin"],
    security,
    request: { body: { required: true, content: { "application/json": { schema: CreateTenantSchema } } } },
    responses: { 201: json(TenantSchema, "The new tenant."), ...errors },
  }),
  async (c) => {
    const id = randomHex(8);
    const tenant = await ledger(c.env, id).create(id, c.req.valid("json"));
    if (!tenant) throw new Conflict({ message: `tenant id ${id} collided; retry` });
    await tenantDirectory(c.env).add(id, tenant.name, Date.parse(tenant.created_at));
    return c.json(tenant, 201);
  },
);

admin.openapi(
  createRoute({
    method: "get",
    path: "/admin/tenants/{id}",
    summary: "A tenant's settings and keys (ids only)",
    tags: ["admin"],
    security,
    request: { params: TenantId },
    responses: { 200: json(TenantSchema, "The tenant."), ...errors },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const tenant = await ledger(c.env, id).view();
    if (!tenant) throw noTenant(id);
    // A tenant created before the directory existed joins it here.
    await tenantDirectory(c.env).add(id, tenant.name, Date.parse(tenant.created_at));
    return c.json(tenant, 200);
  },
);

admin.openapi(
  createRoute({
    method: "put",
    path: "/admin/tenants/{id}/budget",
    summary: "Set a tenant's budget per window (null removes a window's limit)",
    tags: ["admin"],
    security,
    request: { params: TenantId, body: { required: true, content: { "application/json": { schema: BudgetSchema } } } },
    responses: { 200: json(TenantSchema, "The tenant."), ...errors },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const tenant = await ledger(c.env, id).setBudget(c.req.valid("json"));
    if (!tenant) throw noTenant(id);
    return c.json(tenant, 200);
  },
);

admin.openapi(
  createRoute({
    method: "put",
    path: "/admin/tenants/{id}/online",
    summary: "Set the online target: average units per request (B) that the tenant's price steers toward",
    tags: ["admin"],
    security,
    request: { params: TenantId, body: { required: true, content: { "application/json": { schema: OnlineSchema } } } },
    responses: { 200: json(OnlineSchema, "The online settings (the price starts afresh)."), ...errors },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const online = await ledger(c.env, id).setOnline(c.req.valid("json"));
    if (!online) throw noTenant(id);
    return c.json({ target_units: online.target_units, min_units: online.min_units, max_units: online.max_units, max_rounds: online.max_rounds, shards: online.shards, audit_rate: online.audit_rate, calibration: online.calibration }, 200);
  },
);

admin.openapi(
  createRoute({
    method: "post",
    path: "/admin/tenants/{id}/keys",
    summary: "Issue an API key (shown once)",
    tags: ["admin"],
    security,
    request: { params: TenantId },
    responses: { 201: json(NewKeySchema, "The key; store it now, it cannot be shown again."), ...errors },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    // Checked first: a key is never stored that could not be tagged.
    await keyTag(settings(c.env).API_KEY_SECRET, "");
    const key = await ledger(c.env, id).addKey(id);
    if (!key) throw noTenant(id);
    return c.json({ id: key.id, key: `${key.key}_${await keyTag(settings(c.env).API_KEY_SECRET, key.key)}` }, 201);
  },
);

admin.openapi(
  createRoute({
    method: "delete",
    path: "/admin/tenants/{id}/keys/{keyId}",
    summary: "Revoke an API key",
    tags: ["admin"],
    security,
    request: { params: TenantId.extend({ keyId: z.string().regex(/^[0-9a-f]{8}$/, "a key id is 8 hex characters") }) },
    responses: { 200: json(z.object({ revoked: z.literal(true) }), "Revoked."), ...errors },
  }),
  async (c) => {
    const { id, keyId } = c.req.valid("param");
    if (!(await ledger(c.env, id).revokeKey(keyId))) throw new NotFound({ what: "key", message: `no live key ${keyId} for tenant ${id}`, param: "keyId" });
    return c.json({ revoked: true as const }, 200);
  },
);

admin.openapi(
  createRoute({
    method: "get",
    path: "/admin/tenants",
    summary: "Every tenant at a glance: budget use per window, online target and price, keys, totals, what allot earned",
    description: "In creation order, paginated: limit (1–100, default 50) and after = the previous page's last_id.",
    tags: ["admin"],
    security,
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ param: { name: "limit", in: "query" }, example: 50 }),
        after: z.string().regex(/^[0-9a-f]{16}$/, "after is a tenant id (the last_id of the previous page)").optional().openapi({ param: { name: "after", in: "query" } }),
      }),
    },
    responses: {
      200: json(z.object({ object: z.literal("list"), data: z.array(TenantSummarySchema), last_id: z.string().nullable(), has_more: z.boolean() }), "A page of tenants."),
      ...errors,
    },
  }),
  async (c) => {
    const { limit, after } = c.req.valid("query");
    const page = await tenantDirectory(c.env).page(limit, after ?? null);
    // Six at a time: one invocation's connections, and each ledger answers from its own SQLite.
    const data = (await mapBounded(page.ids, 6, (id) => ledger(c.env, id).summary())).filter((t) => t !== null);
    return c.json({ object: "list" as const, data, last_id: page.ids.at(-1) ?? null, has_more: page.more }, 200);
  },
);

const MAX_POINTS = 1_440;

admin.openapi(
  createRoute({
    method: "get",
    path: "/admin/tenants/{id}/usage",
    summary: "A tenant's traffic over time: requests, units, samples, price and target, 429s, LM errors and retries, latency",
    description:
      `Buckets of step (minute, hour or day; at most ${MAX_POINTS} in a range) from \`from\` to \`to\` (ISO 8601; default: the last ` +
      "hour by minute, the last day by hour, the last 30 days by day). Minutes are kept 24 hours, hours 92 days. " +
      "`earned` covers the range: `audited`, measured on the range's audited prompts with 95% intervals (docs/audits.md), null with too few; " +
      "`predicted`, allot's observed quality against uniform best-of-k at the same spend as the predictor's curves predict it.",
    tags: ["admin"],
    security,
    request: {
      params: TenantId,
      query: z.object({
        step: z.enum(["minute", "hour", "day"]).default("minute").openapi({ param: { name: "step", in: "query" }, example: "minute" }),
        from: z.iso.datetime({ offset: true }).optional().openapi({ param: { name: "from", in: "query" }, example: "2026-12-02T00:00:00Z" }),
        to: z.iso.datetime({ offset: true }).optional().openapi({ param: { name: "to", in: "query" }, example: "2026-12-02T01:00:00Z" }),
      }),
    },
    responses: { 200: json(UsageSeriesSchema, "The series."), ...errors },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const q = c.req.valid("query");
    const width = STEPS[q.step];
    // By default the last 60 minutes, 24 hours or 30 days, the current one last.
    const now = Date.now();
    const to = q.to ? Date.parse(q.to) : now - (now % width) + width;
    const from = q.from ? Date.parse(q.from) : to - (q.step === "minute" ? 60 : q.step === "hour" ? 24 : 30) * width;
    if (!(from < to)) throw new Invalid({ message: "from must be before to", param: "from" });
    const points = Math.ceil((to - (from - (from % width))) / width);
    if (points > MAX_POINTS) throw new Invalid({ message: `${points} ${q.step}s is more than ${MAX_POINTS} points: narrow the range or take a longer step`, param: "from" });
    const [series, audits] = await Promise.all([ledger(c.env, id).series(from, to, q.step), ledger(c.env, id).listAudits(from, to)]);
    if (!series || !audits) throw noTenant(id);
    const sum = series.points.reduce((s, p) => addRollups(s, p.r), emptyRollup());
    return c.json(
      {
        tenant: id,
        step: q.step,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        retention: { minute: new Date(now - MINUTE_RETENTION_MS).toISOString(), hour: new Date(now - HOUR_RETENTION_MS).toISOString() },
        points: series.points.map((p) => pointOf(p.t, p.r)),
        earned: reportOf(audits, estimateEarned(sum.earned)),
      },
      200,
    );
  },
);

admin.openapi(
  createRoute({
    method: "get",
    path: "/admin/tenants/{id}/batches",
    summary: "A tenant's batches, newest first (as GET /v1/batches shows them to the tenant)",
    tags: ["admin"],
    security,
    request: { params: TenantId, query: BatchListQuery },
    responses: { 200: json(BatchListSchema, "A page of batches."), ...errors },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { limit, after } = c.req.valid("query");
    if (!(await ledger(c.env, id).view())) throw noTenant(id);
    return c.json(await listBatches(c.env, id, limit, after), 200);
  },
);

const BatchParams = TenantId.extend({ batchId: z.string().regex(/^b_[0-9a-f]{24}$/, "a batch id looks like b_ and 24 hex characters") });

admin.openapi(
  createRoute({
    method: "get",
    path: "/admin/tenants/{id}/batches/{batchId}",
    summary: "One of a tenant's batches: its live status and progress",
    tags: ["admin"],
    security,
    request: { params: BatchParams },
    responses: { 200: json(BatchStatusSchema, "The batch."), ...errors },
  }),
  async (c) => {
    const { id, batchId } = c.req.valid("param");
    const status = await batchRun(c.env, batchId).status(id);
    if (!status) throw new NotFound({ what: "batch", message: `no batch ${batchId} for tenant ${id}`, param: "batchId" });
    return c.json(status, 200);
  },
);

admin.get("/admin/tenants/:id/batches/:batchId/results", async (c) => {
  const parsed = BatchParams.safeParse(c.req.param());
  if (!parsed.success) throw new Invalid({ message: parsed.error.issues[0].message, param: String(parsed.error.issues[0].path[0]) });
  const results = await batchRun(c.env, parsed.data.batchId).results(parsed.data.id);
  if (!results) throw new NotFound({ what: "batch", message: `no batch ${parsed.data.batchId} for tenant ${parsed.data.id}`, param: "batchId" });
  const { id, batchId } = parsed.data;
  return c.body(ndjson(await withAnswerIds(c.env, id, batchId, await batchAnswerPrefix(c.env, id, batchId), results)), 200, { "content-type": "application/x-ndjson" });
});
admin.openAPIRegistry.registerPath(
  createRoute({
    method: "get",
    path: "/admin/tenants/{id}/batches/{batchId}/results",
    summary: "A tenant's batch results as JSON lines (as GET /v1/batches/{id}/results)",
    tags: ["admin"],
    security,
    request: { params: BatchParams },
    responses: { 200: { description: "One JSON object per line.", content: { "application/x-ndjson": { schema: z.string() } } }, ...errors },
  }),
);

admin.use("/admin/doctor", requireAdmin);
admin.openapi(
  createRoute({
    method: "get",
    path: "/admin/doctor",
    summary: "Probe every configured server (generate, hidden states, rewards, thinking) and say what to change",
    description:
      "Runs the checks of `allot doctor` from the gateway: each server's reachability, protocol and version, the route, task and model each role needs, " +
      "the hidden states' width and norm against every predictor, SGLang's hidden states under concurrency, the reward of a right and a wrong answer, " +
      "and each THINKING_MODELS model's thinking budget, sent through its backend at 0 and 8 and checked kept. " +
      "Each finding names the setting to change. Always 200: `status` is the worst finding's level.",
    tags: ["admin"],
    security,
    request: { query: DoctorQuerySchema },
    responses: { 200: json(DoctorReportSchema, "The findings."), 400: errors[400], 401: errors[401] },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const findings = await doctor(c.env, { ...DEFAULT_PROBE, ...q });
    return c.json({ status: worst(findings), findings }, 200);
  },
);
