/**
 * Where a prompt's last-layer hidden state comes from: one config object per server
 * protocol (adding a backend means adding an entry, not editing a switch).
 */
import { z } from "zod";
import { type ChatMessage, PoolingResponseSchema, type PoolingResponse } from "../contracts/lm-protocol.js";
import type { BackendCall } from "./call.js";

export interface HiddenStatesBackend {
  /** One vector per prompt, in order. */
  readonly texts: (model: string, prompts: readonly string[]) => BackendCall<number[][]>;
  /** The state of a conversation rendered by the server's chat template; absent if the protocol has none. */
  readonly chat?: (model: string, messages: readonly ChatMessage[]) => BackendCall<number[][]>;
}

const byIndex = (res: PoolingResponse) => [...res.data].sort((a, b) => a.index - b.index).map((d) => d.data);

/** vLLM's pooling runner: LAST pooling, and normalize=false so the predictor sees raw states. */
const vllmPooling: HiddenStatesBackend = {
  texts: (model, prompts) => ({ path: "/pooling", body: { model, input: [...prompts], normalize: false }, response: PoolingResponseSchema, extract: byIndex }),
  chat: (model, messages) => ({ path: "/pooling", body: { model, messages, normalize: false }, response: PoolingResponseSchema, extract: byIndex }),
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
 * SGLang computes even when the rest of the prompt hits its prefix cache. /generate takes
 * text, so chat requests need a backend with a chat template (vllm-pooling).
 */
const sglangGenerate: HiddenStatesBackend = {
  texts: (_model, prompts) => ({
    path: "/generate",
    body: { text: [...prompts], sampling_params: { max_new_tokens: 1, temperature: 0 }, return_hidden_states: true },
    response: SglangGenerateSchema,
    extract: (res: z.infer<typeof SglangGenerateSchema>) =>
      res.map((out) => {
        const prefill = out.meta_info.hidden_states[0];
        const last = prefill.length > 0 && Array.isArray(prefill[0]) ? (prefill as number[][])[prefill.length - 1] : (prefill as number[]);
        if (last.length === 0) throw new Error("the prefill hidden state is empty");
        return last;
      }),
  }),
};

export const HIDDEN_STATE_BACKENDS: Record<string, HiddenStatesBackend> = {
  "vllm-pooling": vllmPooling,
  "sglang-generate": sglangGenerate,
};
