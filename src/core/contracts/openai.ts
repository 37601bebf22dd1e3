/**
 * The request fields of allot's OpenAI-compatible routes, as data: ONE table, a row per
 * field, saying on which endpoints it exists (chat, completions, responses) with its
 * schema there, what allot does with it, and when it is sent to the LM server. Derived
 * from it (nothing else lists fields):
 *   - each route's request schema (`requestSchema`): the table's fields validated, any
 *     other field kept;
 *   - what is forwarded to the LM (`lmExtras`): the fields sent as they are, and every
 *     field the table does not know (vLLM and SGLang take provider fields such as top_k,
 *     min_p, repetition_penalty, chat_template_kwargs, structured_outputs; vLLM keeps and
 *     ignores what it does not know);
 *   - docs/openai.md's field table (`fieldsDoc`, `npm run docs:openai`; a test fails when
 *     the committed one is stale).
 *
 * A field the client leaves out is left out: the LM server's defaults apply (vLLM's come
 * from the model's generation_config.json). `null` means absent, for every field
 * (`nullMeansAbsent`).
 */
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { ResponsesInput, ResponsesTool } from "./responses.js";

export type Endpoint = "chat" | "completions" | "responses";
export const ENDPOINTS: readonly Endpoint[] = ["chat", "completions", "responses"];

/**
 * What allot does with a field:
 *   - `lm`: passed to the LM server (when and under which name: `sent`);
 *   - `allot`: allot acts on it (and says how);
 *   - `ignored`: accepted, and nothing allot or the LM computes depends on it;
 *   - `refused`: a 400 that says why (any value but the harmless ones the schema allows).
 */
export type Kind = "lm" | "allot" | "ignored" | "refused";

export interface FieldRow {
  readonly name: string;
  /** The endpoints the field exists on, with its schema on each. */
  readonly on: Partial<Record<Endpoint, z.ZodType>>;
  readonly kind: Kind;
  /** What allot does with it, for the docs (and why, for a refusal). */
  readonly does: string;
  /** When it goes to the LM server, in words; null when it never does. */
  readonly sent: string | null;
  /**
   * For `lm` fields sent as they are: the values that ask for nothing (the spec's
   * defaults), which are not sent, so a server without the feature is not asked for it.
   * Fields the routes translate themselves (`mapped`) are not in lmExtras.
   */
  readonly asksNothing?: (v: unknown) => boolean;
  readonly mapped?: true;
}

/** A value the field may take only as null (absent): anything else is refused with `why`. */
const refusedValue = (why: string) => z.unknown().refine(() => false, { error: why });
const impossible = (why: string) => ({ error: why });
const anything = z.unknown();
const bookkeeping = "bookkeeping for OpenAI's platform; nothing allot or the LM computes depends on it";

const chatOnly = (schema: z.ZodType) => ({ chat: schema });
/** vLLM's reasoning_effort values ("max" is for DeepSeek V4); vLLM refuses any other with a 400. */
const REASONING_EFFORT = z.enum(["none", "minimal", "low", "medium", "high", "xhigh", "max"]);
const both = (schema: z.ZodType) => ({ chat: schema, completions: schema });
const all = (schema: z.ZodType) => ({ chat: schema, completions: schema, responses: schema });

const StopSchema = z.union([z.string(), z.array(z.string()).max(4)]);
const ChatTool = z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string().min(1) }).optional() });
const ChatToolChoice = z.union([z.enum(["none", "auto", "required"]), z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string().min(1) }) })]);
const ResponsesToolChoice = z.union([z.enum(["none", "auto", "required"]), z.looseObject({ type: z.string(), name: z.string().optional() })]);

/** A chat message as OpenAI clients send it; it goes to the LM server untouched. */
export const MessageSchema = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
});

/** The one table. Order: the fields every endpoint has, then chat's, completions', responses'. */
export const FIELDS: readonly FieldRow[] = [
  { name: "model", on: all(z.string().min(1)), kind: "allot", does: "finds the predictor (or router) that plans the request; a router's choice is the model the LM is asked for", sent: "always: the model (a router's choice)", mapped: true },
  {
    name: "temperature",
    on: all(z.number().min(0).max(2)),
    kind: "lm",
    does: "below 1e-5 (vLLM's greedy threshold) allot draws one sample: k greedy samples are k copies of one",
    sent: "when given",
    mapped: true,
  },
  { name: "top_p", on: all(z.number().gt(0).max(1)), kind: "lm", does: "", sent: "when given", mapped: true },
  {
    name: "n",
    on: both(z.int().min(1).max(128)),
    kind: "allot",
    does: "the n best of the samples drawn, best first (at least n are drawn, all charged); with tools, ranked by agreement",
    sent: null,
    mapped: true,
  },
  { name: "stream", on: all(z.boolean()), kind: "allot", does: "one planned sample streams the LM's tokens as they come; more send SSE keep-alive comments while they sample, then the chosen answer", sent: null, mapped: true },
  {
    name: "stream_options",
    on: all(z.looseObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })),
    kind: "allot",
    does: "`include_usage`: a last chunk with the usage of every sample drawn (chat, completions); `include_obfuscation` ignored",
    sent: null,
    mapped: true,
  },
  {
    name: "stop",
    on: both(StopSchema),
    kind: "allot",
    does: "applied by allot to the answers it keeps, after they are scored, so the verifier judges whole answers (a stop that cuts every sample short cannot make them all fail)",
    sent: "only when one sample is drawn (nothing is chosen between samples)",
    mapped: true,
  },
  { name: "seed", on: all(z.int()), kind: "lm", does: "each round of sampling gets its own seed derived from it", sent: "when given (per round)", mapped: true },
  { name: "frequency_penalty", on: both(z.number().min(-2).max(2)), kind: "lm", does: "", sent: "unless 0", asksNothing: (v) => v === 0 },
  { name: "presence_penalty", on: both(z.number().min(-2).max(2)), kind: "lm", does: "", sent: "unless 0", asksNothing: (v) => v === 0 },
  { name: "logit_bias", on: both(z.record(z.string(), z.number().min(-100).max(100))), kind: "lm", does: "", sent: "unless {}", asksNothing: (v) => typeof v === "object" && v !== null && Object.keys(v).length === 0 },
  {
    name: "user",
    on: all(z.string()),
    kind: "ignored",
    does: bookkeeping,
    sent: null,
  },
  {
    name: "max_tokens",
    on: { chat: z.int().min(1), completions: z.int().min(1) },
    kind: "lm",
    does: "no cap but the model's context (the server refuses more, with its reason)",
    sent: "when given (chat: max_completion_tokens wins)",
    mapped: true,
  },
  // ---- chat
  { name: "messages", on: chatOnly(z.array(MessageSchema).min(1).max(1024)), kind: "lm", does: "the LM server's chat template renders them for the hidden state, the samples and the reward model", sent: "always, untouched", mapped: true },
  { name: "max_completion_tokens", on: chatOnly(z.int().min(1)), kind: "lm", does: "as max_tokens", sent: "when given, as max_tokens", mapped: true },
  { name: "logprobs", on: { chat: z.boolean(), completions: z.int().min(0).max(20) }, kind: "lm", does: "the kept sample's logprobs come back as the LM gave them", sent: "unless false", asksNothing: (v) => v === false },
  { name: "top_logprobs", on: { chat: z.int().min(0).max(20), responses: z.int().min(0).max(20) }, kind: "lm", does: "", sent: "with logprobs (responses: sets logprobs)", mapped: true },
  {
    name: "response_format",
    on: chatOnly(z.looseObject({ type: z.enum(["text", "json_object", "json_schema"]) })),
    kind: "lm",
    does: "",
    sent: 'unless {"type": "text"}',
    asksNothing: (v) => (v as { type?: string }).type === "text",
  },
  {
    name: "reasoning_effort",
    on: chatOnly(REASONING_EFFORT),
    kind: "lm",
    does: "passed to the LM's chat template (vLLM's values; \"max\" is for DeepSeek V4); vLLM refuses any other with a 400, so allot does first. For a model in THINKING_MODELS it pins the thinking: allot chooses no budget of its own",
    sent: "when given",
  },
  {
    name: "thinking_token_budget",
    on: { chat: z.int().min(-1).max(1_000_000), completions: z.int().min(-1).max(1_000_000) },
    kind: "lm",
    does: "vLLM's cap on a sample's thinking tokens (-1: unlimited): the client's own, kept as it is; for a model in THINKING_MODELS allot then chooses no budget of its own (as for reasoning_effort), and otherwise chooses one per prompt (docs/thinking.md)",
    sent: "when given",
  },
  {
    name: "tools",
    on: { chat: z.array(ChatTool).max(128), responses: z.array(ResponsesTool).max(128) },
    kind: "lm",
    does: "the LM calls them; samples that call tools are ranked by agreement (the call most samples make), text answers by the reward model; k as usual, in one round",
    sent: "when non-empty (responses: function tools in chat's shape; other tool types refused)",
    mapped: true,
  },
  { name: "tool_choice", on: { chat: ChatToolChoice, responses: ResponsesToolChoice }, kind: "lm", does: "", sent: "when given (responses: in chat's shape)", mapped: true },
  { name: "parallel_tool_calls", on: { chat: z.boolean(), responses: z.boolean() }, kind: "lm", does: "", sent: "when given" },
  {
    name: "functions",
    on: chatOnly(z.array(anything).max(0, impossible("functions is deprecated by OpenAI in favour of tools; send tools (allot serves them)"))),
    kind: "refused",
    does: "deprecated in favour of `tools`, which allot serves",
    sent: null,
  },
  {
    name: "function_call",
    on: chatOnly(z.enum(["none", "auto"], impossible("function_call is deprecated by OpenAI in favour of tool_choice; send tools and tool_choice"))),
    kind: "refused",
    does: "deprecated in favour of `tool_choice`; `none` and `auto` accepted",
    sent: null,
  },
  { name: "modalities", on: chatOnly(z.array(z.literal("text", impossible('allot\'s answers are text: modalities may only be ["text"]')))), kind: "refused", does: 'allot\'s answers are text: only `["text"]`', sent: null },
  { name: "audio", on: chatOnly(refusedValue("allot's answers are text: audio output is not supported")), kind: "refused", does: "audio output: allot's answers are text", sent: null },
  { name: "web_search_options", on: chatOnly(refusedValue("allot's LM servers do not search the web")), kind: "refused", does: "allot's LM servers do not search the web", sent: null },
  { name: "metadata", on: both(z.record(z.string(), z.string())), kind: "ignored", does: bookkeeping, sent: null },
  { name: "store", on: chatOnly(z.boolean()), kind: "ignored", does: bookkeeping, sent: null },
  { name: "service_tier", on: all(z.string()), kind: "ignored", does: bookkeeping, sent: null },
  { name: "prompt_cache_key", on: { chat: z.string(), responses: z.string() }, kind: "ignored", does: bookkeeping + " (vLLM and SGLang cache prefixes by themselves)", sent: null },
  { name: "prompt_cache_retention", on: { chat: z.string(), responses: z.string() }, kind: "ignored", does: bookkeeping, sent: null },
  { name: "prompt_cache_options", on: { chat: anything, responses: anything }, kind: "ignored", does: bookkeeping, sent: null },
  { name: "moderation", on: { chat: anything, responses: anything }, kind: "ignored", does: "OpenAI's moderation of the request; allot's LM servers do not moderate", sent: null },
  { name: "safety_identifier", on: { chat: z.string(), responses: z.string() }, kind: "ignored", does: bookkeeping, sent: null },
  { name: "verbosity", on: chatOnly(z.string()), kind: "ignored", does: "OpenAI's models only", sent: null },
  { name: "prediction", on: chatOnly(anything), kind: "ignored", does: "predicted outputs speed up OpenAI's models only", sent: null },
  // ---- completions
  { name: "prompt", on: { completions: anything }, kind: "allot", does: "a string, or up to 64: one choice per prompt (n each), each planned and charged on its own; token-id prompts are refused", sent: "one prompt per LM call", mapped: true },
  { name: "echo", on: { completions: z.boolean() }, kind: "allot", does: "allot puts the prompt before the answer (the LM is not asked)", sent: null, mapped: true },
  {
    name: "suffix",
    on: { completions: refusedValue("suffix is not supported: vLLM answers 400 \"suffix is not currently supported\" to any suffix, even an empty one (send null or leave it out)") },
    kind: "refused",
    does: "vLLM answers 400 \"suffix is not currently supported\" to any suffix, even an empty one, so allot refuses it first",
    sent: null,
  },
  { name: "best_of", on: { completions: z.int().min(1).max(1_000) }, kind: "allot", does: "pins the samples drawn, as x-allot-units does; the best is the reward model's choice, not the highest logprob", sent: null, mapped: true },
  // ---- responses
  { name: "input", on: { responses: ResponsesInput }, kind: "allot", does: "a string or items (messages, function_call, function_call_output, reasoning, item_reference to a stored response's items), turned into chat messages", sent: "as messages", mapped: true },
  { name: "instructions", on: { responses: z.string() }, kind: "allot", does: "a system message first (not carried over by previous_response_id, as OpenAI's)", sent: "as the first message", mapped: true },
  { name: "max_output_tokens", on: { responses: z.int().min(1) }, kind: "lm", does: "as max_tokens", sent: "when given, as max_tokens", mapped: true },
  { name: "previous_response_id", on: { responses: z.string() }, kind: "allot", does: "the stored response's conversation (its input and output) goes before `input`", sent: "as messages", mapped: true },
  {
    name: "reasoning",
    on: { responses: z.looseObject({ effort: REASONING_EFFORT.nullish(), summary: z.string().nullish(), generate_summary: z.string().nullish() }) },
    kind: "lm",
    does: "`effort` as chat's reasoning_effort; `summary` ignored (the reasoning comes back whole, as a reasoning item)",
    sent: "effort, as reasoning_effort",
    mapped: true,
  },
  {
    name: "text",
    on: { responses: z.looseObject({ format: z.looseObject({ type: z.enum(["text", "json_object", "json_schema"]) }).optional(), verbosity: z.string().nullish() }) },
    kind: "lm",
    does: "`format` as chat's response_format; `verbosity` ignored",
    sent: 'format (unless {"type": "text"}), as response_format',
    mapped: true,
  },
  { name: "metadata", on: { responses: z.record(z.string(), z.string()) }, kind: "allot", does: "kept with the stored response and returned with it", sent: null },
  {
    name: "store",
    on: { responses: z.boolean() },
    kind: "allot",
    does: "whether the response is kept (default true) for GET /v1/responses/{id}, previous_response_id and item_reference, RESPONSES_RETENTION_SECONDS",
    sent: null,
  },
  { name: "include", on: { responses: z.array(z.string()) }, kind: "ignored", does: "allot has no encrypted reasoning or search results to include; the kept sample's reasoning is always returned", sent: null },
  { name: "truncation", on: { responses: z.enum(["auto", "disabled"]) }, kind: "ignored", does: "allot does not drop items: an input longer than the model's context is refused by the LM server", sent: null },
  { name: "max_tool_calls", on: { responses: z.int().min(1) }, kind: "ignored", does: "limits OpenAI's built-in tools, which allot does not run", sent: null },
  {
    name: "background",
    on: { responses: z.literal(false, impossible("allot answers in the request; for work that runs on its own, use the Batch API (POST /v1/files, /v1/batches)")) },
    kind: "refused",
    does: "`true`: allot answers in the request (the Batch API runs work on its own)",
    sent: null,
  },
  { name: "conversation", on: { responses: refusedValue("the Conversations API is not served; chain responses with previous_response_id") }, kind: "refused", does: "the Conversations API is not served: use previous_response_id", sent: null },
  { name: "prompt", on: { responses: refusedValue("prompt templates are OpenAI's dashboard objects; send input and instructions") }, kind: "refused", does: "prompt templates are OpenAI's dashboard objects", sent: null },
  {
    name: "allot",
    on: all(z.strictObject({ units: z.int().min(1).max(1_000).optional(), rounds: z.int().min(1).max(16).optional() })),
    kind: "allot",
    does: "allot's extension: `units` pins the samples (as the x-allot-units header), `rounds` caps the rounds of sampling (x-allot-rounds), within the tenant's max_rounds",
    sent: null,
    mapped: true,
  },
];

/** The rows of one endpoint. */
export const fieldsOf = (endpoint: Endpoint): readonly FieldRow[] => FIELDS.filter((f) => f.on[endpoint] !== undefined);

/**
 * An endpoint's request schema: its table fields, each optional (`required` ones not),
 * and any other field kept as it is (it goes to the LM). `extra` overrides a field's
 * schema where the route needs a narrower one (a completions prompt).
 */
export function requestSchema<R extends string>(endpoint: Endpoint, required: readonly R[], extra: Record<string, z.ZodType> = {}) {
  const shape: Record<string, z.ZodType> = {};
  for (const f of fieldsOf(endpoint)) {
    const schema = extra[f.name] ?? f.on[endpoint]!;
    const described = f.does ? schema.describe(f.does) : schema;
    shape[f.name] = required.includes(f.name as R) ? described : described.optional();
  }
  return z.looseObject(shape);
}

/** Fields the table does not know on `endpoint`: forwarded to the LM as they are. */
export function unknownFields(endpoint: Endpoint, body: Record<string, unknown>): Record<string, unknown> {
  const known = new Set(fieldsOf(endpoint).map((f) => f.name));
  return Object.fromEntries(Object.entries(body).filter(([k, v]) => !known.has(k) && v !== undefined));
}

/**
 * What of a chat or completions request goes to the LM as it is: the table's `lm` fields
 * that are not mapped (unless their value asks for nothing), and every unknown field.
 * The sampling fields (temperature, top_p, max tokens, stop, seed) and tools are the
 * route's (SamplingParams), not here.
 */
export function lmExtras(endpoint: Endpoint, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fieldsOf(endpoint)) {
    const v = body[f.name];
    if (f.kind !== "lm" || f.mapped || v === undefined || f.asksNothing?.(v)) continue;
    out[f.name] = v;
  }
  return { ...out, ...unknownFields(endpoint, body) };
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

/** A table cell: pipes escaped, newlines folded. */
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

const KIND_WORDS: Record<Kind, string> = { lm: "passed to the LM", allot: "allot acts on it", ignored: "ignored", refused: "refused" };

/**
 * docs/openai.md's field table: one row per field, its endpoints, what allot does, when
 * it is sent to the LM. Written into the doc between its markers by `npm run docs:openai`.
 *
 * @example fieldsDoc().split("\n")[0] // "| field | chat | completions | responses | kind | what allot does | sent to the LM |"
 */
export function fieldsDoc(): string {
  const mark = (f: FieldRow, e: Endpoint) => (f.on[e] ? "✓" : "");
  return [
    "| field | chat | completions | responses | kind | what allot does | sent to the LM |",
    "|---|:-:|:-:|:-:|---|---|---|",
    ...FIELDS.map((f) => `| \`${f.name}\` | ${mark(f, "chat")} | ${mark(f, "completions")} | ${mark(f, "responses")} | ${KIND_WORDS[f.kind]} | ${cell(f.does || "—")} | ${cell(f.sent ?? "never")} |`),
    "| *any other field* | ✓ | ✓ | ✓ | passed to the LM | vLLM and SGLang take provider fields (`top_k`, `min_p`, `repetition_penalty`, `chat_template_kwargs`, `structured_outputs`, …); vLLM keeps and ignores what it does not know | as given |",
  ].join("\n");
}

/** Token usage, the same shape the LM servers report. */
export { UsageSchema, stopList } from "./lm-protocol.js";

const AllotChoiceSchema = z.object({
  model: z.string().describe("the model that answered (the router's choice when the request's model is a router)"),
  samples: z.int().describe("samples drawn"),
  units: z.int().describe("units charged: samples × the model's cost per sample (1 without routing)"),
  predicted_success: z.number().nullable().describe("the predictor's single-sample success; null when units were pinned or decoding was greedy"),
  reward: z.number().nullable().describe("the kept sample's reward (null when tool calls were ranked by agreement)"),
  rounds: z.int().describe("rounds of sampling (round trips to the LM); more than 1 when the request sampled in waves"),
  ranked_by: z.enum(["reward", "agreement"]).describe("what chose the kept sample: the reward model, or agreement among tool calls"),
  agreement: z.number().nullable().describe("ranked by agreement: the share of samples that made the kept call"),
});

export const AllotInfoSchema = AllotChoiceSchema.extend({
  samples: z.int().describe("samples drawn, over all choices"),
  units: z.number().describe("units charged in all: every sample at its model's cost, and the prompts' prefills"),
  prefill_units: z.number().describe("of which for reading the prompts' hidden states (PREFILL_UNITS each)"),
  planned_units: z.int().describe("units planned at the price; more than units when the budget had less left"),
  price: z.number().describe("the tenant's price of one unit when the request was planned"),
  choices: z.array(AllotChoiceSchema).describe("per prompt"),
  warnings: z.array(z.string()).optional().describe("what the client's options did to what allot could judge (e.g. every sample cut by max_tokens)"),
}).openapi("AllotInfo");
