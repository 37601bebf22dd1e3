/**
 * A batch's answers carry response ids signed for the tenant as online answers' are
 * (auth/response-id.ts), so POST /v1/feedback takes them alike (docs/audits.md#feedback).
 * One id per answer, the same in allot's results and in the OpenAI output file, whatever
 * the number of reads: the prefix is the batch's endpoint's (chatcmpl-, cmpl-, resp_; a
 * batch of allot's own is of completions), the rest derived from the batch and the prompt.
 */
import type { BatchResult } from "../../core/contracts/batches.js";
import type { ResponsePrefix } from "../../core/feedback/response-id.js";
import { batchAnswerId } from "../auth/response-id.js";
import type { Env } from "../env.js";

/** The prefix of a batch's answer ids: its OpenAI endpoint's, or cmpl- for a batch of allot's own (prompts completed). */
export function answerPrefix(endpoint: string | null): ResponsePrefix {
  if (endpoint === "/v1/chat/completions") return "chatcmpl-";
  if (endpoint === "/v1/responses") return "resp_";
  return "cmpl-";
}

/** allot's results with each answered prompt's response id (`response_id`; null for a prompt that failed: no answer to rate). */
export function withAnswerIds(env: Env, tenant: string, batch: string, prefix: ResponsePrefix, results: readonly BatchResult[]): Promise<BatchResult[]> {
  return Promise.all(results.map(async (r) => ({ ...r, response_id: r.status === "done" ? await batchAnswerId(env, tenant, prefix, batch, r.id) : null })));
}
