/**
 * /healthz: liveness, always 200 while the Worker runs, saying "degraded" (with what is
 * wrong) when a setting the servers need is missing or requests lately met a server that
 * is not what the settings say (a missing route, task or model: backends/seen.ts).
 * /readyz: the same, as a status code: 503 while degraded, for load balancers and deploy
 * checks. Neither probes a server (that is /admin/doctor's job): both are cheap.
 */
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { HealthSchema } from "../../core/contracts/doctor.js";
import { VERSION } from "../../core/version.js";
import { configFindings } from "../backends/doctor.js";
import { recentFaults } from "../backends/seen.js";
import type { AppEnv, Env } from "../env.js";
import { jsonResponse } from "../http/openapi.js";

async function healthOf(env: Env) {
  const problems = [...(await configFindings(env)).map((f) => ({ setting: f.setting, message: f.message })), ...recentFaults()];
  return { status: problems.length > 0 ? ("degraded" as const) : ("ok" as const), service: "allot" as const, version: VERSION, ...(problems.length > 0 ? { problems } : {}) };
}

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness check (and whether the deployment is degraded)",
  tags: ["meta"],
  responses: { 200: jsonResponse(HealthSchema, "The gateway is up; `status` says whether it is degraded, `problems` why.") },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  summary: "Readiness: 503 while the deployment is degraded",
  tags: ["meta"],
  responses: {
    200: jsonResponse(HealthSchema, "Settings complete, and no request met a misconfigured server lately."),
    503: jsonResponse(HealthSchema, "Degraded: `problems` says which setting to change (`allot doctor` probes every server)."),
  },
});

export const health = new OpenAPIHono<AppEnv>()
  .openapi(healthz, async (c) => c.json(await healthOf(c.env), 200))
  .openapi(readyz, async (c) => {
    const h = await healthOf(c.env);
    return h.status === "ok" ? c.json(h, 200) : c.json(h, 503);
  });
