import type { BatchRun } from "./batches/run.js";
import type { BatchShard } from "./batches/shard.js";
import type { BudgetShard } from "./tenants/budget-shard.js";
import type { TenantDirectory } from "./tenants/directory.js";
import type { TenantLedger } from "./tenants/ledger.js";

/** Bindings and variables the Worker sees (wrangler.toml, secrets, .dev.vars locally). */
export interface Env {
  readonly ALLOT_VERSION?: string;
  /** Guards /admin routes. A Worker secret; `.dev.vars` locally. */
  readonly ADMIN_TOKEN?: string;
  /** Signs API keys (their tag), so a made-up key is refused before any Durable Object. A Worker secret. */
  readonly API_KEY_SECRET?: string;
  /** Failed authentications per client address (wrangler.toml [[ratelimits]]); absent: not throttled. */
  readonly AUTH_FAILURES?: RateLimit;
  /** /v1/allocate requests that predict (prompt or hidden queries) per tenant; absent: not limited. */
  readonly PREDICTIONS?: RateLimit;
  /** Browser origins allowed to call the API ("*" or a comma-separated list); CORS is off when unset. */
  readonly CORS_ORIGINS?: string;
  readonly TENANTS: DurableObjectNamespace<TenantLedger>;
  /** A hot tenant's budget shards (its online settings' `shards`), named "<tenant>/<k>". */
  readonly BUDGET_SHARDS: DurableObjectNamespace<BudgetShard>;
  /** The list of tenants (one object), for the console and /metrics. */
  readonly TENANT_DIRECTORY: DurableObjectNamespace<TenantDirectory>;
  readonly BATCHES: DurableObjectNamespace<BatchRun>;
  readonly BATCH_SHARDS: DurableObjectNamespace<BatchShard>;
  /** The LM server (vLLM, SGLang, or the reference LM): base URL, model, key, hidden-state protocol. */
  readonly LM_URL?: string;
  readonly LM_MODEL?: string;
  readonly LM_API_KEY?: string;
  /**
   * Models served elsewhere than LM_URL, e.g. "weak=http://10.0.0.5:8000,strong=http://10.0.0.6:8000":
   * a vLLM or SGLang server serves one model, and routing needs several.
   */
  readonly LM_URLS?: string;
  readonly HIDDEN_STATES?: string;
  /** Where hidden states come from when not where completions are served (a vLLM pooling instance). */
  readonly HIDDEN_STATES_URL?: string;
  /** Per model, as LM_URLS: "strong=http://10.0.0.7:8000,weak=http://10.0.0.8:8000". */
  readonly HIDDEN_STATES_URLS?: string;
  /** Per-request timeout (ms) and attempts for LM and reward calls; retries back off. */
  readonly LM_TIMEOUT_MS?: string;
  readonly LM_ATTEMPTS?: string;
  readonly COMPLETIONS?: string;
  /** The reward model (a verifier or reward-model server); defaults to the LM server. */
  readonly REWARD_URL?: string;
  readonly REWARD_MODEL?: string;
  readonly REWARD_API_KEY?: string;
  readonly REWARDS?: string;
  /** Published predictors (`allot publish`); optional: without it only the shipped ones exist. */
  readonly PREDICTORS?: R2Bucket;
  /** How long an online request's reservation lives if never settled (default 300 s): a crashed gateway frees it then. */
  readonly ONLINE_LEASE_SECONDS?: string;
  /** How long a batch's reservation and slot live unless the batch renews them (default 900 s); it renews at every step. */
  readonly BATCH_LEASE_SECONDS?: string;
  /** Batches wait out outages: first retry after BATCH_RETRY_BASE_MS (15000), doubling; BATCH_PROMPT_ATTEMPTS (8) per prompt; BATCH_DEADLINE_SECONDS (86400). */
  readonly BATCH_RETRY_BASE_MS?: string;
  readonly BATCH_PROMPT_ATTEMPTS?: string;
  readonly BATCH_DEADLINE_SECONDS?: string;
  /** Prompts predicted per alarm (default 64, fewer past width 4,096: a page's hidden states at most 2¹⁸ values). */
  readonly BATCH_PREDICT_PAGE?: string;
  /** A batch draws with one shard object per this many prompts (default 2000), up to LM_MAX_IN_FLIGHT / 6 shards. */
  readonly BATCH_SHARD_PROMPTS?: string;
  /** LM requests one batch may have in flight across its shards (default 96): what protects the GPU servers. */
  readonly LM_MAX_IN_FLIGHT?: string;
  /** How often a sharded batch wakes its shards in case one lost its alarm (default 30000). */
  readonly BATCH_WATCHDOG_MS?: string;
  /** Finished batches and their results are deleted this long after they end (default 7 days). */
  readonly BATCH_RETENTION_SECONDS?: string;
  /** How often a budget shard reports to its tenant's ledger while it serves (default 1000 ms): how stale its keys, price and settings may be. */
  readonly LEDGER_REPORT_MS?: string;
  /** How long an isolate remembers how many budget shards a tenant has (default 10 s): a change of `shards` reaches every isolate within it. */
  readonly SHARD_ROUTE_SECONDS?: string;
  /** How long an isolate reuses its list of published predictors (default 30 s). */
  readonly PREDICTOR_CACHE_SECONDS?: string;
}

export type AppEnv = { Bindings: Env; Variables: { tenant: string; home: import("./tenants/account.js").BudgetHome } };
