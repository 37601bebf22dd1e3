/** The error envelope every allot error answers with: the shape OpenAI's SDKs parse. */
import { z } from "@hono/zod-openapi";

export const ErrorEnvelopeSchema = z
  .object({
    error: z.object({
      type: z.string(),
      message: z.string(),
      param: z.string().nullable(),
      code: z.string().describe("The HTTP status, as a string, or OpenAI's code where it has one (model_not_found)."),
    }),
  })
  .openapi("Error");

export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

export function envelope(status: number, type: string, message: string, param: string | null = null, code: string | null = null): ErrorEnvelope {
  return { error: { type, message, param, code: code ?? String(status) } };
}
