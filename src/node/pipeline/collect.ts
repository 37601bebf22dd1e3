import { readFile, writeFile } from "node:fs/promises";
import { type BackendCall, type Endpoint, runCall } from "../../core/backends/call.js";
import { COMPLETIONS_BACKENDS, type Sampled } from "../../core/backends/completions.js";
import { HIDDEN_STATE_BACKENDS } from "../../core/backends/hidden-states.js";
import { REWARD_BACKENDS, parseLabel } from "../../core/backends/rewards.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { Unavailable } from "../../core/errors.js";
import { type RetryPolicy, defaultRetryPolicy } from "../../core/lm/http.js";
import {
  type CollectSettings,
  CollectSettingsSchema,
  type DataRecord,
  type PromptLine,
  PromptLineSchema,
  RecordSchema,
  type ThinkingLevel,
  conversationOf,
  promptTextOf,
} from "../../core/predictor/dataset.js";
import { appendLines, readJsonl, recoverJsonl } from "./jsonl.js";
import { Progress } from "./progress.js";

/** An LM or reward server, with the retry policy for its calls (default: defaultRetryPolicy). */
export interface LmEndpoint extends Endpoint {
  readonly policy?: RetryPolicy;
}

// The protocols collect speaks are the gateway's own config objects, so training data is
// read exactly as the gateway will read it at serving time.
const SAMPLES = COMPLETIONS_BACKENDS.openai;

type Resolved = Required<Omit<CollectSettings, "thinking_budgets" | "reward_label">> & Pick<CollectSettings, "thinking_budgets" | "reward_label">;

/** The settings' values, defaults filled in for data collected before a setting existed. */
function resolved(s: CollectSettings): Resolved {
  return { ...s, hidden_url: s.hidden_url ?? s.lm, hidden_states: s.hidden_states ?? "vllm-pooling", rewards: s.rewards ?? "vllm-pooling", form: s.form ?? "prompt" };
}

/** The seed of a prompt's samples at a thinking budget: each budget's samples are drawn afresh, independent of the others'. */
const budgetSeed = (seed: number, id: string, budget: number) => promptSeed(seed, `${id}#thinking_token_budget=${budget}`);

function backendOf<T>(table: Record<string, T>, name: string, flag: string): T {
  const found = table[name];
  if (!found) throw new Error(`--${flag} "${name}" is not one of ${Object.keys(table).join(", ")}`);
  return found;
}

/**
 * Hidden states of the inputs, one per input, with the calls the gateway makes: prompts
 * in as many calls as the protocol needs, conversations one per call (the server's chat
 * template with the generation prompt).
 */
async function hiddenStates(e: LmEndpoint, protocol: string, model: string, inputs: readonly LmInput[]): Promise<number[][]> {
  const backend = backendOf(HIDDEN_STATE_BACKENDS, protocol, "hidden-states");
  const calls: { n: number; call: BackendCall<number[][]> }[] = [];
  const chats = inputs.flatMap((x) => ("messages" in x ? [x.messages] : []));
  if (chats.length > 0) {
    if (!backend.chat) throw new Error(`--hidden-states ${protocol} reads text prompts only (no chat template): --chat needs vllm-pooling`);
    for (const m of chats) calls.push({ n: 1, call: backend.chat(model, m) });
  }
  const prompts = inputs.flatMap((x) => ("prompt" in x ? [x.prompt] : []));
  for (let k = 0; k < prompts.length; k += backend.maxPromptsPerCall) {
    const part = prompts.slice(k, k + backend.maxPromptsPerCall);
    calls.push({ n: part.length, call: backend.texts(model, part) });
  }
  const out: number[][] = [];
  for (const { n, call } of calls) {
    const vectors = await runCall({ ...e, role: "hidden states" }, call, e.policy ?? defaultRetryPolicy);
    if (vectors.length !== n) throw new Unavailable({ message: `${e.url}: ${vectors.length} hidden states for ${n} inputs`, retryable: false });
    out.push(...vectors);
  }
  return out;
}

/** What a prompt line asks: its text, or under --chat its conversation. */
const inputOf = (line: PromptLine, form: "prompt" | "chat"): LmInput => (form === "chat" ? { messages: conversationOf(line) } : { prompt: line.prompt ?? promptTextOf(line) });

/** A thinking budget's samples as recorded, refusing a server that does not say what each sample and its thinking cost. */
function thinkingLevel(url: string, budget: number, sampled: Sampled, rewards: number[]): ThinkingLevel {
  const tokens = sampled.sampleTokens;
  if (tokens.some((t) => t === null)) {
    throw new Unavailable({ message: `${url} did not return each sample's token_ids (vLLM's return_token_ids, ≥ 0.10.2): --thinking-budgets needs every sample's cost`, retryable: false });
  }
  if (sampled.reasoningTokens === null) {
    throw new Unavailable({ message: `${url} did not report usage.completion_tokens_details.reasoning_tokens (a thinking model behind a reasoning parser does)`, retryable: false });
  }
  return { budget, samples: sampled.texts, rewards, tokens: tokens as number[], reasoning_tokens: sampled.reasoningTokens };
}

export interface CollectOptions {
  readonly settings: CollectSettings;
  readonly out: string;
  /** Prompts per request. */
  readonly batch: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  readonly endpoint: Omit<LmEndpoint, "url">;
  /** Set to stop scheduling new work (Ctrl-C); in-flight batches still finish and are written. */
  readonly signal?: AbortSignal;
  readonly progress?: boolean;
}

/** A per-prompt seed from the run's seed and the prompt id: a resumed run draws the same samples. */
function promptSeed(seed: number, id: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A resume must talk to the model the data came from, but a model retrained and served
 * under the same name has the same settings. Its hidden state for a prompt already in the
 * data is the model's fingerprint: it must be what was recorded (up to float rounding of
 * a different batch).
 */
async function sameModel(lm: LmEndpoint, protocol: string, model: string, recorded: DataRecord, out: string): Promise<void> {
  const [now] = await hiddenStates(lm, protocol, model, [recorded.messages ? { messages: recorded.messages } : { prompt: recorded.prompt }]);
  const scale = Math.max(1, ...recorded.hidden.map(Math.abs));
  const diff = now.length === recorded.hidden.length ? Math.max(...now.map((x, i) => Math.abs(x - recorded.hidden[i]))) : Infinity;
  if (diff > 1e-3 * scale) {
    throw new Error(
      `${out}: ${model} at ${lm.url} no longer gives prompt ${recorded.id} the hidden state recorded there ` +
        `(${now.length === recorded.hidden.length ? `max difference ${diff.toPrecision(3)}` : `${now.length} values, not ${recorded.hidden.length}`}): ` +
        "the model behind that name has changed; collect into another --out",
    );
  }
}

/**
 * Collects, for every prompt: its hidden state, K samples and their rewards (K at each
 * thinking budget when the settings list budgets), appending
 * one JSON line per prompt to `out`. Resumable: prompts already in `out` are skipped, and
 * a half-written last line (a crash mid-write) is cut off first. The settings live beside
 * the data (`<out>.meta.json`); resuming with different settings is refused.
 *
 * Returns how many prompts this run collected.
 */
export async function collect(opts: CollectOptions): Promise<{ collected: number; skipped: number; total: number }> {
  const s = resolved(opts.settings);
  const metaPath = `${opts.out}.meta.json`;
  const rewards = backendOf(REWARD_BACKENDS, s.rewards, "rewards");
  const label = s.reward_label === undefined ? rewards.defaultLabel : parseLabel(s.reward_label);
  const hiddenBackend = backendOf(HIDDEN_STATE_BACKENDS, s.hidden_states, "hidden-states");
  if (s.form === "chat" && !hiddenBackend.chat) throw new Error(`--hidden-states ${s.hidden_states} reads text prompts only (no chat template): --chat needs vllm-pooling`);
  if (s.form === "chat" && !rewards.chat) throw new Error(`--rewards ${s.rewards} scores text only: --chat needs vllm-classify or a vllm-pooling protocol`);
  try {
    const previous = resolved(CollectSettingsSchema.parse(JSON.parse(await readFile(metaPath, "utf8"))));
    const keys = [...new Set([...Object.keys(s), ...Object.keys(previous)])] as (keyof CollectSettings)[];
    const differs = keys.filter((k) => JSON.stringify(previous[k]) !== JSON.stringify(s[k]));
    if (differs.length > 0) {
      throw new Error(`${opts.out} was collected with other settings (${differs.map((k) => `${k}: ${previous[k] ?? "none"} → ${s[k] ?? "none"}`).join(", ")}); use another --out`);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    await writeFile(metaPath, JSON.stringify(s, null, 2) + "\n");
  }

  const prompts = await readJsonl(s.prompts, PromptLineSchema);
  const ids = new Set<string>();
  for (const p of prompts) {
    if (ids.has(p.id)) throw new Error(`${s.prompts}: duplicate id "${p.id}"`);
    ids.add(p.id);
  }
  const existing = await recoverJsonl(opts.out, RecordSchema);
  const done = new Set(existing.map((r) => r.id));
  const todo = prompts.filter((p) => !done.has(p.id));
  const batches: (typeof todo)[] = [];
  for (let i = 0; i < todo.length; i += opts.batch) batches.push(todo.slice(i, i + opts.batch));

  const lm: LmEndpoint = { url: s.lm, ...opts.endpoint, role: "sampling" };
  const pooler: LmEndpoint = { url: s.hidden_url, ...opts.endpoint };
  if (existing.length > 0) await sameModel(pooler, s.hidden_states, s.model, existing[0], opts.out);
  const scorer: LmEndpoint = { url: s.reward_url, ...opts.endpoint, role: "rewards" };
  const progress = opts.progress ? new Progress(prompts.length, done.size, "collect") : null;
  let collected = 0;

  const budgets = s.thinking_budgets;
  const levels = budgets ?? [null];
  const work = async (batch: typeof todo): Promise<void> => {
    const inputs = batch.map((p) => inputOf(p, s.form));
    const hidden = await hiddenStates(pooler, s.hidden_states, s.model, inputs);
    // One completions call per prompt (and thinking budget) keeps each prompt's samples tied to its own seed.
    const params = (budget: number | null) => ({
      temperature: s.temperature,
      topP: 1,
      maxTokens: s.max_tokens,
      // vLLM's spelling; token ids give each sample's cost, not only their sum.
      ...(budget === null ? {} : { extra: { thinking_token_budget: budget, return_token_ids: true } }),
    });
    const samples = await Promise.all(
      batch.flatMap((p, i) =>
        levels.map((b) =>
          runCall(lm, SAMPLES.sample(s.model, inputs[i], s.samples, params(b), b === null ? promptSeed(s.seed, p.id) : budgetSeed(s.seed, p.id, b)), lm.policy ?? defaultRetryPolicy),
        ),
      ),
    );
    const pairs = batch.flatMap((_, i) => levels.flatMap((_, l) => samples[i * levels.length + l].texts.map((completion) => ({ input: inputs[i], completion }))));
    const scored = (await Promise.all(rewards.score(s.reward_model, pairs, label).map((call) => runCall(scorer, call, scorer.policy ?? defaultRetryPolicy)))).flat();
    if (scored.length !== pairs.length) throw new Unavailable({ message: `${s.reward_url}: ${scored.length} scores for ${pairs.length} samples`, retryable: false });
    const lines = batch.map((p, i) => {
      const { id, prompt: _prompt, messages: _messages, ...meta } = p;
      const input = inputs[i];
      const at = (l: number) => samples[i * levels.length + l];
      const rewardsAt = (l: number) => scored.slice((i * levels.length + l) * s.samples, (i * levels.length + l + 1) * s.samples);
      const top = levels.length - 1;
      const record: DataRecord = {
        id,
        prompt: promptTextOf(p),
        ...("messages" in input ? { messages: [...input.messages] } : {}),
        hidden: hidden[i],
        samples: at(top).texts,
        rewards: rewardsAt(top),
        tokens: at(top).completionTokens,
        ...(budgets ? { thinking: budgets.map((budget, l) => thinkingLevel(s.lm, budget, at(l), rewardsAt(l))) } : {}),
        meta,
      };
      return JSON.stringify(record);
    });
    await appendLines(opts.out, lines);
    collected += batch.length;
    progress?.advance(batch.length);
  };

  let next = 0;
  const worker = async () => {
    while (next < batches.length && !opts.signal?.aborted) await work(batches[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, batches.length) }, worker));
  return { collected, skipped: done.size, total: prompts.length };
}
