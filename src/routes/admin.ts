import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { keyTag } from "../auth/key-tag.js";
import { requireAdmin } from "../auth/middleware.js";
import { BudgetSchema, CreateTenantSchema, NewKeySchema, OnlineSchema, TenantSchema } from "../contracts/tenants.js";
import type { AppEnv } from "../env.js";
import { ApiError } from "../http/errors.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { randomHex, tenantLedger } from "../tenants/lookup.js";

const json = jsonResponse;
const errors = {
  400: errorDoc("Malformed request."),
  401: errorDoc("Missing or wrong admin token."),
  404: errorDoc("No such tenant or key."),
};
const TenantId = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, "a tenant id is 16 hex characters") });
const security = [{ adminToken: [] }];

const ledger = tenantLedger;
const noTenant = (id: string) => new ApiError(404, "not_found_error", `no tenant ${id}`, "id");

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
    if (!tenant) throw new ApiError(409, "invalid_request_error", `tenant id ${id} collided; retry`);
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
    return c.json({ target_units: online.target_units, min_units: online.min_units, max_units: online.max_units, max_rounds: online.max_rounds }, 200);
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
    await keyTag(c.env.API_KEY_SECRET, "");
    const key = await ledger(c.env, id).addKey(id);
    if (!key) throw noTenant(id);
    return c.json({ id: key.id, key: `${key.key}_${await keyTag(c.env.API_KEY_SECRET, key.key)}` }, 201);
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
    if (!(await ledger(c.env, id).revokeKey(keyId))) throw new ApiError(404, "not_found_error", `no live key ${keyId} for tenant ${id}`, "keyId");
    return c.json({ revoked: true as const }, 200);
  },
);
