import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { type RetryPolicy, defaultRetryPolicy } from "../lm/http.js";
import { COMPLETIONS_BACKENDS, type CompletionsBackend } from "./completions.js";
import { HIDDEN_STATE_BACKENDS, type HiddenStatesBackend } from "./hidden-states.js";
import { REWARD_BACKENDS, type RewardBackend } from "./rewards.js";

export interface LmConfig {
  readonly url: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly hidden: HiddenStatesBackend;
  readonly completions: CompletionsBackend;
  readonly reward: { readonly url: string; readonly model: string; readonly apiKey?: string; readonly backend: RewardBackend };
  /** Per-request timeout and attempts for every LM and reward call (LM_TIMEOUT_MS, LM_ATTEMPTS). */
  readonly policy: RetryPolicy;
}

function positiveInt(value: string | undefined, variable: string, fallback: number, fail: (what: string) => Error): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw fail(`${variable} must be a positive integer, got "${value}"`);
  return n;
}

function pick<T>(table: Record<string, T>, name: string, variable: string, fail: (what: string) => Error): T {
  const found = table[name];
  if (!found) throw fail(`${variable} "${name}" is not one of ${Object.keys(table).join(", ")}`);
  return found;
}

/**
 * The LM deployment from wrangler vars and secrets. A misconfiguration is reported on
 * first use as a 503 that says what to set, never as a 500.
 */
export function lmConfig(env: Env): LmConfig {
  const misconfigured = (what: string) => new ApiError(503, "api_error", `the gateway is not configured for this: ${what}`);
  if (!env.LM_URL) throw misconfigured("set LM_URL (wrangler.toml [vars]) to the LM server's base URL");
  try {
    new URL(env.LM_URL);
  } catch {
    throw misconfigured(`LM_URL "${env.LM_URL}" is not a URL`);
  }
  const rewardUrl = env.REWARD_URL ?? env.LM_URL;
  try {
    new URL(rewardUrl);
  } catch {
    throw misconfigured(`REWARD_URL "${rewardUrl}" is not a URL`);
  }
  return {
    url: env.LM_URL.replace(/\/+$/, ""),
    apiKey: env.LM_API_KEY,
    model: env.LM_MODEL ?? "strong",
    hidden: pick(HIDDEN_STATE_BACKENDS, env.HIDDEN_STATES ?? "vllm-pooling", "HIDDEN_STATES", misconfigured),
    completions: pick(COMPLETIONS_BACKENDS, env.COMPLETIONS ?? "openai", "COMPLETIONS", misconfigured),
    policy: {
      ...defaultRetryPolicy,
      timeoutMs: positiveInt(env.LM_TIMEOUT_MS, "LM_TIMEOUT_MS", defaultRetryPolicy.timeoutMs, misconfigured),
      attempts: positiveInt(env.LM_ATTEMPTS, "LM_ATTEMPTS", defaultRetryPolicy.attempts, misconfigured),
    },
    reward: {
      url: rewardUrl.replace(/\/+$/, ""),
      model: env.REWARD_MODEL ?? "verifier-binary",
      apiKey: env.REWARD_API_KEY ?? env.LM_API_KEY,
      backend: pick(REWARD_BACKENDS, env.REWARDS ?? "vllm-pooling", "REWARDS", misconfigured),
    },
  };
}
