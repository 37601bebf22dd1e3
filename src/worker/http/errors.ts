import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { AllocationError } from "../../core/allocation/errors.js";
import { type ErrorEnvelope, ErrorEnvelopeSchema, envelope } from "../../core/contracts/errors.js";

export { type ErrorEnvelope, ErrorEnvelopeSchema, envelope };

/** The error types allot answers with; OpenAI SDKs read `type` and `code`. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "budget_exceeded"
  | "rate_limit_error"
  | "upstream_error"
  | "api_error";


/**
 * A failure that becomes an HTTP response in one place (`onError`), never in handlers.
 *
 * @example throw new ApiError(404, "not_found_error", "no batch b_123")
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: ErrorType,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
    /** OpenAI's machine-readable code where it has one (e.g. "model_not_found"); else the status. */
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}


/** Maps anything thrown by a handler to the error envelope. */
export function errorResponse(err: unknown, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(envelope(err.status, err.type, err.message, err.param, err.code), err.status, err.headers);
  }
  if (err instanceof AllocationError) {
    return c.json(envelope(400, "invalid_request_error", err.message, err.param), 400);
  }
  if (err instanceof HTTPException) {
    // Hono's own 4xx (e.g. a body that is not JSON) keeps its status and message.
    const status = err.status as ContentfulStatusCode;
    const type = status === 401 ? "authentication_error" : status < 500 ? "invalid_request_error" : "api_error";
    return c.json(envelope(status, type, err.message || "request failed"), status);
  }
  console.error("unhandled error", err);
  return c.json(envelope(500, "api_error", "internal error; the request was not completed"), 500);
}
