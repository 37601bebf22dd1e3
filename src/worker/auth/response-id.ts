/**
 * Response ids signed for the tenant they are given to (core/feedback/response-id.ts),
 * under API_KEY_SECRET: the secret every tenant request already depends on, so a
 * deployment has no second one to manage. Rotating it makes the ids given before unknown
 * to POST /v1/feedback (as it revokes every key).
 */
import { type ResponsePrefix, batchResponseId, givenTo, signedResponseId } from "../../core/feedback/response-id.js";
import type { Env } from "../env.js";
import { signingSecret } from "./key-tag.js";

/** A new response id for `tenant`. */
export const newResponseId = (env: Env, tenant: string, prefix: ResponsePrefix): Promise<string> => signedResponseId(signingSecret(env.API_KEY_SECRET), tenant, prefix);

/** The id of batch `batch`'s answer to its prompt `customId`: the same on every read (core batchResponseId). */
export const batchAnswerId = (env: Env, tenant: string, prefix: ResponsePrefix, batch: string, customId: string): Promise<string> =>
  batchResponseId(signingSecret(env.API_KEY_SECRET), tenant, prefix, `${batch}\n${customId}`);

/** Whether `id` was given to `tenant` (by newResponseId, under the secret now set). */
export const responseGivenTo = (env: Env, tenant: string, id: string): Promise<boolean> => givenTo(signingSecret(env.API_KEY_SECRET), tenant, id);
