/**
 * An online request as the OpenAI-compatible routes hand it to serving, whatever its wire
 * format, and what serving hands back.
 */
import type { RerankResult } from "../../core/backends/best-of-k.js";
import type { Reasoning, SamplingParams } from "../../core/backends/completions.js";
import type { LmInput, ToolCall } from "../../core/contracts/lm-protocol.js";
import type { RequestRecord } from "../../core/contracts/metrics.js";
import { Invalid } from "../../core/errors.js";

/** Below this temperature vLLM samples greedily (_SAMPLING_EPS): k samples would be k copies of one. */
export const GREEDY_TEMPERATURE = 1e-5;

export interface OnlineRequest {
  /** One or more prompts (a completions prompt array), or one conversation. */
  readonly inputs: readonly LmInput[];
  readonly model: string;
  /** What the LM is sent for every sample (the client's stop is `stop`, not here). */
  readonly params: SamplingParams;
  /**
   * The client's stop strings: applied by allot to the answers it keeps, after they are
   * scored (the verifier judges whole answers); sent to the LM only when one sample is drawn.
   */
  readonly stop?: readonly string[];
  /** Answers per input: the n best of the samples drawn (at least n are drawn). Default 1. */
  readonly n?: number;
  /** The request offers tools the LM may call: its samples are drawn in one round (agreement needs them all). */
  readonly tools?: boolean;
  readonly seed?: number;
  /** Samples the caller pinned (x-allot-units, body allot.units, best_of), and where it said so. */
  readonly pinned?: { readonly units: number; readonly param: string };
  /** The most rounds the caller allows (x-allot-rounds or body allot.rounds), within the tenant's max_rounds. */
  readonly rounds?: { readonly max: number; readonly param: string };
  /**
   * The id the response will carry, made before serving so that an audit of the request
   * keeps it and a client's feedback on it is joined to the audit (docs/audits.md#feedback).
   */
  readonly responseId?: string;
  /** The API route it came by, for the console's counts (default completions). */
  readonly route?: RequestRecord["route"];
}

/** One answer given back: a sample drawn, with the client's stop applied. */
export interface Answer {
  readonly text: string;
  readonly toolCalls: readonly ToolCall[] | null;
  readonly reasoning: Reasoning | null;
  readonly finishReason: string | null;
  readonly logprobs: unknown;
  readonly reward: number | null;
}

export interface ServedChoice {
  /** The model that answered: the request's, or the one the router chose. */
  readonly model: string;
  /** Samples drawn. */
  readonly samples: number;
  /** Units charged for this prompt's samples: each sample at its model's cost (1 without routing). */
  readonly units: number;
  /** The predictor's single-sample success of the model that answered (q(1) for a curve predictor); null when not predicted. */
  readonly predicted: number | null;
  /** Rounds of sampling (round trips to the LM): 1 unless the prompt sampled in rounds. */
  readonly rounds: number;
  readonly result: RerankResult;
  /** The answers given back for this input, best first (n of them). */
  readonly answers: readonly Answer[];
  /**
   * A thinking model's (THINKING_MODELS): the thinking budget of each round's samples, in
   * tokens (null: allot sent none, the client's own or the model's), the tokens they
   * generated (what `units` charges) and those spent thinking.
   */
  readonly thinking?: { readonly budgets: readonly (number | null)[]; readonly tokens: number; readonly reasoning_tokens: number };
}

export interface OnlineResult {
  readonly choices: readonly ServedChoice[];
  readonly price: number;
  /** Units planned at the price (for rounds, their caps). */
  readonly planned: number;
  /** The budget had fewer units than planned, so what was drawn was cut to fit. */
  readonly budgetLimited: boolean;
  /** Units charged in all: the samples', and the prompts' prefills (PREFILL_UNITS each). */
  readonly units: number;
  /** Of which the prefills'. */
  readonly prefill: number;
  /** What the client's options did to what allot could judge, said in the answer (allot.warnings, x-allot-warning). */
  readonly warnings: readonly string[];
  /** The tenant's tightest budget window after this request (x-ratelimit-*); null when none is limited or it is not known here. */
  readonly budget: { readonly limit: number; readonly remaining: number; readonly resetsAt: number } | null;
}

/**
 * An integer setting from a request header (validated here: 400 naming the header) or
 * from the body (validated by its schema); the header wins. Undefined when neither is set.
 */
function headerOrBody(header: string | undefined, headerName: string, max: number, body: number | undefined, bodyParam: string): { value: number; param: string } | undefined {
  if (header !== undefined) {
    const n = Number(header);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Invalid({ message: `${headerName} must be an integer from 1 to ${max}, got "${header}"`, param: headerName });
    return { value: n, param: headerName };
  }
  return body === undefined ? undefined : { value: body, param: bodyParam };
}

/** The x-allot-units header or the body's allot.units (or best_of), validated; the header wins. */
export function pinnedUnits(header: string | undefined, body: number | undefined, bodyParam = "allot.units"): OnlineRequest["pinned"] {
  const v = headerOrBody(header, "x-allot-units", 1_000, body, bodyParam);
  return v && { units: v.value, param: v.param };
}

/** The x-allot-rounds header or the body's allot.rounds, validated; the header wins. */
export function roundsCap(header: string | undefined, body: number | undefined): OnlineRequest["rounds"] {
  const v = headerOrBody(header, "x-allot-rounds", 16, body, "allot.rounds");
  return v && { max: v.value, param: v.param };
}
