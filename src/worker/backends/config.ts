import { COMPLETIONS_BACKENDS } from "../../core/backends/completions.js";
import type { LmConfig } from "../../core/backends/deployment.js";
import { HIDDEN_STATE_BACKENDS } from "../../core/backends/hidden-states.js";
import { REWARD_BACKENDS } from "../../core/backends/rewards.js";
import { Misconfigured } from "../../core/errors.js";
import { defaultRetryPolicy } from "../../core/lm/http.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";

export type { LmConfig };

/**
 * The LM deployment from the gateway's settings (read and checked by settings(); the
 * protocol names are checked there against these tables). A misconfiguration is reported
 * on first use as Misconfigured (a 503 that says what to set), never as a 500.
 *
 * @example const [r] = await sampleAndRerank({ ...lmConfig(env), model: "strong" }, items, params);
 */
export function lmConfig(env: Env): LmConfig {
  const s = settings(env);
  if (!s.LM_URL) throw new Misconfigured({ setting: "LM_URL", message: "the gateway is not configured for this: set LM_URL (wrangler.toml [vars]) to the LM server's base URL" });
  const url = s.LM_URL;
  const urls = s.LM_URLS ?? new Map<string, string>();
  const hiddenUrls = s.HIDDEN_STATES_URLS ?? new Map<string, string>();
  return {
    url,
    urlFor: (model) => urls.get(model) ?? url,
    hiddenUrlFor: (model) => hiddenUrls.get(model) ?? s.HIDDEN_STATES_URL ?? urls.get(model) ?? url,
    apiKey: s.LM_API_KEY,
    model: s.LM_MODEL,
    hidden: HIDDEN_STATE_BACKENDS[s.HIDDEN_STATES],
    completions: COMPLETIONS_BACKENDS[s.COMPLETIONS],
    policy: { ...defaultRetryPolicy, timeoutMs: s.LM_TIMEOUT_MS, attempts: s.LM_ATTEMPTS },
    reward: {
      url: s.REWARD_URL ?? url,
      model: s.REWARD_MODEL,
      apiKey: s.REWARD_API_KEY ?? s.LM_API_KEY,
      backend: REWARD_BACKENDS[s.REWARDS],
    },
  };
}
