/** The error envelope every allot error answers with: the shape OpenAI's SDKs parse. */
import { z } from "@hono/zod-openapi";

export const ErrorEnvelopeSchema = z
  .object({
    error: z.object({
      type: z.string().describe("What kind of failure: invalid_request_error, authentication_error, not_found_error, budget_exceeded, rate_limit_error, upstream_error or api_error."),
      message: z.string(),
      param: z.string().nullable().describe("The request field to blame, when there is one."),
      code: z
        .string()
        .nullable()
        .describe("OpenAI's semantic code where one exists (model_not_found, context_length_exceeded, rate_limit_exceeded, invalid_api_key, insufficient_quota), else null."),
    }),
  })
  .openapi("Error");

export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/**
 * An error body; `param` and `code` default to null.
 *
 * @example envelope({ type: "not_found_error", message: "no batch b_1", param: "id" })
 */
export function envelope(e: { type: string; message: string; param?: string | null; code?: string | null }): ErrorEnvelope {
  return { error: { type: e.type, message: e.message, param: e.param ?? null, code: e.code ?? null } };
}
