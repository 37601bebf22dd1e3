/**
 * The one place a failure becomes an HTTP response: a domain error (core/errors.ts) is
 * given its status, the envelope OpenAI's SDKs parse (type, message, param, code), and
 * headers that tell a client whether and when to retry. Handlers and objects throw domain
 * errors; `onError` calls errorResponse.
 *
 * | error            | status | type                  | code                                    |
 * |------------------|--------|-----------------------|-----------------------------------------|
 * | Invalid          | 400    | invalid_request_error | null                                    |
 * | UpstreamRefused  | 400    | invalid_request_error | context_length_exceeded, else null      |
 * | Unauthenticated  | 401    | authentication_error  | invalid_api_key for a wrong key, else null |
 * | NotFound         | 404    | not_found_error       | null; a model: invalid_request_error, model_not_found (as OpenAI) |
 * | Conflict         | 409    | invalid_request_error | null                                    |
 * | TooLarge         | 413    | invalid_request_error | null                                    |
 * | BudgetExceeded   | 429    | budget_exceeded       | insufficient_quota                      |
 * | TryLater         | 429    | rate_limit_error      | rate_limit_exceeded                     |
 * | Unavailable      | 502    | upstream_error        | null                                    |
 * | Misconfigured    | 503    | api_error             | null                                    |
 * | anything else    | 500    | api_error             | null                                    |
 *
 * Headers: `x-should-retry: false` for every error that is not retryable (the OpenAI SDKs
 * otherwise retry 429 and 5xx: a budget that is spent, a misconfigured gateway), and
 * `Retry-After` (seconds) wherever the error knows when a retry can help.
 */
import { printable } from "../../core/log.js";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import {
  AllotError,
  BudgetExceeded,
  Conflict,
  Invalid,
  Misconfigured,
  NotFound,
  TooLarge,
  TryLater,
  Unauthenticated,
  Unavailable,
  UpstreamRefused,
  revive,
} from "../../core/errors.js";
import { type ErrorEnvelope, ErrorEnvelopeSchema, envelope } from "../../core/contracts/errors.js";
import { noteFault } from "../backends/seen.js";

export { type ErrorEnvelope, ErrorEnvelopeSchema, envelope };

/** The error types allot answers with (the envelope's `type`); OpenAI SDKs read `type` and `code`. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "budget_exceeded"
  | "rate_limit_error"
  | "upstream_error"
  | "api_error";

/** An error as it leaves over HTTP. */
export interface HttpError {
  readonly status: ContentfulStatusCode;
  readonly body: ErrorEnvelope;
  readonly headers: Record<string, string>;
}

/** A model server's words for a prompt longer than its context (vLLM's, SGLang's, the reference LM's). */
const CONTEXT_LENGTH = /maximum context length|exceeds? the context/i;

/** Status, type and semantic code of a domain error. */
function classify(e: AllotError): { status: ContentfulStatusCode; type: ErrorType; code: string | null } {
  if (e instanceof UpstreamRefused) return { status: 400, type: "invalid_request_error", code: CONTEXT_LENGTH.test(e.reason) ? "context_length_exceeded" : null };
  if (e instanceof Invalid) return { status: 400, type: "invalid_request_error", code: null };
  if (e instanceof Unauthenticated) return { status: 401, type: "authentication_error", code: e.credential === "invalid" ? "invalid_api_key" : null };
  // OpenAI answers an unknown model with a 404 of type invalid_request_error; its SDKs raise NotFoundError on the status.
  if (e instanceof NotFound) return e.what === "model" ? { status: 404, type: "invalid_request_error", code: "model_not_found" } : { status: 404, type: "not_found_error", code: null };
  if (e instanceof Conflict) return { status: 409, type: "invalid_request_error", code: null };
  if (e instanceof TooLarge) return { status: 413, type: "invalid_request_error", code: null };
  if (e instanceof BudgetExceeded) return { status: 429, type: "budget_exceeded", code: "insufficient_quota" };
  if (e instanceof TryLater) return { status: 429, type: "rate_limit_error", code: "rate_limit_exceeded" };
  if (e instanceof Unavailable) return { status: 502, type: "upstream_error", code: null };
  if (e instanceof Misconfigured) return { status: 503, type: "api_error", code: null };
  return { status: 500, type: "api_error", code: null };
}

/**
 * How `err` leaves over HTTP: its status, envelope and headers. A domain error thrown by a
 * Durable Object is recognised (revive); Hono's own HTTPException (a body that is not
 * JSON) keeps its status and message; anything else is a 500 that says nothing of why.
 *
 * @example httpError(new NotFound({ what: "batch", message: "no batch b_1", param: "id" })).status // 404
 */
/**
 * An error of the platform that a retry cures: a Durable Object that was reset (a deploy,
 * an eviction) or is overloaded, which workerd marks `retryable` or `overloaded`, or a
 * connection to one that was lost. Answered as a retryable 502 (x-should-retry: true), never a 500.
 */
const PLATFORM_TRANSIENT = /Durable Object (reset|is overloaded)|abortAllDurableObjects|Network connection lost|disconnected|broken\.outputGateBroken/i;
function transientPlatform(e: unknown): Unavailable | null {
  if (!(e instanceof Error) || e instanceof AllotError) return null;
  const flags = e as { retryable?: unknown; overloaded?: unknown };
  if (flags.retryable !== true && flags.overloaded !== true && !PLATFORM_TRANSIENT.test(e.message)) return null;
  return new Unavailable({ message: `a gateway object failed transiently: ${e.message}`, reason: "the gateway was briefly unavailable (an object restarted); retry", retryable: true, retryAfterMs: 1000, cause: e });
}

export function httpError(err: unknown): HttpError {
  const e = transientPlatform(revive(err)) ?? revive(err);
  if (e instanceof AllotError) {
    const { status, type, code } = classify(e);
    const headers: Record<string, string> = {};
    // The OpenAI SDKs obey it over their own rule: no retry where none can help, a retry where one will.
    headers["x-should-retry"] = e.retryable ? "true" : "false";
    if (e.retryAfterMs !== null) headers["retry-after"] = String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
    return { status, body: envelope({ type, message: e.reason, param: e.param, code }), headers };
  }
  if (e instanceof HTTPException) {
    const status = e.status as ContentfulStatusCode;
    const type: ErrorType = status === 401 ? "authentication_error" : status < 500 ? "invalid_request_error" : "api_error";
    return { status, body: envelope({ type, message: e.message || "request failed" }), headers: {} };
  }
  return { status: 500, body: envelope({ type: "api_error", message: "internal error; the request was not completed" }), headers: {} };
}

/**
 * Maps anything thrown by a handler to the error envelope (the app's onError).
 *
 * @example app.onError(errorResponse)
 */
export function errorResponse(err: unknown, c: Context): Response {
  const out = httpError(err);
  // What the operator must act on goes to the log (a model server's failure is logged where it is put in context).
  if (out.status === 500) console.error(`unhandled error: ${printable(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
  else if (out.status === 503) {
    console.error(`misconfigured: ${printable((err as Error).message)}`);
    noteFault(revive(err));
  }
  return c.json(out.body, out.status, out.headers);
}
