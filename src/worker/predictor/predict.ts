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
import { type InputForm, type PredictorManifest, inputForm } from "../../core/predictor/manifest.js";
import { normMismatch } from "../../core/predictor/hidden-norm.js";
import { noteFault } from "../backends/seen.js";
import { type Predictor, catalog, findPredictor, loadPredictor } from "./registry.js";

/** A predicted curve: p for a Bernoulli predictor, q(1..b_max) for a curve predictor. */
export type Prediction = { p: number; levels?: ThinkingLevels } | { curve: number[] };

/**
 * A thinking predictor's prediction of a prompt, by the manifest's levels (budgets): a
 * sample's chance of passing with its thinking capped there (non-decreasing), and the
 * tokens one sample is expected to generate there.
 */
export interface ThinkingLevels {
  readonly p: readonly number[];
  readonly tokens: readonly number[];
}

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
      throw new Misconfigured({
        setting: "HIDDEN_STATES",
        message: `HIDDEN_STATES=${settings(env).HIDDEN_STATES} reads text prompts only (SGLang's /generate applies no chat template), so a conversation's hidden state cannot be read: chat requests need HIDDEN_STATES=vllm-pooling and a chat-form predictor`,
      });
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
  const server = { url: cfg.hiddenUrlFor(model), apiKey: cfg.apiKey, role: "hidden states" as const };
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
 * Why a served hidden state does not fit predictor `m`, or null: its width (three times
 * the width is SGLang with EAGLE3 speculative decoding, whose captured states are three
 * layers' concatenated, sglang#10059), or its scale (e.g. unit vectors from an embed
 * pooler that L2-normalises, into a predictor trained on raw states).
 *
 * @example servedMismatch(manifest, new Float32Array(384)) // "384 values, while it takes 128 (three times the width: …)"
 */
export function servedMismatch(m: PredictorManifest, h: ArrayLike<number>): string | null {
  if (h.length === 3 * m.input_size) {
    return `${h.length} values, while it takes ${m.input_size} (three times the width: an SGLang server with EAGLE3 speculative decoding returns three layers' states concatenated; read hidden states from a server without --speculative-algorithm)`;
  }
  return h.length !== m.input_size ? `${h.length} values, while it takes ${m.input_size}` : normMismatch(h, m.hidden_norm);
}

/**
 * A served hidden state the predictor cannot use is the deployment's fault, not the
 * caller's: Misconfigured (a 503), saying what differs.
 */
function checkServed(m: PredictorManifest, h: ArrayLike<number>): void {
  const why = servedMismatch(m, h);
  if (why) {
    throw new Misconfigured({
      setting: "HIDDEN_STATES_URL",
      message:
        `HIDDEN_STATES_URL: the hidden states served for ${m.lm.model} do not match predictor ${m.name}: ${why}. ` +
        "Serve them as they were when it was trained (the same server and pooler config), or retrain it on what the server returns now",
    });
  }
}

/** The form of an input: a conversation ("chat") or text ("prompt"). */
export const formOf = (x: string | LmInput): InputForm => (typeof x === "object" && "messages" in x ? "chat" : "prompt");

const sameMenu = (a: PredictorManifest, b: PredictorManifest) =>
  !a.route === !b.route && (!a.route || JSON.stringify(a.route.options) === JSON.stringify(b.route!.options));

/**
 * The predictor that stands for `p` on inputs of `form`: `p` itself when it was trained on
 * that form; else one trained on it for the same LM (for a router, the same menu), the
 * same reward model first, then published before shipped and binary before curve. A
 * predictor is never fed the other form's states: a chat template's tokens change them.
 * Throws Misconfigured when there is none (the online planning may then serve the
 * tenant's default allocation: predictOrDefault).
 *
 * @example const chat = await forForm(env, await choosePredictor(env, { model }), "chat");
 */
export async function forForm(env: Env, p: Predictor, form: InputForm): Promise<Predictor> {
  if (inputForm(p.manifest) === form) return p;
  const fits = (await catalog(env)).filter((c) => inputForm(c.manifest) === form && c.manifest.lm.model === p.manifest.lm.model && sameMenu(c.manifest, p.manifest));
  const rank = (c: Predictor) => (c.manifest.reward_model === p.manifest.reward_model ? 0 : 2) + (c.manifest.kind === p.manifest.kind ? 0 : 1);
  const best = fits.sort((a, b) => rank(a) - rank(b))[0];
  if (best) return best;
  const what = p.manifest.route ? `router ${p.manifest.name}` : `predictor ${p.manifest.name}`;
  throw new Misconfigured({
    setting: null,
    message:
      form === "chat"
        ? `${what} was trained on bare prompts, and there is no predictor for ${p.manifest.lm.model} trained on conversations: a chat template changes the hidden state, so its predictions would not hold. Train one with \`allot collect --chat\` and publish it (docs/deploy.md)`
        : `${what} was trained on conversations (allot collect --chat), and there is none for ${p.manifest.lm.model} trained on bare prompts: train one with \`allot collect\` and publish it`,
  });
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
  return (await predictWithHidden(env, predictor, inputs, field, meter)).predictions;
}

/** Predictions, and the hidden state each was made from (what an audit keeps: docs/audits.md). */
export interface Predicted {
  readonly predictions: Prediction[];
  readonly hidden: readonly (Float32Array | readonly number[])[];
}

/** predict(), keeping the hidden states read. */
async function predictWithHidden(
  env: Env,
  predictor: Predictor,
  inputs: readonly (LmInput | { hidden: readonly number[] })[],
  field: (i: number, kind: "prompt" | "hidden") => string,
  meter?: CallMeter,
): Promise<Predicted> {
  const promptIdx = inputs.flatMap((x, i) => ("hidden" in x ? [] : [i]));
  const forms = new Set(promptIdx.map((i) => formOf(inputs[i] as LmInput)));
  if (forms.size > 1) throw new Invalid({ message: "prompts and conversations cannot be predicted together", param: field(promptIdx[0], "prompt") });
  const chosen = forms.size === 1 ? await forForm(env, predictor, [...forms][0]) : predictor;
  const m = chosen.manifest;
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
  const loaded = await loadPredictor(chosen);
  if (m.thinking) {
    const t = await loaded.predictThinking(hidden);
    const clip = (x: number) => Math.min(1, Math.max(0, x));
    // Each level's p and tokens, the p at the largest level standing for the prompt (what a
    // sample with the model's own thinking passes with), as the console and audits read it.
    const predictions = t.p.map((row, i) => ({ p: clip(row[row.length - 1]), levels: { p: Array.from(row, clip), tokens: Array.from(t.tokens[i], (x) => Math.max(1, x)) } }));
    return { predictions, hidden };
  }
  const outputs = await loaded.predict(hidden);
  return { predictions: outputs.map((o) => (m.kind === "bernoulli" ? { p: Math.min(1, Math.max(0, o[0])) } : { curve: Array.from(o) })), hidden };
}

/**
 * A router's predictions: per input, one success probability per model on its menu
 * (manifest.route.options order), from the input model's hidden states.
 */
export async function predictRoute(env: Env, router: Predictor, inputs: readonly LmInput[], meter?: CallMeter): Promise<number[][]> {
  const chosen = inputs.length > 0 ? await forForm(env, router, formOf(inputs[0])) : router;
  const m = chosen.manifest;
  const hidden = await hiddenStates(env, m.lm.model, inputs, meter);
  hidden.forEach((h) => checkServed(m, h));
  const out = await (await loadPredictor(chosen)).predict(hidden);
  return out.map((row) => Array.from(row, (p) => Math.min(1, Math.max(0, p))));
}

/** Why a request was served without a prediction: the deployment fault that prevented one. */
export interface Unpredicted {
  readonly unpredicted: Misconfigured;
}

/**
 * predict(), or, when the deployment cannot predict (Misconfigured: no hidden-state
 * server, one without the route, task or model, vectors unlike the predictor's, no
 * predictor for the inputs' form), the fault instead of predictions, so that an online
 * request is served the tenant's default allocation (defaultUnits) rather than failing
 * with everyone else's. The fault is remembered for /healthz and /readyz. Anything else
 * (the caller's own prompt refused, an outage) propagates as from predict().
 *
 * The online planning's hook (src/worker/online/plan.ts, planBestOfK), in place of its
 * `predict(...)` call:
 *
 *     const got = await predictOrDefault(env, predictor, req.inputs, field, meter);
 *     if ("unpredicted" in got) return req.inputs.map(() => fixed(req.model, defaultUnits(s)));
 *
 * @example const preds = await predictOrDefault(env, predictor, inputs, () => "prompt");
 */
export async function predictOrDefault(
  env: Env,
  predictor: Predictor,
  inputs: readonly (LmInput | { hidden: readonly number[] })[],
  field: (i: number, kind: "prompt" | "hidden") => string,
  meter?: CallMeter,
): Promise<Predicted | Unpredicted> {
  try {
    return await predictWithHidden(env, predictor, inputs, field, meter);
  } catch (e) {
    if (!(e instanceof Misconfigured)) throw e;
    noteFault(e);
    console.error(`serving without a prediction: ${e.message}`);
    return { unpredicted: e };
  }
}

/**
 * The units a prompt gets without a prediction: the tenant's target (what uniform
 * allocation at its average budget B gives every prompt), rounded, within its min and max.
 *
 * @example defaultUnits({ min_units: 1, max_units: 16, target_units: 3.6 }) // 4
 */
export function defaultUnits(s: { readonly min_units: number; readonly max_units: number; readonly target_units?: number }): number {
  return Math.min(s.max_units, Math.max(s.min_units, Math.round(s.target_units ?? s.min_units)));
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
