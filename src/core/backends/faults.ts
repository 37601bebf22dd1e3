/**
 * A model server's refusal that says the deployment is wrong, not the request: the server
 * has no such route (a vLLM instance generates or pools, never both), does not serve the
 * pooling task asked for (one task per server since vLLM 0.21), or serves another model.
 * Such a refusal is the operator's to fix, so it becomes Misconfigured (a 503
 * `x-should-retry: false` naming the setting to change), never a 400 that blames a
 * client's `prompt`.
 *
 * What each server answers, from their source (the doubles in test/doubles/ follow the
 * same citations):
 * - a route that is not registered: FastAPI's 404 `{"detail": "Not Found"}` (vLLM ≥ 0.16
 *   registers routes by supported task: PR #33139; vllm/entrypoints/openai/api_server.py
 *   build_app; vllm/frontend/entrypoints/pooling/factories.py L110-140);
 * - a route registered for every runner, whose handler is missing (vLLM ≤ 0.15): 400
 *   "The model does not support Pooling API" (…Classification API, Completions API, …)
 *   (vllm/entrypoints/pooling/pooling/api_router.py create_pooling);
 * - a route registered because the model supports the task but another task is selected
 *   (vLLM ≥ 0.21): 501 "The model does not support Classification API" (NotImplementedError;
 *   vllm/frontend/entrypoints/pooling/classify/api_router.py);
 * - a task the server does not run: 400 with `param: "task"`: "Unsupported task: …",
 *   "Try switching the model's pooling_task via --pooler-config.task X." (≥ 0.21,
 *   vllm/frontend/entrypoints/pooling/pooling/serving.py L78-90), "`encode` task was
 *   removed; …" (vllm/tasks.py check_removed_pooling_task), "Task X is not supported, it
 *   must be one of …" (0.11.1–0.20, serving_pooling.py);
 * - another model: 404 "The model `x` does not exist." with `param: "model"`
 *   (serving_engine._check_model); SGLang and the reference LM likewise name the model.
 */
import { Misconfigured, type UpstreamError } from "../errors.js";

/** What a server is to the gateway: which settings (and `allot collect` flags) choose it. */
export type Role = "sampling" | "hidden states" | "rewards";

export const ROLE_SETTINGS: Record<Role, { readonly url: string; readonly model: string; readonly protocol: string; readonly server: string }> = {
  sampling: { url: "LM_URL (LM_URLS per model; allot collect --lm)", model: "LM_MODEL, or the predictor's lm.model", protocol: "COMPLETIONS", server: "the LM server" },
  "hidden states": {
    url: "HIDDEN_STATES_URL (HIDDEN_STATES_URLS per model; allot collect --hidden-url)",
    model: "the pooling server's --served-model-name",
    protocol: "HIDDEN_STATES (allot collect --hidden-states)",
    server: "the hidden-state server",
  },
  rewards: { url: "REWARD_URL (allot collect --reward-url)", model: "REWARD_MODEL (allot collect --reward)", protocol: "REWARDS (allot collect --rewards)", server: "the reward server" },
};

/** The first setting's name in a ROLE_SETTINGS text ("HIDDEN_STATES_URL (…)" → "HIDDEN_STATES_URL"). */
const settingOf = (text: string): string => /^[A-Z][A-Z0-9_]+/.exec(text)?.[0] ?? text;

export type FaultKind = "route" | "task" | "model";

const API_MISSING = /does not support (the )?[\w ]*API|API is not supported by this model/i;
const TASK = /Unsupported task|Try switching the model's pooling_task|task was removed|pooling_task must be one of|Task \S+ is not supported|return_hidden_states|enable-return-hidden-states/i;
const MODEL_MISSING = /model[^.]*(does not exist|not found)|does not exist[^.]*model/i;

/**
 * The kind of deployment fault `e` is, or null when it is about the request itself.
 *
 * @example faultKind(new UpstreamRefused({ message: "", reason: '404: {"detail":"Not Found"}', upstreamStatus: 404 })) // "route"
 */
export function faultKind(e: UpstreamError): FaultKind | null {
  const status = e.upstreamStatus;
  const said = e.reason;
  if (status === 501) return "route";
  if (status === 404 && (e.param === "model" || MODEL_MISSING.test(said))) return "model";
  if (status === 404 || status === 405) return "route";
  if (status === 400 && (e.param === "task" || TASK.test(said))) return "task";
  if (status === 400 && API_MISSING.test(said)) return "route";
  return null;
}

/** What to change for each kind of fault, per role. */
function advice(kind: FaultKind, role: Role, path: string, model: string): { setting: string; fix: string } {
  const r = ROLE_SETTINGS[role];
  if (kind === "model") {
    if (role === "hidden states") return { setting: settingOf(r.url), fix: `the hidden-state server does not serve ${model}: serve the pooling instance under the LM's name (vllm serve … --served-model-name ${model}), or point ${r.url} at one that does` };
    if (role === "rewards") return { setting: settingOf(r.model), fix: `the reward server does not serve ${model}: set ${r.model} to the name it serves (GET /v1/models), or ${r.url} to a server of that model` };
    return { setting: settingOf(r.url), fix: `the LM server does not serve ${model}: set ${r.url} to its server` };
  }
  if (kind === "task") {
    return {
      setting: settingOf(r.protocol),
      fix:
        role === "hidden states"
          ? `the hidden-state server refuses what ${r.protocol} asks for: a vLLM server must run the embed task (one pooling task per server since 0.21: --runner pooling --convert embed, and --pooler-config.task embed if its default is another); an SGLang server needs --enable-return-hidden-states, and return_hidden_states "last" (sglang-generate-last) needs PR #30177 (before it, sglang-generate)`
          : `the reward server does not run the task ${r.protocol} asks for (one pooling task per vLLM server since 0.21): set ${r.protocol} to its task (vllm-pooling sends none: the server's own; vllm-classify for a sequence classifier, vllm-pooling-token-classify for a token classifier), or start it with --pooler-config.task <task>`,
    };
  }
  if (role === "hidden states") return { setting: settingOf(r.url), fix: `the hidden-state server has no ${path} (a vLLM instance generates or pools, never both): point ${r.url} at a pooling instance of the LM's weights (vllm serve <model> --runner pooling --convert embed), or set ${r.protocol} to the server's protocol` };
  if (role === "rewards") return { setting: settingOf(r.protocol), fix: `the reward server has no ${path} for this model: set ${r.protocol} to what it serves (a token-classifying reward model has no /classify: vllm-pooling), or point ${r.url} at a pooling instance of the reward model` };
  return { setting: settingOf(r.url), fix: `the LM server has no ${path} (a vLLM pooling instance does not generate): point ${r.url} at a generate instance` };
}

/**
 * Misconfigured for a refusal that blames the deployment, or null.
 *
 * @example const fault = deploymentFault(e, "hidden states", { path: "/pooling", model: "strong" }); if (fault) throw fault;
 */
export function deploymentFault(e: UpstreamError, role: Role, call: { url: string; path: string; model: string }): Misconfigured | null {
  const kind = faultKind(e);
  if (!kind) return null;
  const { setting, fix } = advice(kind, role, call.path, call.model);
  const reason = `${setting}: ${fix} (${ROLE_SETTINGS[role].server} answered ${e.reason})`;
  // The log gets the server's address; a caller never does.
  return new Misconfigured({ setting, message: `${reason} [${call.url}${call.path}]`, reason, cause: e });
}
