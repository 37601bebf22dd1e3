import type { Env } from "../env.js";

/** The ledger Durable Object of a tenant. */
export const tenantLedger = (env: Env, tenant: string) => env.TENANTS.get(env.TENANTS.idFromName(tenant));

/** `bytes` random bytes as lowercase hex: ids for tenants, keys, batches and reservations. */
export const randomHex = (bytes: number): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
