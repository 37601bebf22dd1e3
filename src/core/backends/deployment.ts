/**
 * A deployment of model servers as the sampling and prediction code sees it: where each
 * model is served, which protocol each role speaks, and the retry policy of every call.
 * Built from the Worker's settings (worker/backends/config.ts) or a CLI's flags.
 */
import type { RetryPolicy } from "../lm/http.js";
import type { CallMeter } from "../lm/meter.js";
import type { CompletionsBackend } from "./completions.js";
import type { HiddenStatesBackend } from "./hidden-states.js";
import type { RewardBackend, RewardLabel } from "./rewards.js";
import { type ThinkingModel, ThinkingModelSchema } from "./thinking.js";

export interface LmConfig {
  /** LM_URL: where models not named in LM_URLS are served. */
  readonly url: string;
  readonly apiKey?: string;
  readonly model: string;
  /** Base URL of the server that serves `model` (LM_URLS, else LM_URL). */
  readonly urlFor: (model: string) => string;
  /**
   * Base URL of the server that gives `model`'s hidden states (HIDDEN_STATES_URLS, else
   * HIDDEN_STATES_URL; throws Misconfigured when neither is set): a vLLM instance
   * generates or pools, never both, so hidden states come from a pooling instance of the
   * same weights.
   */
  readonly hiddenUrlFor: (model: string) => string;
  readonly hidden: HiddenStatesBackend;
  readonly completions: CompletionsBackend;
  /** The reward server; `label` is which of its model's outputs is the reward (REWARD_LABEL, else the backend's default). */
  readonly reward: { readonly url: string; readonly model: string; readonly apiKey?: string; readonly backend: RewardBackend; readonly label: RewardLabel };
  /** Per-request timeout and attempts for every LM and reward call (LM_TIMEOUT_MS, LM_ATTEMPTS). */
  readonly policy: RetryPolicy;
  /** The models that think (THINKING_MODELS): how each one's server takes a thinking budget. */
  readonly thinking?: ReadonlyMap<string, ThinkingModel>;
  /** The request these calls are made for, when it measures them (its time in the LM, retries, failures). */
  readonly meter?: CallMeter;
}

/**
 * How `model` takes a thinking budget: as THINKING_MODELS says, else vLLM's field (the
 * protocol the project's reference LM and current vLLM share).
 */
export const thinkingOf = (cfg: Pick<LmConfig, "thinking">, model: string): ThinkingModel => cfg.thinking?.get(model) ?? ThinkingModelSchema.parse({});
