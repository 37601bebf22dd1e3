/**
 * Every setting of the gateway, in one table: the Worker's vars and secrets (wrangler.toml
 * [vars], `wrangler secret put`, `.dev.vars` locally), not its bindings (Durable Object
 * namespaces, the R2 bucket, rate limiters). Each says how its text is read and bounded,
 * its default, its unit and what it does; the types the code sees come from the schemas,
 * and docs/configuration.md is generated from this table (`npm run docs:config`).
 *
 * One policy everywhere: values arrive as text; unset or empty means the default; anything
 * else that does not read as the setting's format is an error that names the setting and
 * says what it must be (Misconfigured: a 503 `x-should-retry: false`), never a silent
 * fallback to the default.
 */
import { z } from "zod";
import { COMPLETIONS_BACKENDS } from "../backends/completions.js";
import { HIDDEN_STATE_BACKENDS } from "../backends/hidden-states.js";
import { REWARD_BACKENDS, type RewardLabel, parseLabel } from "../backends/rewards.js";
import { type ThinkingModel, ThinkingModelSchema } from "../backends/thinking.js";
import { Misconfigured } from "../errors.js";
import { defaultRetryPolicy } from "../lm/http.js";

/** How a setting's text is read: its schema, and in words what it must be (for errors and the docs). */
export interface Format<T> {
  readonly schema: z.ZodType<T, string>;
  readonly must: string;
  /** Whether an error may repeat the value it got (not for URLs, which are internal addresses). */
  readonly echo: boolean;
}

/** A format from its schema: the value's type is the schema's output (z.infer). */
const format = <T>(schema: z.ZodType<T, string>, must: string, echo = true): Format<T> => ({ schema, must, echo });

/** An integer ≥ `min`. */
const integer = (min: number) =>
  format(
    z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(Number.MAX_SAFE_INTEGER)),
    `an integer ≥ ${min}`,
  );

/** A decimal number ≥ `min` (a fraction of a unit). */
const decimal = (min: number) =>
  format(
    z.string().regex(/^\d+(\.\d+)?$/).transform(Number).pipe(z.number().min(min).max(1e6)),
    `a number ≥ ${min}`,
  );

/** A fraction: a decimal number from 0 to 1. */
const fraction = format(
  z.string().regex(/^\d+(\.\d+)?$/).transform(Number).pipe(z.number().min(0).max(1)),
  "a number from 0 to 1",
);

/** An http(s) URL (`new URL` alone would take "host:8000" as a scheme), without trailing slashes. */
const isHttpUrl = (text: string): boolean => {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol);
  } catch {
    return false;
  }
};
const url = format(z.string().refine(isHttpUrl).transform((u) => u.replace(/\/+$/, "")), "an http(s) URL", false);

/** "model=url,model=url": the server of each model named. */
const modelUrls = format(
  z.string().transform((text, ctx) => {
    const urls = new Map<string, string>();
    for (const part of text.split(",").filter((x) => x.trim() !== "")) {
      const eq = part.indexOf("=");
      const model = part.slice(0, eq).trim();
      const address = part.slice(eq + 1).trim();
      if (eq <= 0 || !isHttpUrl(address)) {
        ctx.addIssue({ code: "custom", message: "not model=url" });
        return z.NEVER;
      }
      urls.set(model, address.replace(/\/+$/, ""));
    }
    return urls as ReadonlyMap<string, string>;
  }),
  'model=url pairs separated by commas ("weak=http://weak-lm:8000,strong=http://strong-lm:8000")',
  false,
);

/** Model names or patterns (* for any characters), separated by commas. */
const modelPatterns = format(
  z
    .string()
    .transform((list) => list.split(",").map((m) => m.trim()).filter((m) => m !== ""))
    .refine((list) => list.length > 0 && list.every((m) => /^[^\s]+$/.test(m)))
    .transform((list) => list.map((m) => new RegExp(`^${m.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`)) as readonly RegExp[]),
  'model names separated by commas, * matching any characters ("Qwen/Qwen3-8B,fault-*")',
);

/** One of a table's keys (a protocol). */
const oneOf = (table: Record<string, unknown>) => {
  const names = Object.keys(table);
  return format(z.string().refine((name) => names.includes(name)), `one of ${names.join(", ")}`);
};

/** Text (a model's name). */
const text = format(z.string(), "text");

/** A reward model's label: an index (negative from the end) or a name as its config's id2label names it. */
const label = format<RewardLabel>(
  z.string().regex(/^(-?\d{1,3}|[\w .:/-]{1,64})$/).transform(parseLabel),
  'a label index (0, 1, …; -1 is the last) or a label name (the model\'s id2label, e.g. "LABEL_1")',
);

/**
 * The models that think, as JSON: per model, how its server takes a thinking budget
 * (core/backends/thinking.ts) and what a unit of compute is in its tokens.
 */
const thinkingModels = format(
  z.string().transform((text, ctx) => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: "custom", message: "not JSON" });
      return z.NEVER;
    }
    const parsed = z.record(z.string().min(1), ThinkingModelSchema).safeParse(json);
    if (!parsed.success) {
      ctx.addIssue({ code: "custom", message: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
      return z.NEVER;
    }
    return new Map(Object.entries(parsed.data)) as ReadonlyMap<string, ThinkingModel>;
  }),
  'JSON: {"<model>": {"backend": {"kind": "vllm" | "sglang" | "reasoning-effort" | "budget-forcing", …}, "tokens_per_unit": 16}} (docs/thinking.md)',
);

/** "*" or browser origins (scheme://host[:port]), separated by commas. */
const origins = format(
  z
    .string()
    .transform((list) => list.split(",").map((o) => o.trim()).filter((o) => o !== ""))
    .refine((list) => list.every((o) => o === "*" || (isHttpUrl(o) && new URL(o).origin === o))),
  '"*" or origins separated by commas ("https://app.example,https://other.example")',
);

/** The part of the deployment a setting belongs to (a section of the docs). */
export type Area = "LM servers" | "hidden states" | "rewards" | "access" | "online requests" | "OpenAI API" | "batches" | "predictors";

export interface Setting<T> {
  readonly area: Area;
  readonly format: Format<T>;
  /** The default, as text read like a set value; absent: unset means what `unset` says. */
  readonly default?: string;
  /** What leaving it unset means, when it has no default. */
  readonly unset?: string;
  readonly unit?: "ms" | "seconds" | "prompts" | "requests" | "attempts" | "units" | "bytes";
  /** One line: what it does. */
  readonly description: string;
  /** A secret (`wrangler secret put`): never echoed, never in wrangler.toml. */
  readonly secret?: boolean;
}

/** A table row; `D` records at the type level whether it has a default (then its value is never undefined). */
const setting = <T, const D extends string | undefined = undefined>(s: Omit<Setting<T>, "default"> & { readonly default?: D }) => s as Setting<T> & { readonly default: D };

export const SETTINGS = {
  // ---- LM servers
  LM_URL: setting({ area: "LM servers", format: url, unset: "required for prompts, sampling and batches", description: "Base URL of the LM server (vLLM, SGLang, the reference LM) that serves models LM_URLS does not name." }),
  LM_MODEL: setting({ area: "LM servers", format: text, default: "strong", description: "The LM a request that names no model means." }),
  LM_API_KEY: setting({ area: "LM servers", format: text, secret: true, unset: "no key sent", description: "Bearer key sent to the LM servers." }),
  LM_MODELS: setting({ area: "LM servers", format: modelPatterns, unset: "only models with a predictor or router, LM_MODEL and LM_URLS's", description: "Further models the LM servers serve that clients may name without a predictor (pinned or greedy requests, uniform batches): names separated by commas, * matching any characters. Any other model is a 404 model_not_found before any LM call." }),
  LM_URLS: setting({ area: "LM servers", format: modelUrls, unset: "every model at LM_URL", description: "Models served elsewhere than LM_URL: one vLLM or SGLang server serves one model, and routing needs several." }),
  COMPLETIONS: setting({ area: "LM servers", format: oneOf(COMPLETIONS_BACKENDS), default: "openai", description: "The protocol samples are drawn with." }),
  LM_TIMEOUT_MS: setting({ area: "LM servers", format: integer(1), default: String(defaultRetryPolicy.timeoutMs), unit: "ms", description: "Each LM and reward call gives up after this long (and is tried again)." }),
  LM_ATTEMPTS: setting({ area: "LM servers", format: integer(1), default: String(defaultRetryPolicy.attempts), unit: "attempts", description: "Tries of each LM and reward call in all, backing off and honouring Retry-After." }),
  LM_MAX_IN_FLIGHT: setting({ area: "LM servers", format: integer(1), default: "96", unit: "requests", description: "LM requests one batch may have in flight across its shards: what protects the GPU servers." }),
  THINKING_MODELS: setting({ area: "LM servers", format: thinkingModels, unset: "no model thinks: no thinking budget is sent, and every sample costs its model's units", description: "Models whose thinking allot budgets per prompt: how each model's server takes a thinking budget (vllm: thinking_token_budget; sglang: its thinking-budget logit processor; reasoning-effort: the nearest level; budget-forcing: two /v1/completions calls), and tokens_per_unit, what one unit of a tenant's budget buys in that model's generated tokens (default: its predictor's manifest). Its samples are charged by the tokens they generate (docs/thinking.md)." }),
  // ---- hidden states
  HIDDEN_STATES: setting({ area: "hidden states", format: oneOf(HIDDEN_STATE_BACKENDS), default: "vllm-pooling", description: "The protocol hidden states are read with (the predictors' input)." }),
  HIDDEN_STATES_URL: setting({ area: "hidden states", format: url, unset: "none: required for predictions (a vLLM instance generates or pools, never both, so LM_URL is no default)", description: "Where hidden states come from: a vLLM pooling instance of the LM's weights, served under the LM's name; for SGLang a server that serves hidden states only." }),
  HIDDEN_STATES_URLS: setting({ area: "hidden states", format: modelUrls, unset: "HIDDEN_STATES_URL for every model", description: "Per model, as LM_URLS: the pooling server of each model named." }),
  // ---- rewards
  REWARD_URL: setting({ area: "rewards", format: url, unset: "none: required for sampling (a generate instance serves no reward model)", description: "The reward model's or verifier's server." }),
  REWARD_MODEL: setting({ area: "rewards", format: text, unset: "none: required for sampling", description: "The reward model that scores samples, as its server names it (GET /v1/models)." }),
  REWARD_LABEL: setting({ area: "rewards", format: label, unset: "the last label: the only one of a one-label reward model, \"good\" of a [bad, good] classifier", description: "Which of the reward model's labels is the reward (`allot doctor` checks that a right answer scores above a wrong one)." }),
  REWARD_API_KEY: setting({ area: "rewards", format: text, secret: true, unset: "LM_API_KEY", description: "Bearer key sent to the reward server." }),
  REWARDS: setting({ area: "rewards", format: oneOf(REWARD_BACKENDS), default: "vllm-pooling", description: "The protocol samples are scored with." }),
  // ---- access
  ADMIN_TOKEN: setting({ area: "access", format: text, secret: true, unset: "admin routes disabled", description: "Guards /admin routes (Authorization: Bearer <ADMIN_TOKEN>)." }),
  API_KEY_SECRET: setting({ area: "access", format: text, secret: true, unset: "API keys disabled", description: "Signs API keys (their tag), so a made-up key is refused before any Durable Object, and response ids (for POST /v1/feedback); rotating it revokes every key, and feedback is refused on responses given before." }),
  CORS_ORIGINS: setting({ area: "access", format: origins, unset: "CORS off", description: "Browser origins allowed to call the API (never the admin routes)." }),
  // ---- online requests
  ONLINE_LEASE_SECONDS: setting({ area: "online requests", format: integer(3), default: "30", unit: "seconds", description: "How long an online request's reservation (or a budget shard's block) lives unless renewed: a request renews it every third of this while it works, so a crashed gateway's units come back within it." }),
  ONLINE_WAIT_MS: setting({ area: "online requests", format: integer(0), default: "2000", unit: "ms", description: "How long a request whose minimum is held by requests in flight waits for units to come back before it is told to retry (429 rate_limit_exceeded with Retry-After)." }),
  PREFILL_UNITS: setting({ area: "online requests", format: decimal(0), default: "0.1", unit: "units", description: "What reading one prompt's hidden state (a prefill on the LM) costs, in units (a unit is one sample): charged to the tenant's budget online, in batches and by /v1/allocate." }),
  AUDIT_RATE: setting({ area: "online requests", format: fraction, default: "0.05", description: "The share of online requests audited (every sample of max_units drawn and scored after the answer, for an unbiased saving: docs/audits.md) for a tenant whose online settings do not set audit_rate. The extra samples are the deployment's cost, never charged to the tenant. 0: none." }),
  LEDGER_REPORT_MS: setting({ area: "online requests", format: integer(1), default: "1000", unit: "ms", description: "How often a budget shard reports to its tenant's ledger while it serves: how stale its keys, price and settings may be." }),
  SHARD_ROUTE_SECONDS: setting({ area: "online requests", format: integer(0), default: "10", unit: "seconds", description: "How long an isolate remembers how many budget shards a tenant has (0: asks the ledger every time)." }),
  // ---- batches
  BATCH_LEASE_SECONDS: setting({ area: "batches", format: integer(1), default: "900", unit: "seconds", description: "How long a batch's reservation and slot live unless the batch renews them; it renews at every step." }),
  BATCH_RETRY_BASE_MS: setting({ area: "batches", format: integer(1), default: "15000", unit: "ms", description: "First wait after a failed step or prompt; doubles each time, up to a third of BATCH_LEASE_SECONDS." }),
  BATCH_PROMPT_ATTEMPTS: setting({ area: "batches", format: integer(1), default: "8", unit: "attempts", description: "Attempts per prompt (each of them LM_ATTEMPTS calls) and per step before a transient failure is final." }),
  BATCH_DEADLINE_SECONDS: setting({ area: "batches", format: integer(1), default: "86400", unit: "seconds", description: "A batch not done by then fails, charging what it delivered." }),
  BATCH_RETENTION_SECONDS: setting({ area: "batches", format: integer(1), default: "604800", unit: "seconds", description: "Ended batches, their results and their place in the tenant's list are deleted this long after they end (7 days)." }),
  BATCH_WATCHDOG_MS: setting({ area: "batches", format: integer(1), default: "30000", unit: "ms", description: "How often a sharded batch wakes its shards in case one lost its alarm." }),
  BATCH_PREDICT_PAGE: setting({ area: "batches", format: integer(1), unit: "prompts", unset: "64, fewer past a width of 4,096 (a page's hidden states at most 2¹⁸ values)", description: "Prompts predicted per alarm." }),
  BATCH_SHARD_PROMPTS: setting({ area: "batches", format: integer(1), default: "2000", unit: "prompts", description: "A batch draws with one shard object per this many prompts, up to LM_MAX_IN_FLIGHT / 6 shards." }),
  // ---- OpenAI API
  RESPONSES_RETENTION_SECONDS: setting({ area: "OpenAI API", format: integer(1), default: "2592000", unit: "seconds", description: "How long a stored response (POST /v1/responses without store: false) is kept for GET /v1/responses/{id}, previous_response_id and item_reference (30 days, as OpenAI's)." }),
  FILE_MAX_BYTES: setting({ area: "OpenAI API", format: integer(1), default: "33554432", unit: "bytes", description: "The largest file POST /v1/files takes (32 MiB); a larger upload is a 413." }),
  FILE_RETENTION_SECONDS: setting({ area: "OpenAI API", format: integer(1), default: "2592000", unit: "seconds", description: "How long an uploaded file is kept unless its expires_after says less or it is deleted (30 days)." }),
  EMBEDDINGS_URL: setting({ area: "OpenAI API", format: url, unset: "POST /v1/embeddings answers 404", description: "Base URL of the embedding server (a vLLM pooling instance with --runner pooling, or any OpenAI-compatible /v1/embeddings) that POST /v1/embeddings is passed to." }),
  // ---- predictors
  PREDICTOR_CACHE_SECONDS: setting({ area: "predictors", format: integer(0), default: "30", unit: "seconds", description: "How long an isolate reuses its list of published predictors: a new one is used within this time, without a redeploy." }),
};

export type SettingName = keyof typeof SETTINGS;

type ValueOf<S> = S extends Setting<infer T> & { readonly default: infer D } ? (D extends string ? T : T | undefined) : never;

/** The gateway's settings, typed from the table's schemas. */
export type Settings = { readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };

/** A var as given: text, or what wrangler.toml wrote unquoted (a number); blank is unset. */
function textOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value);
  return text.trim() === "" ? undefined : text.trim();
}

/** What is wrong with a setting's value, in words that name it (a secret's or a URL's value is not repeated). */
function refusal(name: SettingName, s: Setting<unknown>, raw: string): string {
  const unit = s.unit === "ms" || s.unit === "seconds" ? ` (${s.unit})` : "";
  const got = s.secret || !s.format.echo ? "" : `, got ${JSON.stringify(raw)}`;
  return `${name} must be ${s.format.must}${unit}${got}`;
}

/**
 * The settings from the Worker's vars (anything carrying the settings' names; bindings and
 * other keys are ignored), defaults filled in. Throws Misconfigured naming every setting
 * that does not read (the first as its `setting`) and what each must be.
 *
 * @example parseSettings({ BATCH_RETENTION_SECONDS: "3600" }).BATCH_RETENTION_SECONDS // 3600
 * @example parseSettings({ BATCH_RETENTION_SECONDS: "-5" }) // throws: BATCH_RETENTION_SECONDS must be an integer ≥ 1 (seconds), got "-5" (wrangler.toml [vars])
 */
export function parseSettings(vars: Readonly<Partial<Record<SettingName, unknown>>>): Settings {
  const out: Partial<Record<SettingName, unknown>> = {};
  const refused: { name: SettingName; why: string }[] = [];
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const s: Setting<unknown> = SETTINGS[name];
    const raw = textOf(vars[name]) ?? s.default;
    if (raw === undefined) continue;
    const parsed = s.format.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else refused.push({ name, why: refusal(name, s, raw) });
  }
  if (refused.length > 0) throw new Misconfigured({ setting: refused[0].name, message: `${refused.map((r) => r.why).join("; ")} (wrangler.toml [vars])` });
  return out as Settings;
}
