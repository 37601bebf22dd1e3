/**
 * The three calls allot makes to an LM deployment, in the protocols the GPU servers
 * speak: hidden states (vLLM /pooling), samples (OpenAI /v1/completions with n) and
 * rewards (a reward model behind vLLM /pooling).
 */
import { type CompletionResponse, CompletionResponseSchema, PoolingResponseSchema } from "../contracts/lm-protocol.js";
import { BackendError, type RetryPolicy, postJson } from "./http.js";

export interface LmEndpoint {
  /** Base URL, e.g. http://127.0.0.1:8000 */
  readonly url: string;
  readonly apiKey?: string;
  readonly policy?: RetryPolicy;
}

const opts = (e: LmEndpoint) => ({ policy: e.policy, headers: e.apiKey ? { authorization: `Bearer ${e.apiKey}` } : undefined });
const base = (e: LmEndpoint) => e.url.replace(/\/+$/, "");

/** Last-token hidden states of each prompt (LAST pooling, normalize=false). */
export async function hiddenStates(e: LmEndpoint, model: string, prompts: readonly string[]): Promise<number[][]> {
  const res = await postJson(`${base(e)}/pooling`, { model, input: prompts }, PoolingResponseSchema, opts(e));
  if (res.data.length !== prompts.length) throw new BackendError(`pooling returned ${res.data.length} vectors for ${prompts.length} inputs`, 200, false, 1);
  return [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data);
}

export interface SampleRequest {
  readonly model: string;
  readonly prompts: readonly string[];
  readonly n: number;
  readonly temperature: number;
  readonly maxTokens: number;
  readonly seed?: number;
  readonly stop?: readonly string[];
}

/** n samples per prompt: texts[i][k], with the response's token usage. */
export async function sample(e: LmEndpoint, r: SampleRequest): Promise<{ texts: string[][]; usage: CompletionResponse["usage"] }> {
  const body = { model: r.model, prompt: [...r.prompts], n: r.n, temperature: r.temperature, max_tokens: r.maxTokens, seed: r.seed, stop: r.stop };
  const res = await postJson(`${base(e)}/v1/completions`, body, CompletionResponseSchema, opts(e));
  const texts = r.prompts.map(() => new Array<string>(r.n));
  for (const c of res.choices) {
    const i = Math.floor(c.index / r.n);
    if (i >= r.prompts.length) throw new BackendError(`completion choice index ${c.index} is out of range`, 200, false, 1);
    texts[i][c.index % r.n] = c.text;
  }
  if (texts.some((t) => t.some((x) => x === undefined))) throw new BackendError("completions returned fewer choices than prompts × n", 200, false, 1);
  return { texts, usage: res.usage };
}

/** Reward-model scores of prompt+completion texts (the first value of each pooled output). */
export async function rewards(e: LmEndpoint, model: string, texts: readonly string[]): Promise<number[]> {
  const res = await postJson(`${base(e)}/pooling`, { model, input: texts }, PoolingResponseSchema, opts(e));
  return [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data[0]);
}
