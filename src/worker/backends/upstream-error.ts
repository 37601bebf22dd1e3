/**
 * A failed LM or reward call as the caller sees it, in one place: the request's own
 * fault (the server refused it with a 4xx: a prompt too long, a character the model
 * cannot take) is a 400 with the server's reason, which the OpenAI SDKs do not retry;
 * anything else is a 502. Neither names the server: internal URLs go to the log only.
 */
import { ApiError } from "../http/errors.js";
import type { BackendError } from "../../core/lm/http.js";

/**
 * `param`: the caller's field to blame by default; `passedOn`: fields the caller sent that
 * reached the server under the same name, so that when the server blames one of them the
 * caller is told that field instead.
 */
export function upstreamError(e: BackendError, what: string, param: string | null = null, passedOn: readonly string[] = []): ApiError {
  console.error(`${what}: ${e.message}`);
  const blamed = e.param !== null && passedOn.includes(e.param) ? e.param : param;
  if (e.rejected) return new ApiError(400, "invalid_request_error", `${what}: the model server refused the request: ${e.reason}`, blamed);
  return new ApiError(502, "upstream_error", `${what}: ${e.reason}`);
}
