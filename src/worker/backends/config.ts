import type { Env } from "../env.js";
import { Misconfigured } from "../../core/errors.js";
import { defaultRetryPolicy } from "../../core/lm/http.js";
import type { LmConfig } from "../../core/backends/deployment.js";

export type { LmConfig };
import { COMPLETIONS_BACKENDS } from "../../core/backends/completions.js";
import { HIDDEN_STATE_BACKENDS } from "../../core/backends/hidden-states.js";
import { REWARD_BACKENDS } from "../../core/backends/rewards.js";


function positiveInt(value: string | undefined, variable: string, fallback: number, fail: (what: string) => Error): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw fail(`${variable} must be a positive integer, got "${value}"`);
  return n;
}

/** An http(s) URL: what a model server is reached at (new URL also takes "host:8000" as a scheme). */
function isUrl(text: string): boolean {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

function pick<T>(table: Record<string, T>, name: string, variable: string, fail: (what: string) => Error): T {
  const found = table[name];
  if (!found) throw fail(`${variable} "${name}" is not one of ${Object.keys(table).join(", ")}`);
  return found;
}

/** "model=url,model=url" (LM_URLS, HIDDEN_STATES_URLS) as a map; empty when unset. */
function modelUrls(value: string | undefined, variable: string, fail: (what: string) => Error): Map<string, string> {
  const urls = new Map<string, string>();
  for (const part of (value ?? "").split(",").filter((x) => x.trim() !== "")) {
    const eq = part.indexOf("=");
    const model = part.slice(0, eq).trim();
    const url = part.slice(eq + 1).trim();
    if (eq <= 0 || !isUrl(url)) throw fail(`${variable} must be model=url pairs separated by commas; "${part}" is not`);
    urls.set(model, url.replace(/\/+$/, ""));
  }
  return urls;
}

/**
 * The LM deployment from wrangler vars and secrets. A misconfiguration is reported on
 * first use as a 503 that says what to set, never as a 500.
 */
export function lmConfig(env: Env): LmConfig {
  const misconfigured = (what: string) => new Misconfigured({ setting: null, message: `the gateway is not configured for this: ${what}` });
  if (!env.LM_URL) throw misconfigured("set LM_URL (wrangler.toml [vars]) to the LM server's base URL");
  if (!isUrl(env.LM_URL)) throw misconfigured(`LM_URL "${env.LM_URL}" is not a URL`);
  const urls = modelUrls(env.LM_URLS, "LM_URLS", misconfigured);
  const hiddenUrls = modelUrls(env.HIDDEN_STATES_URLS, "HIDDEN_STATES_URLS", misconfigured);
  if (env.HIDDEN_STATES_URL !== undefined && !isUrl(env.HIDDEN_STATES_URL)) throw misconfigured(`HIDDEN_STATES_URL "${env.HIDDEN_STATES_URL}" is not a URL`);
  const hiddenDefault = env.HIDDEN_STATES_URL?.replace(/\/+$/, "");
  const rewardUrl = env.REWARD_URL ?? env.LM_URL;
  if (!isUrl(rewardUrl)) throw misconfigured(`REWARD_URL "${rewardUrl}" is not a URL`);
  const url = env.LM_URL.replace(/\/+$/, "");
  return {
    url,
    urlFor: (model) => urls.get(model) ?? url,
    hiddenUrlFor: (model) => hiddenUrls.get(model) ?? hiddenDefault ?? urls.get(model) ?? url,
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
