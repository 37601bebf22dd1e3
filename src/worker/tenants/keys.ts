/** A tenant's API keys: only SHA-256 hashes are stored; a key is shown once, when issued. */
async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** Whether `secret` hashes to `stored`, in constant time; false (after the same work) when there is no hash. */
export async function matchesHash(stored: ArrayBuffer | undefined, secret: string): Promise<boolean> {
  const given = await sha256(secret);
  return crypto.subtle.timingSafeEqual(given, stored ?? new ArrayBuffer(32)) && stored !== undefined;
}

export class ApiKeys {
  constructor(
    private readonly sql: SqlStorage,
    private readonly randomHex: (bytes: number) => string,
  ) {}

  async issue(tenantId: string): Promise<{ id: string; key: string }> {
    const id = this.randomHex(4);
    const secret = this.randomHex(24);
    this.sql.exec("INSERT INTO api_key VALUES (?, ?, ?, NULL)", id, await sha256(secret), Date.now());
    return { id, key: `ak_${tenantId}_${id}_${secret}` };
  }

  revoke(id: string): boolean {
    return this.sql.exec("UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", Date.now(), id).rowsWritten > 0;
  }

  list(): { id: string; created_at: string; revoked_at: string | null }[] {
    return this.sql
      .exec<{ id: string; created_at: number; revoked_at: number | null }>("SELECT id, created_at, revoked_at FROM api_key ORDER BY created_at, id")
      .toArray()
      .map((k) => ({ id: k.id, created_at: new Date(k.created_at).toISOString(), revoked_at: k.revoked_at === null ? null : new Date(k.revoked_at).toISOString() }));
  }

  /** Whether `secret` is the live key `id`, compared in constant time (also when the id is unknown). */
  async check(id: string, secret: string): Promise<boolean> {
    const row = this.sql.exec<{ hash: ArrayBuffer }>("SELECT hash FROM api_key WHERE id = ? AND revoked_at IS NULL", id).toArray()[0];
    return matchesHash(row?.hash, secret);
  }

  /** The live keys' ids and hashes: what a budget shard checks keys against. */
  live(): { id: string; hash: ArrayBuffer }[] {
    return this.sql.exec<{ id: string; hash: ArrayBuffer }>("SELECT id, hash FROM api_key WHERE revoked_at IS NULL").toArray();
  }
}
