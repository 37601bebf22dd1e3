import type { z } from "@hono/zod-openapi";
import { ErrorEnvelopeSchema } from "./errors.js";

/** An OpenAPI response with a JSON body of `schema`. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** An OpenAPI error response: the error envelope. */
export const errorDoc = (description: string) => jsonResponse(ErrorEnvelopeSchema, description);
