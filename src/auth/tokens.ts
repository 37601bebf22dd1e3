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

/** An API key is `ak_<tenant>_<key id>_<secret>`: the tenant id routes it to its ledger. */
export function parseApiKey(key: string): { tenant: string; keyId: string; secret: string } | null {
  const m = /^ak_([0-9a-f]{16})_([0-9a-f]{8})_([0-9a-f]{48})$/.exec(key);
  return m ? { tenant: m[1], keyId: m[2], secret: m[3] } : null;
}
