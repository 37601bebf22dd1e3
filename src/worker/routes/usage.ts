import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { UsageSchema } from "../../core/contracts/tenants.js";
import type { AppEnv } from "../env.js";
import { UnknownTenant } from "../../core/errors.js";
import { errorDoc } from "../http/openapi.js";
import { tenantLedger } from "../tenants/lookup.js";

export const usage = new OpenAPIHono<AppEnv>();
usage.use("/v1/usage", requireTenant);

usage.openapi(
  createRoute({
    method: "get",
    path: "/v1/usage",
    summary: "Units used, reserved and remaining in each budget window",
    tags: ["tenants"],
    security: [{ apiKey: [] }],
    responses: {
      200: { description: "Usage per window.", content: { "application/json": { schema: UsageSchema } } },
      401: errorDoc("Missing or invalid API key."),
    },
  }),
  async (c) => {
    const tenant = c.get("tenant");
    const u = await tenantLedger(c.env, tenant).usage();
    if (!u) throw new UnknownTenant({ tenant });
    return c.json(u, 200);
  },
);
