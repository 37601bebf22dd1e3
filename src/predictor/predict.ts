/**
 * Prompts (or hidden states) in, predicted curves out: the LM's hidden states from the
 * configured backend, then the shipped predictor for that LM in onnxruntime-web.
 * Shared by POST /v1/allocate and BatchRun.
 */
import { lmConfig } from "../backends/config.js";
import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { BackendError, postJson } from "../lm/http.js";
import type { PredictorManifest } from "./manifest.js";
import { SHIPPED, findPredictor, loadPredictor } from "./registry.js";

/** Prompts per hidden-state request to the LM. */
const HIDDEN_BATCH = 256;

/** A predicted curve: p for a Bernoulli predictor, q(1..b_max) for a curve predictor. */
export type Prediction = { p: number } | { curve: number[] };

/** Hidden states of the prompts, from the configured LM backend, in batches. */
export async function hiddenStates(env: Env, model: string, prompts: readonly string[]): Promise<number[][]> {
  const cfg = lmConfig(env);
  const out: number[][] = [];
  for (let i = 0; i < prompts.length; i += HIDDEN_BATCH) {
    const chunk = prompts.slice(i, i + HIDDEN_BATCH);
    try {
      const res = await postJson(`${cfg.url}${cfg.hidden.path}`, cfg.hidden.request(model, chunk), cfg.hidden.response, {
        headers: cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : undefined,
        policy: cfg.policy,
      });
      let vectors: number[][];
      try {
        vectors = cfg.hidden.extract(res);
      } catch (e) {
        throw new BackendError(`${cfg.hidden.path}: ${(e as Error).message}`, 200, false, 1);
      }
      if (vectors.length !== chunk.length) throw new BackendError(`returned ${vectors.length} hidden states for ${chunk.length} prompts`, 200, false, 1);
      out.push(...vectors);
    } catch (e) {
      if (e instanceof BackendError) {
        throw new ApiError(502, "upstream_error", `the LM server (${cfg.url}) failed to return hidden states: ${e.message}`);
      }
      throw e;
    }
  }
  return out;
}

/** The shipped predictor for a request's model / predictor name, or a 400 that lists them. */
export function choosePredictor(env: Env, opts: { model?: string; predictor?: string }): { manifest: PredictorManifest; model: ArrayBuffer } {
  const lmModel = opts.model ?? env.LM_MODEL ?? "strong";
  const shipped = findPredictor({ name: opts.predictor, lmModel });
  const names = SHIPPED.map((s) => `${s.manifest.name} (${s.manifest.lm.model})`).join(", ");
  if (!shipped) {
    throw new ApiError(400, "invalid_request_error", `no predictor ${opts.predictor ? `named "${opts.predictor}"` : `for model "${lmModel}"`}; shipped: ${names}`, opts.predictor ? "predictor" : "model");
  }
  if (opts.model && shipped.manifest.lm.model !== opts.model) {
    throw new ApiError(400, "invalid_request_error", `predictor "${shipped.manifest.name}" reads ${shipped.manifest.lm.model}'s hidden states, not ${opts.model}'s`, "predictor");
  }
  return shipped;
}

/**
 * Predictions for inputs that are either prompts (hidden states fetched) or hidden
 * states; `field(i)` names input i for errors.
 */
export async function predict(
  env: Env,
  shipped: { manifest: PredictorManifest; model: ArrayBuffer },
  inputs: readonly ({ prompt: string } | { hidden: readonly number[] })[],
  field: (i: number, kind: "prompt" | "hidden") => string,
): Promise<Prediction[]> {
  const m = shipped.manifest;
  const promptIdx = inputs.flatMap((x, i) => ("prompt" in x ? [i] : []));
  const fetched = await hiddenStates(env, m.lm.model, promptIdx.map((i) => (inputs[i] as { prompt: string }).prompt));
  const vectors = new Map(promptIdx.map((i, k) => [i, fetched[k]]));
  const hidden = inputs.map((x, i) => {
    const h = "hidden" in x ? x.hidden : vectors.get(i)!;
    if (h.length !== m.input_size) {
      throw new ApiError(400, "invalid_request_error", `a hidden state of ${h.length} values; ${m.name} takes ${m.input_size} (${m.lm.model})`, field(i, "hidden" in x ? "hidden" : "prompt"));
    }
    return h;
  });
  const outputs = await (await loadPredictor(shipped)).predict(hidden);
  return outputs.map((o) => (m.kind === "bernoulli" ? { p: Math.min(1, Math.max(0, o[0])) } : { curve: Array.from(o) }));
}

/** Marginal gains of a predicted curve (q(j) − q(j−1)). */
export function marginalsOf(curve: readonly number[]): number[] {
  return curve.map((q, j) => q - (j > 0 ? curve[j - 1] : 0));
}
