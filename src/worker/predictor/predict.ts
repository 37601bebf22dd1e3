/**
 * Prompts (or hidden states) in, predicted curves out: the LM's hidden states from the
 * configured backend, then the shipped predictor for that LM in onnxruntime-web.
 * Shared by POST /v1/allocate and BatchRun.
 */
import { lmConfig } from "../backends/config.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { type BackendCall, runCall } from "../../core/backends/call.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { mapBounded } from "../../core/backends/best-of-k.js";
import { Invalid, Misconfigured, NotFound, UpstreamRefused, Unavailable, isUpstream } from "../../core/errors.js";
import type { CallMeter } from "../../core/lm/meter.js";
import { upstreamError } from "../backends/upstream-error.js";
import type { PredictorManifest } from "../../core/predictor/manifest.js";
import { normMismatch } from "../../core/predictor/hidden-norm.js";
import { type Predictor, catalog, findPredictor, loadPredictor } from "./registry.js";

/** A predicted curve: p for a Bernoulli predictor, q(1..b_max) for a curve predictor. */
export type Prediction = { p: number } | { curve: number[] };

/** Hidden states of prompts or conversations, from the configured LM backend: prompts in batches, conversations one per call. */
export async function hiddenStates(env: Env, model: string, inputs: readonly (string | LmInput)[], meter?: CallMeter): Promise<Float32Array[]> {
  const cfg = lmConfig(env);
  // Held as float32 (what the predictor takes) as each call's answer arrives: a quarter of
  // the memory of parsed JSON numbers, which matters at a real model's width (4,096 × a page).
  const out = new Array<Float32Array>(inputs.length);
  const texts: number[] = [];
  const calls: { rows: number[]; call: BackendCall<number[][]> }[] = [];
  inputs.forEach((x, i) => {
    if (typeof x === "string" || "prompt" in x) return texts.push(i);
    if (!cfg.hidden.chat) {
      throw new Misconfigured({ setting: "HIDDEN_STATES", message: `HIDDEN_STATES=${settings(env).HIDDEN_STATES} reads text prompts only; chat requests need a backend with a chat template (vllm-pooling)` });
    }
    calls.push({ rows: [i], call: cfg.hidden.chat(model, x.messages) });
  });
  const text = (i: number) => {
    const x = inputs[i];
    return typeof x === "string" ? x : (x as { prompt: string }).prompt;
  };
  const perCall = cfg.hidden.maxPromptsPerCall;
  for (let k = 0; k < texts.length; k += perCall) {
    const rows = texts.slice(k, k + perCall);
    calls.push({ rows, call: cfg.hidden.texts(model, rows.map(text)) });
  }
  const server = { url: cfg.hiddenUrlFor(model), apiKey: cfg.apiKey };
  try {
    await mapBounded(calls, 4, async ({ rows, call }) => {
      const vectors = await runCall(server, call, cfg.policy, meter);
      if (vectors.length !== rows.length) {
        const why = `${vectors.length} hidden states for ${rows.length} inputs`;
        throw new Unavailable({ message: `${server.url}: ${why}`, reason: why, upstreamStatus: 200, retryable: false });
      }
      rows.forEach((r, j) => (out[r] = Float32Array.from(vectors[j])));
    });
  } catch (e) {
    if (isUpstream(e)) throw upstreamError(e, `reading ${model}'s hidden states`, typeof inputs[0] === "object" && "messages" in inputs[0] ? "messages" : "prompt");
    throw e;
  }
  return out;
}

/**
 * A model this gateway does not serve, in OpenAI's words (a 404 its SDKs raise as NotFoundError).
 *
 * @example if (!router && !predictor) throw modelNotFound(req.model)
 */
export function modelNotFound(model: string, param = "model"): NotFound {
  return new NotFound({ what: "model", message: `The model \`${model}\` does not exist: GET /v1/models lists the models this gateway serves`, param });
}

/** The predictor for a request's model or predictor name: 404 for an unknown model, 400 for a misnamed predictor. */
export async function choosePredictor(env: Env, opts: { model?: string; predictor?: string }): Promise<Predictor> {
  const lmModel = opts.model ?? settings(env).LM_MODEL;
  const found = await findPredictor(env, { name: opts.predictor, lmModel });
  if (!found) {
    if (!opts.predictor) throw modelNotFound(lmModel);
    const names = (await catalog(env)).filter((s) => !s.manifest.route).map((s) => `${s.manifest.name} (${s.manifest.lm.model})`).join(", ");
    throw new Invalid({ message: `no predictor named "${opts.predictor}"; there are: ${names}`, param: "predictor" });
  }
  if (found.manifest.route) {
    throw new Invalid({ message: `"${found.manifest.name}" is a router: name it as the model of /v1/completions, /v1/chat/completions or a batch with mode "route"`, param: "predictor" });
  }
  if (opts.model && found.manifest.lm.model !== opts.model) {
    throw new Invalid({ message: `predictor "${found.manifest.name}" reads ${found.manifest.lm.model}'s hidden states, not ${opts.model}'s`, param: "predictor" });
  }
  return found;
}

/**
 * A served hidden state the predictor cannot use is the deployment's fault, not the
 * caller's: Misconfigured (a 503), saying what differs (its size, or its scale: e.g. unit vectors from
 * an embed pooler that L2-normalises, into a predictor trained on raw states).
 */
function checkServed(m: PredictorManifest, h: ArrayLike<number>): void {
  const why = h.length !== m.input_size ? `${h.length} values, while it takes ${m.input_size}` : normMismatch(h, m.hidden_norm);
  if (why) {
    throw new Misconfigured({
      setting: null,
      message:
        `the hidden states served for ${m.lm.model} do not match predictor ${m.name}: ${why}. ` +
        "Serve them as they were when it was trained (the same server and pooler config), or retrain it on what the server returns now",
    });
  }
}

/**
 * Predictions for inputs that are either prompts (hidden states fetched) or hidden
 * states; `field(i)` names input i for errors.
 */
export async function predict(
  env: Env,
  predictor: Predictor,
  inputs: readonly (LmInput | { hidden: readonly number[] })[],
  field: (i: number, kind: "prompt" | "hidden") => string,
  meter?: CallMeter,
): Promise<Prediction[]> {
  const m = predictor.manifest;
  const promptIdx = inputs.flatMap((x, i) => ("hidden" in x ? [] : [i]));
  const fetched = await hiddenStates(env, m.lm.model, promptIdx.map((i) => inputs[i] as LmInput), meter);
  const vectors = new Map(promptIdx.map((i, k) => [i, fetched[k]]));
  const hidden = inputs.map((x, i) => {
    if (!("hidden" in x)) {
      const h = vectors.get(i)!;
      checkServed(m, h);
      return h;
    }
    if (x.hidden.length !== m.input_size) {
      throw new Invalid({ message: `a hidden state of ${x.hidden.length} values; ${m.name} takes ${m.input_size} (${m.lm.model})`, param: field(i, "hidden") });
    }
    return x.hidden;
  });
  const outputs = await (await loadPredictor(predictor)).predict(hidden);
  return outputs.map((o) => (m.kind === "bernoulli" ? { p: Math.min(1, Math.max(0, o[0])) } : { curve: Array.from(o) }));
}

/**
 * A router's predictions: per input, one success probability per model on its menu
 * (manifest.route.options order), from the input model's hidden states.
 */
export async function predictRoute(env: Env, router: Predictor, inputs: readonly LmInput[], meter?: CallMeter): Promise<number[][]> {
  const m = router.manifest;
  const hidden = await hiddenStates(env, m.lm.model, inputs, meter);
  hidden.forEach((h) => checkServed(m, h));
  const out = await (await loadPredictor(router)).predict(hidden);
  return out.map((row) => Array.from(row, (p) => Math.min(1, Math.max(0, p))));
}

/** Marginal gains of a predicted curve (q(j) − q(j−1)). */
export function marginalsOf(curve: readonly number[]): number[] {
  return curve.map((q, j) => q - (j > 0 ? curve[j - 1] : 0));
}

/** An input the model server refused, with its reason: it fails alone. */
export interface Refused {
  readonly refused: string;
}

/**
 * `run` over all inputs, and when the lot is refused for what one of them asks (the
 * model server's UpstreamRefused: a prompt too long, a character it cannot take; or
 * Invalid), over halves, then quarters, until the refused inputs stand alone: k bad
 * inputs among n cost O(k log n) extra calls, and every good one is still served. Other
 * errors (outages, a misconfiguration) propagate.
 *
 * @example const preds = await isolateRefused(page, (part) => predict(env, chosen, part, () => "prompt"));
 */
export async function isolateRefused<I, O>(inputs: readonly I[], run: (part: readonly I[]) => Promise<O[]>): Promise<(O | Refused)[]> {
  try {
    return await run(inputs);
  } catch (e) {
    if (!(e instanceof UpstreamRefused || e instanceof Invalid)) throw e;
    if (inputs.length === 1) return [{ refused: e.reason }];
    const half = Math.ceil(inputs.length / 2);
    return [...(await isolateRefused(inputs.slice(0, half), run)), ...(await isolateRefused(inputs.slice(half), run))];
  }
}
