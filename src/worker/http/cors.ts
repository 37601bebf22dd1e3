/**
 * CORS, off unless configured: CORS_ORIGINS is "*" or a comma-separated list of origins
 * allowed to call the API from a browser (the OpenAI-compatible routes, usage, batches).
 * Admin routes are never offered to browsers.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";

export const corsFromConfig: MiddlewareHandler<AppEnv> = async (c, next) => {
  const configured = settings(c.env).CORS_ORIGINS ?? [];
  if (configured.length === 0 || c.req.path.startsWith("/admin")) return next();
  return cors({
    origin: configured.includes("*") ? "*" : (origin) => (configured.includes(origin) ? origin : null),
    allowHeaders: ["authorization", "content-type", "x-allot-units", "x-stainless-os", "x-stainless-lang", "x-stainless-package-version", "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-arch", "x-stainless-retry-count", "x-stainless-timeout", "openai-organization", "openai-project"],
    exposeHeaders: ["x-allot-model", "x-allot-samples", "x-allot-units", "x-allot-price", "x-allot-predicted-success", "x-allot-planned-units", "x-allot-budget-limited", "retry-after", "x-should-retry"],
    maxAge: 600,
  })(c, next);
};
