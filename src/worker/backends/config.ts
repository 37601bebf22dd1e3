import { COMPLETIONS_BACKENDS } from "../../core/backends/completions.js";
import type { LmConfig } from "../../core/backends/deployment.js";
import { HIDDEN_STATE_BACKENDS } from "../../core/backends/hidden-states.js";
import { REWARD_BACKENDS, type RewardBackend } from "../../core/backends/rewards.js";
import { Misconfigured } from "../../core/errors.js";
import { defaultRetryPolicy } from "../../core/lm/http.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";

export type { LmConfig };

/** A reward backend that cannot score: the settings that choose the reward model are unset. */
const unconfigured = (setting: string, message: string): RewardBackend => ({
  defaultLabel: { index: -1 },
  chat: true,
  score: () => {
    throw new Misconfigured({ setting, message });
  },
});

/**
 * The LM deployment from the gateway's settings (read and checked by settings(); the
 * protocol names are checked there against these tables). A misconfiguration is reported
 * on first use as Misconfigured (a 503 that says what to set), never as a 500, and never
 * by guessing: hidden states and rewards have no default server (LM_URL generates; a
 * vLLM generate instance serves neither /pooling nor a reward model).
 *
 * @example const [r] = await sampleAndRerank({ ...lmConfig(env), model: "strong" }, items, params);
 */
export function lmConfig(env: Env): LmConfig {
  const s = settings(env);
  if (!s.LM_URL) throw new Misconfigured({ setting: "LM_URL", message: "the gateway is not configured for this: set LM_URL (wrangler.toml [vars]) to the LM server's base URL" });
  const url = s.LM_URL;
  const urls = s.LM_URLS ?? new Map<string, string>();
  const hiddenUrls = s.HIDDEN_STATES_URLS ?? new Map<string, string>();
  const backend = REWARD_BACKENDS[s.REWARDS];
  const reward =
    s.REWARD_URL === undefined
      ? unconfigured("REWARD_URL", "REWARD_URL is not set: set it to the reward model's server (a vLLM pooling instance of the reward model; wrangler.toml [vars]). It has no default: the LM's server serves no reward model")
      : s.REWARD_MODEL === undefined
        ? unconfigured("REWARD_MODEL", "REWARD_MODEL is not set: set it to the reward model's name as REWARD_URL serves it (GET /v1/models)")
        : backend;
  return {
    url,
    urlFor: (model) => urls.get(model) ?? url,
    hiddenUrlFor: (model) => {
      const at = hiddenUrls.get(model) ?? s.HIDDEN_STATES_URL;
      if (at === undefined) {
        throw new Misconfigured({
          setting: "HIDDEN_STATES_URL",
          message: `HIDDEN_STATES_URL is not set (nor HIDDEN_STATES_URLS for ${model}): set it to a pooling instance of ${model}'s weights (vllm serve <weights> --runner pooling --convert embed --served-model-name ${model}). It has no default: a vLLM instance generates or pools, never both`,
        });
      }
      return at;
    },
    apiKey: s.LM_API_KEY,
    model: s.LM_MODEL,
    hidden: HIDDEN_STATE_BACKENDS[s.HIDDEN_STATES],
    completions: COMPLETIONS_BACKENDS[s.COMPLETIONS],
    policy: { ...defaultRetryPolicy, timeoutMs: s.LM_TIMEOUT_MS, attempts: s.LM_ATTEMPTS },
    ...(s.THINKING_MODELS ? { thinking: s.THINKING_MODELS } : {}),
    reward: {
      url: s.REWARD_URL ?? "",
      model: s.REWARD_MODEL ?? "",
      apiKey: s.REWARD_API_KEY ?? s.LM_API_KEY,
      backend: reward,
      label: s.REWARD_LABEL ?? backend.defaultLabel,
    },
  };
}
