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
  /** The most prompts one `texts` call may carry. */
  readonly maxPromptsPerCall: number;
}

/**
 * A pooled output is one vector, or one row per token (vLLM's token tasks, and 0.10's
 * default "encode" task, whose decoder models pool ALL tokens): the prompt's state is
 * then its last row, which is what LAST pooling returns.
 */
function lastRow(data: number[] | number[][]): number[] {
  if (data.length > 0 && Array.isArray(data[0])) return (data as number[][])[data.length - 1];
  return data as number[];
}

const byIndex = (res: PoolingResponse) =>
  [...res.data]
    .sort((a, b) => a.index - b.index)
    .map((d) => {
      const v = lastRow(d.data);
      if (v.length === 0) throw new Error("a pooled hidden state is empty");
      return v;
    });

/**
 * vLLM's /pooling on a pooling instance of the LM (`--runner pooling --convert embed`,
 * LAST pooling). `task: "embed"` asks for the sequence embedding on every vLLM that knows
 * tasks; older ones ignore the field (their request models allow extra fields) and pool
 * per token, which byIndex reads. No `normalize`: current vLLM refuses it, vLLM before
 * 0.10.1 ignored it. Whether the server L2-normalises is its pooler config's business;
 * a predictor is trained on what the server returns and its manifest's norm range
 * catches a server configured otherwise.
 */
const vllmPooling: HiddenStatesBackend = {
  maxPromptsPerCall: 256,
  texts: (model, prompts) => ({ path: "/pooling", body: { model, input: [...prompts], task: "embed" }, response: PoolingResponseSchema, extract: byIndex }),
  chat: (model, messages) => ({ path: "/pooling", body: { model, messages, task: "embed" }, response: PoolingResponseSchema, extract: byIndex }),
};

const Vector = z.array(z.number());
/** Only what allot reads of SGLang's /generate output for one prompt; the rest of meta_info passes. */
const SglangGenerateSchema = z.object({
  meta_info: z.object({ hidden_states: z.array(z.union([Vector, z.array(Vector)])).min(1, "hidden_states is empty") }),
});

/**
 * SGLang's native /generate with return_hidden_states (the server needs
 * --enable-return-hidden-states). One token is generated, greedily, because /generate
 * cannot prefill alone; the prompt's state is the last row of the prefill entry, which
 * SGLang computes even when the rest of the prompt hits its prefix cache.
 *
 * One prompt per call: in a batched /generate, SGLang versions before
 * sgl-project/sglang#30177 assign hidden-state rows to the wrong prompts when any prompt
 * hits the prefix cache (sgl-project/sglang#4997, #8066), and a wrong vector is silent.
 * /generate takes text, so chat requests need a backend with a chat template (vllm-pooling).
 */
const sglangGenerate: HiddenStatesBackend = {
  maxPromptsPerCall: 1,
  texts: (_model, prompts) => {
    if (prompts.length !== 1) throw new RangeError(`sglang-generate takes one prompt per call, got ${prompts.length}`);
    return {
      path: "/generate",
      body: { text: prompts[0], sampling_params: { max_new_tokens: 1, temperature: 0 }, return_hidden_states: true },
      response: SglangGenerateSchema,
      extract: (res: z.infer<typeof SglangGenerateSchema>) => {
        const last = lastRow(res.meta_info.hidden_states[0]);
        if (last.length === 0) throw new Error("the prefill hidden state is empty");
        return [last];
      },
    };
  },
};

export const HIDDEN_STATE_BACKENDS: Record<string, HiddenStatesBackend> = {
  "vllm-pooling": vllmPooling,
  "sglang-generate": sglangGenerate,
};
