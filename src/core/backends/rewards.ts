/**
 * Reward backends: how to score completions of prompts or conversations (config objects),
 * and which of a reward model's outputs is "good" (REWARD_LABEL).
 *
 * A reward model answers one row per input (a sequence classifier), or one row per token
 * or step (a token classifier: vLLM's token_classify task, Qwen2ForRewardModel; a process
 * reward model). Each row holds one value per label: one for a one-label reward model
 * (sigmoid(r), or r for problem_type "regression"), two for a [bad, good] classifier
 * (softmax). allot reads the label's value in the last row: the only row of a sequence
 * output, the last token's (or step's) of a token output.
 */
import { z } from "zod";
import { ClassifyResponseSchema, type ClassifyResponse, type LmInput, PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";
import { Misconfigured } from "../errors.js";
import type { BackendCall } from "./call.js";

export interface Scored {
  readonly input: LmInput;
  readonly completion: string;
}

/**
 * Which output is the reward: a label's index (negative counts from the end: -1 is the
 * last), or its name as the model's config names it (id2label, e.g. "LABEL_1").
 */
export type RewardLabel = { readonly index: number } | { readonly name: string };

/** The last label: the only one of a one-label reward model, "good" of a [bad, good] classifier. */
export const LAST_LABEL: RewardLabel = { index: -1 };

/**
 * REWARD_LABEL's text read as a label: an integer is an index, anything else a name.
 *
 * @example parseLabel("1") // { index: 1 }
 * @example parseLabel("LABEL_1") // { name: "LABEL_1" }
 */
export function parseLabel(text: string): RewardLabel {
  return /^-?\d+$/.test(text.trim()) ? { index: Number(text.trim()) } : { name: text.trim() };
}

export const describeLabel = (l: RewardLabel): string => ("name" in l ? `label "${l.name}"` : l.index === -1 ? "the last label" : `label ${l.index}`);

export interface RewardBackend {
  /** Calls whose results, concatenated in order, are one score per pair. */
  readonly score: (model: string, pairs: readonly Scored[], label?: RewardLabel) => BackendCall<number[]>[];
  /** The label read when REWARD_LABEL is unset. */
  readonly defaultLabel: RewardLabel;
  /** Whether conversations can be scored (the server renders them with the model's chat template). */
  readonly chat: boolean;
}

const labelError = (message: string) => new Misconfigured({ setting: "REWARD_LABEL", message: `REWARD_LABEL: ${message}` });

/**
 * The label's value in `row`. `argmax` is the name the server gave the row's most
 * probable label (vLLM's and SGLang's /classify `label`), undefined when the protocol
 * gives none: a name is then unreadable, and with two labels the other one is the other
 * index. Throws Misconfigured (REWARD_LABEL) when the row has no such label.
 *
 * @example pick([0.2, 0.8], { index: 1 }) // 0.8
 * @example pick([0.9, 0.1], { name: "good" }, "bad") // 0.1: with two labels, "good" is the one that is not the argmax "bad"
 */
export function pick(row: readonly number[], label: RewardLabel, argmax?: string | null): number {
  if (row.length === 0) throw new Error("an empty reward");
  if ("index" in label) {
    const i = label.index < 0 ? row.length + label.index : label.index;
    if (i < 0 || i >= row.length) throw labelError(`${describeLabel(label)} does not exist: the reward model answers ${row.length} label(s); set REWARD_LABEL to an index from 0 to ${row.length - 1}`);
    return row[i];
  }
  if (argmax === undefined) throw labelError(`"${label.name}" is a label name, but this protocol's answers carry no names: set REWARD_LABEL to its index (0 to ${row.length - 1})`);
  let top = 0;
  row.forEach((v, i) => {
    if (v > row[top]) top = i;
  });
  if (argmax === label.name) return row[top];
  if (row.length === 2) return row[1 - top];
  throw labelError(`"${label.name}" is not this answer's top label (${argmax}) and the model has ${row.length} labels, so its index cannot be told: set REWARD_LABEL to its index`);
}

/** The last row of a pooled output: the output itself, or the last token's (step's) row. */
const lastRow = (data: number[] | number[][]): number[] => (data.length > 0 && Array.isArray(data[0]) ? (data as number[][])[data.length - 1] : (data as number[]));

const byIndex = <D extends { index: number }>(data: readonly D[]) => [...data].sort((a, b) => a.index - b.index);

const pooledScores = (label: RewardLabel) => (res: PoolingResponse) => byIndex(res.data).map((d) => pick(lastRow(d.data), label));

/** /classify: probabilities per input, and the name of the most probable label. */
const classScores = (label: RewardLabel) => (res: ClassifyResponse) => byIndex(res.data).map((d) => pick(d.probs, label, d.label));

/**
 * Calls for a reward endpoint that takes many texts or one conversation per call:
 * consecutive text pairs share one call, each input the prompt followed by the
 * completion; each chat pair is a call of its own, the conversation plus the answer.
 */
function scoringCalls<R>(path: string, extra: object, response: z.ZodType<R>, extract: (label: RewardLabel) => (res: R) => number[]): RewardBackend {
  return {
    defaultLabel: LAST_LABEL,
    chat: true,
    score: (model, pairs, label = LAST_LABEL) => {
      const calls: BackendCall<number[]>[] = [];
      let texts: string[] = [];
      const flush = () => {
        if (texts.length > 0) calls.push({ path, body: { model, input: texts, ...extra }, response, extract: extract(label) });
        texts = [];
      };
      for (const { input, completion } of pairs) {
        if ("prompt" in input) {
          texts.push(input.prompt + completion);
          continue;
        }
        flush();
        calls.push({ path, body: { model, messages: [...input.messages, { role: "assistant", content: completion }], ...extra }, response, extract: extract(label) });
      }
      flush();
      return calls;
    },
  };
}

/**
 * SGLang's native /classify (sglang/srt/entrypoints/http_server.py classify_request: "the
 * arguments and return values are the same as embedding models"): `text`, one object per
 * text with the reward head's raw output in `embedding`. Not /v1/classify, which applies a
 * softmax over that output (serving_classify.py _build_classify_response:
 * `probs = F.softmax(embedding_tensor, dim=0)`), so a one-label reward model scores every
 * answer 1.0. Raw: one label's value is its logit; two or more are softmaxed here.
 */
const SglangEmbeddingSchema = z.object({ embedding: z.array(z.number()) });
const SglangClassifySchema = z.union([SglangEmbeddingSchema, z.array(SglangEmbeddingSchema)]);
const softmax = (v: readonly number[]) => {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};
const sglangClassify: RewardBackend = {
  defaultLabel: LAST_LABEL,
  chat: false,
  // No `model`: an SGLang server serves one, and EmbeddingReqInput has no such field.
  score: (_model, pairs, label = LAST_LABEL) => {
    if (pairs.some((p) => !("prompt" in p.input))) {
      throw new Misconfigured({ setting: "REWARDS", message: "REWARDS=sglang-classify scores text only (SGLang's /classify applies no chat template): conversations need vllm-classify or vllm-pooling" });
    }
    if (pairs.length === 0) return [];
    const texts = pairs.map((p) => (p.input as { prompt: string }).prompt + p.completion);
    return [
      {
        path: "/classify",
        body: { text: texts },
        response: SglangClassifySchema,
        extract: (res: z.infer<typeof SglangClassifySchema>) => (Array.isArray(res) ? res : [res]).map((o) => pick(o.embedding.length > 1 ? softmax(o.embedding) : o.embedding, label)),
      },
    ];
  },
};

/**
 * The reward protocols. On vLLM the pooling task decides what /pooling returns, and since
 * 0.21 a server runs one task (its --pooler-config.task, else by priority: classify for a
 * sequence classifier, token_classify for Qwen2ForRewardModel / a process reward model);
 * docs/backends.md has which to use on which version.
 */
export const REWARD_BACKENDS: Record<string, RewardBackend> = {
  /** /pooling with no task: the server's own (≥ 0.21: its one task; 0.11.1–0.20: token_classify rows; ≤ 0.11.0: encode rows). */
  "vllm-pooling": scoringCalls("/pooling", {}, PoolingResponseSchema, pooledScores),
  /** /pooling with task classify: a sequence classifier (0.11.1–0.20, or ≥ 0.21 serving classify). */
  "vllm-pooling-classify": scoringCalls("/pooling", { task: "classify" }, PoolingResponseSchema, pooledScores),
  /** /pooling with task token_classify: a token classifier (Qwen2ForRewardModel), 0.11.1 on. */
  "vllm-pooling-token-classify": scoringCalls("/pooling", { task: "token_classify" }, PoolingResponseSchema, pooledScores),
  /** vLLM's /classify (a sequence classifier, every version): probs per input, and the top label's name. */
  "vllm-classify": scoringCalls("/classify", {}, ClassifyResponseSchema, classScores),
  /** SGLang's native /classify: raw head output per text. */
  "sglang-classify": sglangClassify,
};
