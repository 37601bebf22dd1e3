/**
 * Where a prompt's last-layer hidden state comes from: one config object per server
 * protocol (adding a backend means adding an entry, not editing a switch).
 */
import { type ZodType, z } from "zod";
import { PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";

export interface HiddenStatesBackend<T = unknown> {
  /** Path on the LM server. */
  readonly path: string;
  readonly request: (model: string, prompts: readonly string[]) => unknown;
  readonly response: ZodType<T>;
  /** One vector per prompt, in order. */
  readonly extract: (res: T) => number[][];
}

/** vLLM's pooling runner: LAST pooling, and normalize=false so the predictor sees raw states. */
const vllmPooling: HiddenStatesBackend<PoolingResponse> = {
  path: "/pooling",
  request: (model, prompts) => ({ model, input: [...prompts], normalize: false }),
  response: PoolingResponseSchema,
  extract: (res) => [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data),
};

const Vector = z.array(z.number());
/** Only what allot reads of SGLang's /generate output; the rest of meta_info passes. */
const SglangGenerateSchema = z.array(
  z.object({ meta_info: z.object({ hidden_states: z.array(z.union([Vector, z.array(Vector)])).min(1, "hidden_states is empty") }) }),
);

/**
 * SGLang's native /generate with return_hidden_states (the server needs
 * --enable-return-hidden-states). One token is generated, greedily, because /generate
 * cannot prefill alone; the prompt's state is the last row of the prefill entry, which
 * SGLang computes even when the rest of the prompt hits its prefix cache.
 */
const sglangGenerate: HiddenStatesBackend<z.infer<typeof SglangGenerateSchema>> = {
  path: "/generate",
  request: (_model, prompts) => ({ text: [...prompts], sampling_params: { max_new_tokens: 1, temperature: 0 }, return_hidden_states: true }),
  response: SglangGenerateSchema,
  extract: (res) =>
    res.map((out) => {
      const prefill = out.meta_info.hidden_states[0];
      const last = prefill.length > 0 && Array.isArray(prefill[0]) ? (prefill as number[][])[prefill.length - 1] : (prefill as number[]);
      if (last.length === 0) throw new Error("the prefill hidden state is empty");
      return last;
    }),
};

export const HIDDEN_STATE_BACKENDS: Record<string, HiddenStatesBackend<any>> = {
  "vllm-pooling": vllmPooling,
  "sglang-generate": sglangGenerate,
};
