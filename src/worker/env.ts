import type { BatchRun } from "./batches/run.js";
import type { BatchShard } from "./batches/shard.js";
import type { BudgetShard } from "./tenants/budget-shard.js";
import type { TenantDirectory } from "./tenants/directory.js";
import type { TenantLedger } from "./tenants/ledger.js";
import type { Vault } from "./storage/vault.js";

import type { SettingName } from "../core/config/settings.js";

/**
 * The vars and secrets, as text, under the names of the settings table
 * (core/config/settings.ts, which says what each does; docs/configuration.md). Read them
 * through `settings(env)` (config.ts), never here.
 */
export type Vars = { readonly [K in SettingName]?: string };

/** Bindings and variables the Worker sees (wrangler.toml, secrets, .dev.vars locally). */
export interface Env extends Vars {
  /** Failed authentications per client address (wrangler.toml [[ratelimits]]); absent: not throttled. */
  readonly AUTH_FAILURES?: RateLimit;
  /** /v1/allocate requests that predict (prompt or hidden queries) per tenant; absent: not limited. */
  readonly PREDICTIONS?: RateLimit;
  readonly TENANTS: DurableObjectNamespace<TenantLedger>;
  /** A hot tenant's budget shards (its online settings' `shards`), named "<tenant>/<k>". */
  readonly BUDGET_SHARDS: DurableObjectNamespace<BudgetShard>;
  /** The list of tenants (one object), for the console and /metrics. */
  readonly TENANT_DIRECTORY: DurableObjectNamespace<TenantDirectory>;
  readonly BATCHES: DurableObjectNamespace<BatchRun>;
  readonly BATCH_SHARDS: DurableObjectNamespace<BatchShard>;
  /** Stored responses, uploaded files and OpenAI-shaped batches: one object per id (storage/vault.ts). */
  readonly VAULT: DurableObjectNamespace<Vault>;
  /** Published predictors (`allot publish`); optional: without it only the shipped ones exist. */
  readonly PREDICTORS?: R2Bucket;
}

export type AppEnv = { Bindings: Env; Variables: { tenant: string; home: import("./tenants/account.js").BudgetHome; tally: import("./online/unbegun.js").OnlineTally } };
