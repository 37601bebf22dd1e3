/**
 * Response ids a tenant can be held to (docs/audits.md#feedback): the id's random part
 * followed by a tag, an HMAC of the tenant and the random part. POST /v1/feedback checks
 * the tag with the calling tenant, so it knows an id was given to that tenant without
 * storing every id (a hot tenant's requests settle at its budget shards, which fold them
 * into rollups: no id ever reaches the ledger). A made-up id, or another tenant's, fails
 * the check and is a 404 like an id never given.
 *
 * The prefixes are the ones OpenAI clients expect (chatcmpl-, cmpl-, resp_); what follows
 * is hex, so a resp_ id still names its Vault object and its items (contracts/responses.ts).
 */

/** The prefixes of the responses allot answers: chat completions, completions, the Responses API. */
export const RESPONSE_PREFIXES = ["chatcmpl-", "cmpl-", "resp_"] as const;
export type ResponsePrefix = (typeof RESPONSE_PREFIXES)[number];

/** Hex characters of the random part (16 bytes: ids never collide) and of the tag (8 bytes: a forged tag passes once in 2⁶⁴). */
const RANDOM_HEX = 32;
const TAG_HEX = 16;

/** A signed id: a prefix, then RANDOM_HEX + TAG_HEX hex characters. */
export const SIGNED_ID = new RegExp(`^(chatcmpl-|cmpl-|resp_)([0-9a-f]{${RANDOM_HEX}})([0-9a-f]{${TAG_HEX}})$`);

const enc = new TextEncoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Imported keys by secret: importKey is not free, and an isolate serves under one secret. */
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    if (keys.size > 4) keys.clear(); // a rotated secret: the old key goes
    k = crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, k);
  }
  return k;
}

/**
 * The tag of `prefix` + `random` for `tenant`. The prefix is signed too, so one response
 * has one id (feedback is counted once per id). The text signed starts with
 * "response-id\n", which no API key's text does (they start "ak_"), so a tag made here can
 * never pass as a key's.
 */
async function tagOf(secret: string, tenant: string, prefix: string, random: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await keyOf(secret), enc.encode(`response-id\n${tenant}\n${prefix}${random}`));
  return hex(new Uint8Array(mac).slice(0, TAG_HEX / 2));
}

/**
 * A new response id for `tenant`, signed with `secret`.
 *
 * @example await signedResponseId("s", "t_1", "chatcmpl-") // "chatcmpl-" and 48 hex characters
 */
export async function signedResponseId(secret: string, tenant: string, prefix: ResponsePrefix): Promise<string> {
  const random = hex(crypto.getRandomValues(new Uint8Array(RANDOM_HEX / 2)));
  return `${prefix}${random}${await tagOf(secret, tenant, prefix, random)}`;
}

/**
 * The signed id of a batch's answer: the same for every read of the batch's results or
 * output file (they are written from its rows on each read, so the id cannot be random),
 * and one per answer. Its random part is a hash of `answer` (the batch and the prompt's
 * custom id), so it says nothing of the batch to whoever reads it; its tag is signed as an
 * online id's, so POST /v1/feedback takes it alike.
 *
 * @example await batchResponseId("s", "t_1", "chatcmpl-", "b_0f…/q1") // the same on every call
 */
export async function batchResponseId(secret: string, tenant: string, prefix: ResponsePrefix, answer: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", enc.encode(`batch-answer\n${tenant}\n${answer}`));
  const random = hex(new Uint8Array(digest).slice(0, RANDOM_HEX / 2));
  return `${prefix}${random}${await tagOf(secret, tenant, prefix, random)}`;
}

/**
 * Whether `id` was made by signedResponseId (or batchResponseId) for `tenant` under `secret` (the tag compared
 * in constant time). False for any other text: another tenant's id, a forged or altered
 * one (its prefix too), an id made under another secret, or one of the unsigned ids made before.
 *
 * @example await givenTo("s", "t_1", await signedResponseId("s", "t_1", "resp_")) // true
 * @example await givenTo("s", "t_2", await signedResponseId("s", "t_1", "resp_")) // false
 */
export async function givenTo(secret: string, tenant: string, id: string): Promise<boolean> {
  const m = SIGNED_ID.exec(id);
  if (!m) return false;
  const want = enc.encode(await tagOf(secret, tenant, m[1], m[2]));
  const got = enc.encode(m[3]);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Workers' crypto.subtle.timingSafeEqual where it exists (workerd), else a constant-time loop (Node, for the CLI and tests). */
function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (a: ArrayBufferView, b: ArrayBufferView) => boolean };
  if (subtle.timingSafeEqual) return subtle.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
