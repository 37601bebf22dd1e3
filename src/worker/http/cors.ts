/**
 * CORS, off unless configured: CORS_ORIGINS is "*" or a comma-separated list of origins
 * allowed to call the API from a browser (the OpenAI-compatible routes, usage, batches).
 * Admin-only routes (/admin, /metrics, /dashboard) are never offered to browsers of other
 * origins. What a browser may send and read are allot's one list of headers (headers.ts).
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";
import { CORS_ALLOWED, CORS_EXPOSED } from "./headers.js";

/** Routes only an operator calls: no CORS headers, whatever CORS_ORIGINS says. */
export const ADMIN_ONLY = /^\/(admin|metrics|dashboard)(\/|$)/;

export const corsFromConfig: MiddlewareHandler<AppEnv> = async (c, next) => {
  const configured = settings(c.env).CORS_ORIGINS ?? [];
  if (configured.length === 0 || ADMIN_ONLY.test(c.req.path)) return next();
  return cors({
    origin: configured.includes("*") ? "*" : (origin) => (configured.includes(origin) ? origin : null),
    // The one list of allot's headers (headers.ts): what a browser may send, and read.
    allowHeaders: [...CORS_ALLOWED],
    exposeHeaders: [...CORS_EXPOSED],
    maxAge: 600,
  })(c, next);
};
