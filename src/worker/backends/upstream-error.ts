/**
 * A failed LM or reward call as the caller sees it, in one place: said in the words of
 * what the gateway was doing ("sampling", "reading strong's hidden states"), blaming the
 * caller's own field. The request's own fault (UpstreamRefused: a prompt too long, a
 * character the model cannot take) stays a refusal, which the OpenAI SDKs do not retry;
 * a failing server stays Unavailable. Neither tells the server: internal URLs go to the
 * log only (`message`), the caller gets `reason`.
 */
import { printable } from "../../core/log.js";
import { UpstreamRefused, Unavailable, type UpstreamError } from "../../core/errors.js";

/**
 * `param`: the caller's field to blame by default; `passedOn`: fields the caller sent that
 * reached the server under the same name, so that when the server blames one of them the
 * caller is told that field instead.
 *
 * @example catch (e) { if (isUpstream(e)) throw upstreamError(e, "sampling", "prompt", ["max_tokens"]); throw e; }
 */
export function upstreamError(e: UpstreamError, what: string, param: string | null = null, passedOn: readonly string[] = []): UpstreamError {
  console.error(printable(`${what}: ${e.message}`));
  if (e instanceof UpstreamRefused) {
    const blamed = e.param !== null && passedOn.includes(e.param) ? e.param : param;
    return new UpstreamRefused({ message: `${what}: ${e.message}`, reason: `${what}: the model server refused the request: ${e.reason}`, upstreamStatus: e.upstreamStatus, param: blamed, cause: e });
  }
  return new Unavailable({ message: `${what}: ${e.message}`, reason: `${what}: ${e.reason}`, upstreamStatus: e.upstreamStatus, retryable: e.retryable, retryAfterMs: e.retryAfterMs, cause: e });
}
