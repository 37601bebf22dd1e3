import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env.js";

const HealthSchema = z.object({ status: z.literal("ok"), service: z.literal("allot") }).openapi("Health");

const route = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness check",
  tags: ["meta"],
  responses: { 200: { description: "The gateway is up.", content: { "application/json": { schema: HealthSchema } } } },
});

export const health = new OpenAPIHono<AppEnv>().openapi(route, (c) => c.json({ status: "ok" as const, service: "allot" as const }, 200));
