/**
 * Every response carries `x-request-id`: Cloudflare's ray id where there is one, else a
 * fresh UUID. The OpenAI SDKs keep it on their errors (`error.request_id`), so a client's
 * report names the request an operator can find in the logs.
 */
import type { MiddlewareHandler } from "hono";

export const requestId: MiddlewareHandler = async (c, next) => {
  const id = c.req.header("cf-ray") ?? crypto.randomUUID();
  c.header("x-request-id", id);
  await next();
  // Responses made without Hono's context (a stream, an error response) get it too.
  if (!c.res.headers.has("x-request-id")) {
    try {
      c.res.headers.set("x-request-id", id);
    } catch {
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set("x-request-id", id);
    }
  }
};
