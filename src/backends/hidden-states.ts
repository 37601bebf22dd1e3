/**
 * Where a prompt's last-layer hidden state comes from: one config object per server
 * protocol (adding a backend means adding an entry, not editing a switch).
 */
import type { ZodType } from "zod";
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

export const HIDDEN_STATE_BACKENDS: Record<string, HiddenStatesBackend<any>> = {
  "vllm-pooling": vllmPooling,
};
