/**
 * Prompts (or hidden states) in, predicted curves out: the LM's hidden states from the
 * configured backend, then the shipped predictor for that LM in onnxruntime-web.
 * Shared by POST /v1/allocate and BatchRun.
 */
import { lmConfig } from "../backends/config.js";
import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { type BackendCall, runCall } from "../backends/call.js";
import type { LmInput } from "../contracts/lm-protocol.js";
import { mapBounded } from "../dispatch/best-of-k.js";
import { BackendError } from "../lm/http.js";
import type { PredictorManifest } from "./manifest.js";
import { SHIPPED, type Shipped, findPredictor, loadPredictor } from "./registry.js";

/** Prompts per hidden-state request to the LM. */
const HIDDEN_BATCH = 256;

/** A predicted curve: p for a Bernoulli predictor, q(1..b_max) for a curve predictor. */
export type Prediction = { p: number } | { curve: number[] };

/** Hidden states of prompts or conversations, from the configured LM backend: prompts in batches, conversations one per call. */
export async function hiddenStates(env: Env, model: string, inputs: readonly (string | LmInput)[]): Promise<number[][]> {
  const cfg = lmConfig(env);
  const out = new Array<number[]>(inputs.length);
  const texts: number[] = [];
  const calls: { rows: number[]; call: BackendCall<number[][]> }[] = [];
  inputs.forEach((x, i) => {
    if (typeof x === "string" || "prompt" in x) return texts.push(i);
    if (!cfg.hidden.chat) throw new ApiError(503, "api_error", `HIDDEN_STATES=${env.HIDDEN_STATES} reads text prompts only; chat requests need a backend with a chat template (vllm-pooling)`);
    calls.push({ rows: [i], call: cfg.hidden.chat(model, x.messages) });
  });
  const text = (i: number) => {
    const x = inputs[i];
    return typeof x === "string" ? x : (x as { prompt: string }).prompt;
  };
  for (let k = 0; k < texts.length; k += HIDDEN_BATCH) {
    const rows = texts.slice(k, k + HIDDEN_BATCH);
    calls.push({ rows, call: cfg.hidden.texts(model, rows.map(text)) });
  }
  const server = { url: cfg.urlFor(model), apiKey: cfg.apiKey };
  try {
    await mapBounded(calls, 4, async ({ rows, call }) => {
      const vectors = await runCall(server, call, cfg.policy);
      if (vectors.length !== rows.length) throw new BackendError(`returned ${vectors.length} hidden states for ${rows.length} inputs`, 200, false, 1);
      rows.forEach((r, j) => (out[r] = vectors[j]));
    });
  } catch (e) {
    if (e instanceof BackendError) throw new ApiError(502, "upstream_error", `the LM server (${server.url}) failed to return hidden states: ${e.message}`);
    throw e;
  }
  return out;
}

/** The shipped predictor for a request's model / predictor name, or a 400 that lists them. */
export function choosePredictor(env: Env, opts: { model?: string; predictor?: string }): { manifest: PredictorManifest; model: ArrayBuffer } {
  const lmModel = opts.model ?? env.LM_MODEL ?? "strong";
  const shipped = findPredictor({ name: opts.predictor, lmModel });
  const names = SHIPPED.filter((s) => !s.manifest.route).map((s) => `${s.manifest.name} (${s.manifest.lm.model})`).join(", ");
  if (!shipped) {
    throw new ApiError(400, "invalid_request_error", `no predictor ${opts.predictor ? `named "${opts.predictor}"` : `for model "${lmModel}"`}; shipped: ${names}`, opts.predictor ? "predictor" : "model");
  }
  if (shipped.manifest.route) {
    throw new ApiError(400, "invalid_request_error", `"${shipped.manifest.name}" is a router: name it as the model of /v1/completions, /v1/chat/completions or a batch with mode "route"`, "predictor");
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
  inputs: readonly (LmInput | { hidden: readonly number[] })[],
  field: (i: number, kind: "prompt" | "hidden") => string,
): Promise<Prediction[]> {
  const m = shipped.manifest;
  const promptIdx = inputs.flatMap((x, i) => ("hidden" in x ? [] : [i]));
  const fetched = await hiddenStates(env, m.lm.model, promptIdx.map((i) => inputs[i] as LmInput));
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

/**
 * A router's predictions: per input, one success probability per model on its menu
 * (manifest.route.options order), from the input model's hidden states.
 */
export async function predictRoute(env: Env, router: Shipped, inputs: readonly LmInput[]): Promise<number[][]> {
  const m = router.manifest;
  const hidden = await hiddenStates(env, m.lm.model, inputs);
  hidden.forEach((h) => {
    if (h.length !== m.input_size) throw new ApiError(502, "upstream_error", `${m.lm.model} returned a hidden state of ${h.length} values; ${m.name} takes ${m.input_size}`);
  });
  const out = await (await loadPredictor(router)).predict(hidden);
  return out.map((row) => Array.from(row, (p) => Math.min(1, Math.max(0, p))));
}

/** Marginal gains of a predicted curve (q(j) − q(j−1)). */
export function marginalsOf(curve: readonly number[]): number[] {
  return curve.map((q, j) => q - (j > 0 ? curve[j - 1] : 0));
}
