/**
 * Thinking budgets: how a budget of N thinking tokens reaches each kind of model server
 * (config objects, as completions.ts is for sampling). Each entry turns a sampling request
 * plus N into the call(s) it takes; a budget of -1 (`UNLIMITED`, vLLM's spelling) lets the
 * model think as long as it likes. Pure: `runThinking` is the only thing that talks HTTP.
 *
 * - `vllm`: the request field `thinking_token_budget` (vLLM ≥ 0.20 with a reasoning parser).
 * - `sglang`: SGLang's custom logit processor with `custom_params.thinking_budget`.
 * - `reasoning-effort`: the nearest `reasoning_effort` level, for servers with only levels.
 * - `budget-forcing`: s1's budget forcing (arXiv 2501.19393) through two /v1/completions
 *   calls, for any server that completes raw text.
 *
 * Sources are cited in docs/backends.md ("Thinking budgets").
 */
import { z } from "zod";
import type { LmInput } from "../contracts/lm-protocol.js";
import type { RetryPolicy } from "../lm/http.js";
import type { CallMeter } from "../lm/meter.js";
import { type BackendCall, type Endpoint, runCall } from "./call.js";
import { COMPLETIONS_BACKENDS, type Sampled, type SamplingParams } from "./completions.js";

/** A budget that does not cap the thinking (vLLM: "-1 means unlimited (treated as unset)"). */
export const UNLIMITED = -1;

/**
 * One call of a thinking request and, when the answer takes more than one call, how to
 * build the next from this one's result. The last step's result is the whole answer.
 */
export interface ThinkingStep {
  readonly call: BackendCall<Sampled>;
  readonly next?: (r: Sampled) => ThinkingStep;
}

/** (model, input, n, params, seed, N) → the call(s) that sample n answers thinking at most N tokens. */
export type ThinkingBackend = (model: string, input: LmInput, n: number, params: SamplingParams, seed: number | undefined, budget: number) => ThinkingStep;

/** How a deployment's server takes a thinking budget. */
export const ThinkingBackendConfigSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("vllm") }),
  z.object({
    kind: z.literal("sglang"),
    /**
     * The processor as SGLang's `CustomLogitProcessor.to_str()` printed it (a JSON string
     * holding a dill pickle, signed on newer SGLang), e.g. of
     * `Qwen3ThinkingBudgetLogitProcessor`: a TypeScript client cannot make one, only replay it.
     */
    processor: z.string().min(1),
  }),
  z.object({
    kind: z.literal("reasoning-effort"),
    /** Each level's thinking budget in tokens (null: unlimited), e.g. {"low": 8, "high": 32, "max": null}. */
    levels: z.record(z.string(), z.int().nonnegative().nullable()).refine((l) => Object.keys(l).length > 0, "at least one level"),
  }),
  z.object({
    kind: z.literal("budget-forcing"),
    /** The model's thinking markers, as text in its prompt. */
    start: z.string().min(1).default("<think>"),
    end: z.string().min(1).default("</think>"),
  }),
]);
export type ThinkingBackendConfig = z.output<typeof ThinkingBackendConfigSchema>;

/**
 * A model that thinks, as the deployment serves it (THINKING_MODELS): how its server takes
 * a budget, and what a unit of a tenant's budget buys in its generated tokens (thinking,
 * the markers and the answer: what the GPU spends). Unset: its predictor's manifest says.
 */
export const ThinkingModelSchema = z.strictObject({
  backend: ThinkingBackendConfigSchema.default({ kind: "vllm" }),
  tokens_per_unit: z.number().positive().max(1e6).optional(),
  /** A sample's most tokens when neither the client (max_tokens) nor a thinking predictor bounds it: what is reserved for it. */
  max_tokens: z.int().positive().max(1_000_000).default(1024),
});
export type ThinkingModel = z.output<typeof ThinkingModelSchema>;

const openai = COMPLETIONS_BACKENDS.openai;

/** Refuses a budget that is neither a non-negative integer nor -1, as vLLM does (a 400 there). */
function checkBudget(budget: number): void {
  if (!Number.isInteger(budget) || budget < UNLIMITED) throw new RangeError(`a thinking budget is a non-negative integer or ${UNLIMITED} for unlimited, not ${budget}`);
}

/** params with more request fields; an `extra` the caller gave is kept, ours win on a clash. */
const withExtra = (p: SamplingParams, fields: Record<string, unknown>): SamplingParams => ({ ...p, extra: { ...p.extra, ...fields } });

/**
 * The level whose budget is nearest N; a tie goes to the smaller budget, so the cap is not
 * overshot. Unlimited (-1) takes the unlimited level (null) if there is one, else the largest.
 *
 * @example nearestEffort({ none: 0, low: 8, high: 32, max: null }, 12) // "low"
 * @example nearestEffort({ none: 0, low: 8, high: 32, max: null }, 24) // "high"
 * @example nearestEffort({ none: 0, low: 8, high: 32, max: null }, -1) // "max"
 */
export function nearestEffort(levels: Readonly<Record<string, number | null>>, budget: number): string {
  checkBudget(budget);
  const entries = Object.entries(levels);
  if (entries.length === 0) throw new RangeError("no reasoning_effort levels to choose from");
  const unlimited = entries.find(([, b]) => b === null);
  const finite = entries.filter((e): e is [string, number] => e[1] !== null);
  if (budget === UNLIMITED) {
    if (unlimited) return unlimited[0];
    return finite.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  }
  // Only unlimited levels: that is the only way to ask.
  if (finite.length === 0) return entries[0][0];
  return finite.reduce((a, b) => {
    const da = Math.abs(a[1] - budget);
    const db = Math.abs(b[1] - budget);
    return db < da || (db === da && b[1] < a[1]) ? b : a;
  })[0];
}

/**
 * vLLM: `thinking_token_budget` in the completions or chat body, -1 sent as is. vLLM passes
 * it to SamplingParams and forces the end-of-thinking string once N tokens are spent; the
 * server needs `--reasoning-parser` (else it has no end marker to force).
 */
const vllm = (): ThinkingBackend => (model, input, n, p, seed, budget) => {
  checkBudget(budget);
  return { call: openai.sample(model, input, n, withExtra(p, { thinking_token_budget: budget }), seed) };
};

/**
 * SGLang: top-level `custom_logit_processor` (the processor's `to_str()`) and
 * `custom_params: {"thinking_budget": N}`, which `ThinkingBudgetLogitProcessor` reads.
 * The server must run with `--enable-custom-logit-processor`: without it current SGLang
 * refuses the request, and older releases dropped the processor with only a warning.
 * Unlimited sends neither field (the processor skips a negative budget anyway).
 */
const sglang =
  (c: Extract<ThinkingBackendConfig, { kind: "sglang" }>): ThinkingBackend =>
  (model, input, n, p, seed, budget) => {
    checkBudget(budget);
    if (budget === UNLIMITED) return { call: openai.sample(model, input, n, p, seed) };
    const given = p.extra?.custom_params;
    const customParams = { ...(given && typeof given === "object" ? given : {}), thinking_budget: budget };
    return { call: openai.sample(model, input, n, withExtra(p, { custom_logit_processor: c.processor, custom_params: customParams }), seed) };
  };

/** OpenAI-style servers that take only effort levels: the nearest level to N (`nearestEffort`). */
const reasoningEffort =
  (c: Extract<ThinkingBackendConfig, { kind: "reasoning-effort" }>): ThinkingBackend =>
  (model, input, n, p, seed, budget) => ({ call: openai.sample(model, input, n, withExtra(p, { reasoning_effort: nearestEffort(c.levels, budget) }), seed) });

/**
 * Budget forcing (Muennighoff et al., s1, arXiv 2501.19393 §3.1) on a server that only
 * completes text. Call 1 continues prompt + start with `max_tokens: N` and `stop: [end]`:
 * the thinking, cut at N tokens or where the model closed it. Call 2 continues each
 * prompt + start + thinking + end (one prompt per sample, n = 1) and is the answer. N = 0
 * skips call 1 (servers refuse max_tokens 0); unlimited gives call 1 params.maxTokens.
 *
 * The result reads like vLLM's completions under a budget: each text is
 * start + thinking + end + answer, completionTokens is both calls' completion tokens and
 * reasoningTokens is call 1's (the end marker included when the model wrote it itself:
 * it was generated). params.maxTokens bounds the answer call; params.stop applies to it.
 * A conversation has no raw prompt to continue, so this takes `{ prompt }` only.
 */
const budgetForcing =
  (c: Extract<ThinkingBackendConfig, { kind: "budget-forcing" }>): ThinkingBackend =>
  (model, input, n, p, seed, budget) => {
    checkBudget(budget);
    if (!("prompt" in input)) throw new TypeError("budget forcing continues a raw prompt through /v1/completions; a conversation needs the server's own budget (vllm, sglang or reasoning-effort)");
    const prompt = input.prompt + c.start;
    const answer = (thoughts: readonly string[], first: Sampled | null): ThinkingStep => {
      const prompts = thoughts.map((t) => prompt + t + c.end);
      // One prompt per sample, n = 1 each: the server numbers the choices prompt-major,
      // so choice i answers thought i, and byChoice(…, n) reads them back in order.
      const one = openai.sample(model, { prompt: prompts[0] }, n, p, seed);
      return {
        call: {
          ...one,
          body: { ...(one.body as object), n: 1, prompt: prompts },
          extract: (res) => joinThinking(one.extract(res), thoughts, first, c),
        },
      };
    };
    if (budget === 0) return answer(new Array<string>(n).fill(""), null);
    const think = openai.sample(model, { prompt }, n, { ...p, maxTokens: budget === UNLIMITED ? p.maxTokens : budget, stop: [c.end] }, seed);
    return { call: think, next: (r) => answer(r.texts, r) };
  };

/** The answer call's result as one sample per thought, with the thinking call's tokens counted in. */
function joinThinking(ans: Sampled, thoughts: readonly string[], first: Sampled | null, c: { start: string; end: string }): Sampled {
  const samples = ans.samples.map((s, i) => ({
    ...s,
    text: c.start + thoughts[i] + c.end + s.text,
    reasoning: { field: "reasoning" as const, text: thoughts[i] },
    tokens: first === null ? (s.tokens ?? null) : s.tokens != null && first.sampleTokens[i] != null ? s.tokens + first.sampleTokens[i]! : null,
  }));
  return {
    samples,
    texts: samples.map((s) => s.text),
    finishReasons: ans.finishReasons,
    logprobs: ans.logprobs,
    sampleTokens: samples.map((s) => s.tokens ?? null),
    promptTokens: ans.promptTokens + (first?.promptTokens ?? 0),
    completionTokens: ans.completionTokens + (first?.completionTokens ?? 0),
    reasoningTokens: first?.completionTokens ?? 0,
  };
}

/** Each kind of server, from its config to its backend. */
export const THINKING_BACKENDS: { readonly [K in ThinkingBackendConfig["kind"]]: (config: Extract<ThinkingBackendConfig, { kind: K }>) => ThinkingBackend } = {
  vllm,
  sglang,
  "reasoning-effort": reasoningEffort,
  "budget-forcing": budgetForcing,
};

/** The backend a config describes. */
export function thinkingBackend(config: ThinkingBackendConfig): ThinkingBackend {
  return (THINKING_BACKENDS[config.kind] as (c: ThinkingBackendConfig) => ThinkingBackend)(config);
}

/** Makes a thinking request's calls in turn, each built from the one before; the last result is the answer. */
export async function runThinking(to: Endpoint, step: ThinkingStep, policy: RetryPolicy, meter?: CallMeter): Promise<Sampled> {
  let r = await runCall(to, step.call, policy, meter);
  while (step.next) {
    step = step.next(r);
    r = await runCall(to, step.call, policy, meter);
  }
  return r;
}
