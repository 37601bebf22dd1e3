/** Constant-time comparison of two strings (by their SHA-256 digests, so lengths do not leak). */
export async function sameSecret(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([crypto.subtle.digest("SHA-256", enc.encode(a)), crypto.subtle.digest("SHA-256", enc.encode(b))]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1] : null;
}

/** An API key is `ak_<tenant>_<key id>_<secret>_<tag>`: the tenant id routes it to its ledger, the tag (key-tag.ts) vouches for it first. */
export function parseApiKey(key: string): { tenant: string; keyId: string; secret: string; untagged: string; tag: string } | null {
  const m = /^(ak_([0-9a-f]{16})_([0-9a-f]{8})_([0-9a-f]{48}))_([0-9a-f]{32})$/.exec(key);
  return m ? { untagged: m[1], tenant: m[2], keyId: m[3], secret: m[4], tag: m[5] } : null;
}
