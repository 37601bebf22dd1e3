/**
 * API keys carry a tag, an HMAC of the rest under the API_KEY_SECRET secret, checked in
 * the Worker before any Durable Object is touched: a made-up key, however well-formed,
 * costs one HMAC and creates nothing (without the tag, every guess would instantiate a
 * tenant's ledger). The ledger still holds each key's hash, so revocation is immediate.
 * A leaked API_KEY_SECRET yields no usable key (the random part is still needed); rotating
 * it invalidates every key issued under it.
 */
import { Misconfigured } from "../../core/errors.js";

const enc = new TextEncoder();

/** API_KEY_SECRET, which also signs response ids (response-id.ts); without it, API keys are disabled. */
export function signingSecret(secret: string | undefined): string {
  if (!secret) throw new Misconfigured({ setting: "API_KEY_SECRET", message: "API keys are disabled: set the API_KEY_SECRET secret (`.dev.vars` when running locally)" });
  return secret;
}

async function hmac(secret: string, text: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The tag of `ak_<tenant>_<key id>_<secret>`: 16 bytes of its HMAC, as hex. */
export async function keyTag(secret: string | undefined, untagged: string): Promise<string> {
  return hex((await hmac(signingSecret(secret), untagged)).slice(0, 16));
}

/** Whether `tag` is `untagged`'s, compared in constant time. */
export async function tagMatches(secret: string | undefined, untagged: string, tag: string): Promise<boolean> {
  const want = enc.encode(await keyTag(secret, untagged));
  const got = enc.encode(tag);
  return want.length === got.length && crypto.subtle.timingSafeEqual(want, got);
}
