import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { VERSION } from "../../core/version.js";
import type { AppEnv } from "../env.js";

const HealthSchema = z.object({ status: z.literal("ok"), service: z.literal("allot"), version: z.string().describe("package.json's version") }).openapi("Health");

const route = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness check",
  tags: ["meta"],
  responses: { 200: { description: "The gateway is up.", content: { "application/json": { schema: HealthSchema } } } },
});

export const health = new OpenAPIHono<AppEnv>().openapi(route, (c) => c.json({ status: "ok" as const, service: "allot" as const, version: VERSION }, 200));
