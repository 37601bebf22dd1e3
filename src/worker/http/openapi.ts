import type { z } from "@hono/zod-openapi";
import { ErrorEnvelopeSchema } from "./errors.js";

/** An OpenAPI response with a JSON body of `schema`. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** An OpenAPI error response: the error envelope. */
export const errorDoc = (description: string) => jsonResponse(ErrorEnvelopeSchema, description);

/**
 * The responses of an OpenAI-compatible online route: `schema` as JSON, or its chunks as
 * server-sent events with stream: true, and the errors a client must handle.
 */
export const onlineResponses = <T extends z.ZodType, S extends z.ZodType>(schema: T, chunks: S, what: string) => ({
  200: {
    description: `${what} (or, with stream: true, its chunks as text/event-stream).`,
    content: { "application/json": { schema }, "text/event-stream": { schema: chunks } },
  },
  400: errorDoc("Malformed request."),
  401: errorDoc("Missing or invalid API key."),
  429: errorDoc("Over budget (type budget_exceeded, naming the tenant and the window)."),
  502: errorDoc("The LM or the reward model failed."),
});
