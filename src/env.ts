import type { TenantLedger } from "./tenants/ledger.js";

/** Bindings and variables the Worker sees (wrangler.toml, secrets, .dev.vars locally). */
export interface Env {
  readonly ALLOT_VERSION?: string;
  /** Guards /admin routes. A Worker secret; `.dev.vars` locally. */
  readonly ADMIN_TOKEN?: string;
  readonly TENANTS: DurableObjectNamespace<TenantLedger>;
}

export type AppEnv = { Bindings: Env; Variables: { tenant: string } };
