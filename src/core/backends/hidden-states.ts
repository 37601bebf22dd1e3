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
 * tasks (0.11.1 on; without it 0.11.1–0.20 answer per-token rows, token_embed; from 0.21
 * it must be the server's one task, which it is by default for --convert embed); 0.10 and
 * 0.11.0 ignore the field (their request models allow extra fields) and pool per token
 * (encode), which byIndex reads. No `normalize`: current vLLM refuses it, vLLM before
 * 0.10.1 ignored it. Whether the server L2-normalises is its pooler config's business; a
 * predictor is trained on what the server returns and its manifest's norm range catches a
 * server configured otherwise.
 *
 * A conversation is rendered by the server's chat template with the generation prompt
 * (`add_generation_prompt: true`; /pooling's own default is false,
 * vllm/entrypoints/pooling/base/protocol.py ChatRequestOptionsMixin): the state the model
 * is in when it starts to answer, the same text /v1/chat/completions continues. vLLM 0.10
 * and 0.11.0 render /pooling conversations without it whatever the request says; `allot
 * collect --chat` makes the same call, so a chat-form predictor is trained on what its
 * server returns either way.
 */
const vllmPooling: HiddenStatesBackend = {
  maxPromptsPerCall: 256,
  texts: (model, prompts) => ({ path: "/pooling", body: { model, input: [...prompts], task: "embed" }, response: PoolingResponseSchema, extract: byIndex }),
  chat: (model, messages) => ({ path: "/pooling", body: { model, messages, task: "embed", add_generation_prompt: true }, response: PoolingResponseSchema, extract: byIndex }),
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
 * SGLang computes even when the rest of the prompt hits its prefix cache. /generate takes
 * text, so there is no chat form: chat requests need vllm-pooling.
 *
 * Which rows SGLang returns is decided in its scheduler batch, not per HTTP call
 * (scheduler_components/batch_result_processor.py, process_batch_result_prefill and
 * _append_prefill_hidden_states): before PR #30177 the offset into the batch's rows
 * advanced by the prompt's length while the batch held only its uncached suffix, so any
 * prefix-cache hit (or chunked prefill) in a batch gave later requests another request's
 * rows (#4997); and it advanced only for requests that asked for states, so a batch that
 * mixes them with ordinary completions misassigns them (#32089, PR #32103). Concurrent
 * one-prompt calls are batched together like any others. What gives correct states: a
 * server used for hidden states only, with --disable-radix-cache (and no chunked prefill
 * of these prompts) before #30177, or `sglang-generate-last` on a version with #30177.
 * `allot doctor` checks which.
 */
const sglangGenerate = (returnHiddenStates: true | "last"): HiddenStatesBackend => ({
  maxPromptsPerCall: 1,
  texts: (_model, prompts) => {
    if (prompts.length !== 1) throw new RangeError(`sglang-generate takes one prompt per call, got ${prompts.length}`);
    return {
      path: "/generate",
      body: { text: prompts[0], sampling_params: { max_new_tokens: 1, temperature: 0 }, return_hidden_states: returnHiddenStates },
      response: SglangGenerateSchema,
      // True: [prefill rows (T × d, the uncached suffix), …]. "last": [the prompt's last
      // vector] (PR #30177: prefill appends req_hidden_states[-1]); max_new_tokens 1 ends at the prefill.
      extract: (res: z.infer<typeof SglangGenerateSchema>) => {
        const last = lastRow(res.meta_info.hidden_states[0]);
        if (last.length === 0) throw new Error("the prefill hidden state is empty");
        return [last];
      },
    };
  },
});

export const HIDDEN_STATE_BACKENDS: Record<string, HiddenStatesBackend> = {
  "vllm-pooling": vllmPooling,
  /** SGLang before PR #30177 (return_hidden_states: true): on a dedicated server with --disable-radix-cache. */
  "sglang-generate": sglangGenerate(true),
  /** SGLang with PR #30177 (return_hidden_states: "last"): on a dedicated server. */
  "sglang-generate-last": sglangGenerate("last"),
};
