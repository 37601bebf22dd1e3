/**
 * The OpenAI request and response fields of allot's online routes. Every field of the
 * current chat and completions request spec is accepted, and each is one of three kinds
 * (docs/openai.md lists them):
 *   - passed to the LM server, which honours it as for any client (PASSED_TO_LM);
 *   - ignored, because it does not change what allot or the LM computes (bookkeeping
 *     for OpenAI's own platform: metadata, store, service_tier, …);
 *   - refused with a 400 that says why, only where honouring it is impossible: tools and
 *     audio (the reward model ranks text answers; a tool call or a sound has no reward),
 *     n > 1 (allot returns the best of the samples it draws).
 * `null` means absent, as in the spec: `nullMeansAbsent` strips nulls before validation.
 */
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";

const impossible = (why: string) => ({ error: why });
/** A field that may be sent only as null (i.e. absent): anything else is refused with `why`. */
const refused = (why: string) => z.unknown().refine(() => false, { error: why }).optional();

export const samplingFields = {
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).default(1).describe("0 (greedy decoding) draws one sample: k greedy samples are k copies of one."),
  top_p: z.number().gt(0).max(1).default(1),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  n: z.literal(1, impossible("allot returns the best of the samples it decides to draw: n must be 1")).optional(),
  stream: z.boolean().default(false),
  stream_options: z.object({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).optional(),
  seed: z.int().optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).optional(),
  // Bookkeeping for OpenAI's platform: accepted and ignored.
  user: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  store: z.boolean().optional(),
  service_tier: z.string().optional(),
  prompt_cache_key: z.string().optional(),
  prompt_cache_retention: z.string().optional(),
  safety_identifier: z.string().optional(),
  allot: z
    .strictObject({
      units: z.int().min(1).max(1_000).optional(),
      rounds: z.int().min(1).max(16).optional(),
    })
    .optional()
    .describe(
      "allot's extension: pin the number of samples (the x-allot-units header does the same), or cap the rounds of sampling " +
        "(x-allot-rounds; 1 decides k up front, more stop at the first passing sample), within the tenant's max_rounds.",
    ),
};

/** Chat-only fields. */
export const chatFields = {
  max_tokens: z.int().min(1).max(32_768).optional().describe("deprecated by OpenAI in favour of max_completion_tokens; either works"),
  max_completion_tokens: z.int().min(1).max(32_768).optional(),
  logprobs: z.boolean().optional(),
  top_logprobs: z.int().min(0).max(20).optional(),
  response_format: z.looseObject({ type: z.enum(["text", "json_object", "json_schema"]) }).optional(),
  reasoning_effort: z
    .enum(["none", "minimal", "low", "medium", "high", "xhigh", "max"])
    .optional()
    .describe("passed to the LM's chat template (vLLM's values; \"max\" is for DeepSeek V4); vLLM refuses any other with a 400, so allot does first"),
  tools: z.array(z.unknown()).max(0, impossible("allot ranks text answers with a reward model; a tool call has no reward to rank by, so tools are not supported")).optional(),
  functions: z.array(z.unknown()).max(0, impossible("allot ranks text answers with a reward model; function calls are not supported")).optional(),
  tool_choice: z.union([z.literal("none"), z.literal("auto")], impossible("no tools can be called through allot: tool_choice may only be none or auto")).optional(),
  function_call: z.union([z.literal("none"), z.literal("auto")], impossible("no functions can be called through allot")).optional(),
  parallel_tool_calls: z.boolean().optional(),
  modalities: z.array(z.literal("text", impossible("allot's answers are text: modalities may only be [\"text\"]"))).optional(),
  audio: refused("allot's answers are text: audio output is not supported"),
  verbosity: z.string().optional(),
  prediction: z.unknown().optional(),
  web_search_options: refused("allot's LM servers do not search the web"),
};

/** Completions-only fields. */
export const completionFields = {
  max_tokens: z.int().min(1).max(32_768).default(16),
  logprobs: z.int().min(0).max(5).optional(),
  echo: z.boolean().optional().describe("the answer starts with its prompt (allot adds it; the LM is not asked to echo)"),
  suffix: refused("suffix is not supported: vLLM answers 400 \"suffix is not currently supported\" to any suffix, even an empty one (send null or leave it out)"),
  best_of: z.int().min(1).max(1_000).optional().describe("pins the samples drawn, as x-allot-units does; the best is chosen by the reward model"),
};

/** The fields of a request that go to the LM server as they are (when present). */
export const PASSED_TO_LM = ["frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "response_format", "reasoning_effort"] as const;

/** Values of PASSED_TO_LM fields that ask for nothing (the spec's defaults): not sent, so a server without the feature is not asked for it. */
function asksNothing(k: (typeof PASSED_TO_LM)[number], v: unknown): boolean {
  if (k === "frequency_penalty" || k === "presence_penalty") return v === 0;
  if (k === "logit_bias") return typeof v === "object" && v !== null && Object.keys(v).length === 0;
  if (k === "logprobs") return v === false;
  if (k === "response_format") return (v as { type?: string }).type === "text";
  return false;
}

/** The request's PASSED_TO_LM fields, for SamplingParams.extra. */
export function lmExtras(req: Partial<Record<(typeof PASSED_TO_LM)[number], unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of PASSED_TO_LM) if (req[k] !== undefined && !asksNothing(k, req[k])) out[k] = req[k];
  // top_logprobs means nothing without logprobs.
  if (out.top_logprobs !== undefined && out.logprobs === undefined) delete out.top_logprobs;
  return out;
}

/**
 * OpenAI's clients send `null` for a field they mean to leave out (and the spec allows
 * it for most): drop top-level nulls, and those in stream_options, before the schema
 * sees the body. A body that is not a JSON object is left for the validator to refuse.
 */
export const nullMeansAbsent: MiddlewareHandler = async (c, next) => {
  if (/^application\/([\w.-]+\+)?json/i.test(c.req.header("content-type") ?? "")) {
    const text = await c.req.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body && typeof body === "object" && !Array.isArray(body)) {
      const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
      const cleaned = strip(body as Record<string, unknown>);
      if (cleaned.stream_options && typeof cleaned.stream_options === "object" && !Array.isArray(cleaned.stream_options)) {
        cleaned.stream_options = strip(cleaned.stream_options as Record<string, unknown>);
      }
      // The validator reads the body through this cache (hono/request.ts: json() parses the cached text).
      (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(JSON.stringify(cleaned));
    }
  }
  await next();
};

/** Token usage, the same shape the LM servers report. */
export { UsageSchema, stopList } from "./lm-protocol.js";

const AllotChoiceSchema = z.object({
  model: z.string().describe("the model that answered (the router's choice when the request's model is a router)"),
  samples: z.int().describe("samples drawn"),
  units: z.int().describe("units charged: samples × the model's cost per sample (1 without routing)"),
  predicted_success: z.number().nullable().describe("the predictor's single-sample success; null when units were pinned or decoding was greedy"),
  reward: z.number().nullable().describe("the kept sample's reward"),
  rounds: z.int().describe("rounds of sampling (round trips to the LM); more than 1 when the request sampled in waves"),
});

export const AllotInfoSchema = AllotChoiceSchema.extend({
  samples: z.int().describe("samples drawn, over all choices"),
  units: z.number().describe("units charged in all: every sample at its model's cost, and the prompts' prefills"),
  prefill_units: z.number().describe("of which for reading the prompts' hidden states (PREFILL_UNITS each)"),
  planned_units: z.int().describe("units planned at the price; more than units when the budget had less left"),
  price: z.number().describe("the tenant's price of one unit when the request was planned"),
  choices: z.array(AllotChoiceSchema).describe("per choice (one per prompt)"),
}).openapi("AllotInfo");
