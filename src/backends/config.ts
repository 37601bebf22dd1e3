import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { HIDDEN_STATE_BACKENDS, type HiddenStatesBackend } from "./hidden-states.js";

export interface LmConfig {
  readonly url: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly hidden: HiddenStatesBackend<any>;
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
  const name = env.HIDDEN_STATES ?? "vllm-pooling";
  const hidden = HIDDEN_STATE_BACKENDS[name];
  if (!hidden) throw misconfigured(`HIDDEN_STATES "${name}" is not one of ${Object.keys(HIDDEN_STATE_BACKENDS).join(", ")}`);
  return { url: env.LM_URL.replace(/\/+$/, ""), apiKey: env.LM_API_KEY, model: env.LM_MODEL ?? "strong", hidden };
}
