/**
 * The subset of the GPU servers' HTTP protocols that allot speaks: OpenAI-style
 * completions (vLLM, SGLang, TGI), vLLM's pooling API (hidden states, reward models) and
 * the model list. The reference LM serves these; the gateway's backends call them.
 */
import { z } from "zod";

/** Limits of the reference LM server; a real vLLM has its own. */
export const LM_LIMITS = { maxN: 128, maxPrompts: 1024, maxSamplesPerRequest: 8192, maxStops: 4 } as const;

/**
 * Sampling fields vLLM implements and the reference LM does not: refused by name, so a
 * client learns which field to drop (or which server to use), not "unrecognized key".
 */
const notImplemented = (field: string) =>
  z
    .unknown()
    .refine(() => false, { error: `${field} is not implemented by the reference LM (vLLM and SGLang implement it)` })
    .optional();
const UNIMPLEMENTED = Object.fromEntries(
  ["frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "response_format", "suffix", "echo"].map((f) => [f, notImplemented(f)]),
);

/** vLLM's ChatCompletionRequest.reasoning_effort literal ("max" is DeepSeek V4's). */
export const REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max"] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

const BUDGET_MESSAGE = "`thinking_token_budget` must be a non-negative integer or -1 for unlimited.";

/**
 * The thinking fields, spelled as vLLM spells them (chat and completions):
 * `thinking_token_budget` (vllm/sampling_params.py, validate_thinking_token_budget: a
 * non-negative integer, or -1 for unlimited, which is the same as leaving it out);
 * `reasoning_effort` (vLLM hands it to the chat template; the reference LM's thinking
 * model maps each level to a budget, listed in its manifest); `return_token_ids` (each
 * choice's generated token ids); `include_reasoning` (chat: false leaves the reasoning out).
 */
const THINKING_FIELDS = {
  thinking_token_budget: z.int({ error: BUDGET_MESSAGE }).min(-1, { error: BUDGET_MESSAGE }).nullable().optional(),
  reasoning_effort: z.enum(REASONING_EFFORTS).nullable().optional(),
  return_token_ids: z.boolean().nullable().optional(),
};

/**
 * Unknown fields are kept and ignored, as vLLM does (its request models allow extra fields:
 * vllm/entrypoints/openai/engine/protocol.py OpenAIBaseModel, extra="allow"), so a
 * provider's field (top_k, min_p, …) a client sends through the gateway does not fail here.
 */
export const CompletionRequestSchema = z.looseObject({
  ...UNIMPLEMENTED,
  ...THINKING_FIELDS,
  model: z.string().min(1),
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(LM_LIMITS.maxPrompts)]),
  n: z.int().min(1).max(LM_LIMITS.maxN).default(1),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  max_tokens: z.int().min(1).default(16),
  stop: z.union([z.string(), z.array(z.string().min(1)).max(LM_LIMITS.maxStops)]).optional(),
  seed: z.int().optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).optional(),
  user: z.string().optional(),
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

/** OpenAI's `stop`, one string or several, as a list (undefined when absent). */
export const stopList = (stop: string | readonly string[] | undefined): string[] | undefined =>
  stop === undefined ? undefined : typeof stop === "string" ? [stop] : [...stop];

export const UsageSchema = z.object({
  prompt_tokens: z.int(),
  completion_tokens: z.int(),
  total_tokens: z.int(),
  /** OpenAI's breakdown: of the completion tokens, those spent thinking (markers not counted, as vLLM counts them). */
  completion_tokens_details: z.object({ reasoning_tokens: z.int() }).nullable().optional(),
});

export const CompletionResponseSchema = z.object({
  id: z.string(),
  object: z.literal("text_completion"),
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.int(),
      text: z.string(),
      // vLLM also answers "abort", and "tool_calls" / "content_filter" exist in OpenAI's spec.
      finish_reason: z.string().nullable(),
      logprobs: z.unknown().optional(),
      // With return_token_ids (vLLM's CompletionResponseChoice).
      prompt_token_ids: z.array(z.int()).nullable().optional(),
      token_ids: z.array(z.int()).nullable().optional(),
    }),
  ),
  usage: UsageSchema,
});
export type CompletionResponse = z.infer<typeof CompletionResponseSchema>;

/** A tool call in an assistant message, as OpenAI's chat format has it. */
export const ToolCallSchema = z.object({
  id: z.string(),
  type: z.literal("function"),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

/**
 * A chat message as OpenAI sends it: text content (parts other than text are not
 * supported by the reference LM), none for an assistant message that calls tools, and the
 * tool-calling fields (an assistant's tool_calls, a tool result's tool_call_id).
 */
export const ChatMessageSchema = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(z.strictObject({ type: z.literal("text"), text: z.string() })).min(1), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(ToolCallSchema).optional(),
  tool_call_id: z.string().optional(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;
export const MessagesSchema = z.array(ChatMessageSchema).min(1).max(256);

/** The text of a message, its text parts joined ("" for none). */
export const messageText = (m: ChatMessage): string =>
  typeof m.content === "string" ? m.content : Array.isArray(m.content) ? m.content.map((p) => p.text).join("") : "";

/**
 * vLLM's pooling tasks (vllm/tasks.py, PoolingTask), and the ones it removed: a request
 * naming a removed task is refused (check_removed_pooling_task).
 */
export const POOLING_TASKS = ["embed", "classify", "token_embed", "token_classify", "plugin", "embed&token_classify"] as const;
export const REMOVED_POOLING_TASKS: Record<string, string> = {
  score: "`score` task was removed; use `classify` instead.",
  encode: "`encode` task was removed; use `token_embed` or `token_classify` instead.",
};

/**
 * vLLM's /pooling as current vLLM takes it (vllm/entrypoints/pooling/base/protocol.py):
 * texts (`input`) or one conversation (`messages`, rendered by the chat template); an
 * optional `task`; `use_activation` (L2 normalisation for embed, the activation for
 * classify). `normalize` was removed and is refused (reject_removed_pooling_parameters).
 */
export const PoolingRequestSchema = z
  .strictObject({
    model: z.string().min(1),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(LM_LIMITS.maxPrompts)]).optional(),
    messages: MessagesSchema.optional(),
    /** With messages: render the chat template's generation prompt (vLLM's default for /pooling: false). */
    add_generation_prompt: z.boolean().optional(),
    task: z.string().optional(),
    use_activation: z.boolean().nullable().optional(),
    encoding_format: z.literal("float").optional(),
    normalize: z.unknown().optional(),
    user: z.string().optional(),
  })
  .refine((r) => (r.input === undefined) !== (r.messages === undefined), { message: "send either input or messages", path: ["input"] });
export type PoolingRequest = z.infer<typeof PoolingRequestSchema>;

export const PoolingResponseSchema = z.object({
  id: z.string(),
  object: z.literal("list"),
  created: z.int(),
  model: z.string(),
  // vLLM's PoolingResponseData.data: one vector (sequence tasks) or one row per token
  // (token tasks, and vLLM 0.10's default "encode" with ALL pooling).
  data: z.array(z.object({ index: z.int(), object: z.literal("pooling"), data: z.union([z.array(z.number()), z.array(z.array(z.number()))]) })),
  usage: UsageSchema,
});
export type PoolingResponse = z.infer<typeof PoolingResponseSchema>;

/** vLLM's /classify (vllm/entrypoints/pooling/classify/protocol.py): texts or one conversation. */
export const ClassifyRequestSchema = z
  .strictObject({
    model: z.string().min(1),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(LM_LIMITS.maxPrompts)]).optional(),
    messages: MessagesSchema.optional(),
    use_activation: z.boolean().nullable().optional(),
    user: z.string().optional(),
  })
  .refine((r) => (r.input === undefined) !== (r.messages === undefined), { message: "send either input or messages", path: ["input"] });

/** ClassificationResponse: one row of class probabilities per input. */
export const ClassifyResponseSchema = z.object({
  id: z.string(),
  object: z.literal("list"),
  created: z.int(),
  model: z.string(),
  data: z.array(z.object({ index: z.int(), label: z.string().nullable(), probs: z.array(z.number()), num_classes: z.int() })),
  usage: UsageSchema,
});
export type ClassifyResponse = z.infer<typeof ClassifyResponseSchema>;

/** A function tool as OpenAI's chat format declares it. */
export const ChatToolSchema = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }),
});

/** Chat completions; unknown fields are kept and ignored, as vLLM does. */
export const ChatCompletionRequestSchema = z.looseObject({
  ...UNIMPLEMENTED,
  ...THINKING_FIELDS,
  include_reasoning: z.boolean().optional(),
  model: z.string().min(1),
  messages: MessagesSchema,
  n: z.int().min(1).max(LM_LIMITS.maxN).default(1),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  max_tokens: z.int().min(1).optional(),
  max_completion_tokens: z.int().min(1).optional(),
  stop: z.union([z.string(), z.array(z.string().min(1)).max(LM_LIMITS.maxStops)]).optional(),
  seed: z.int().optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).optional(),
  tools: z.array(ChatToolSchema).optional(),
  tool_choice: z
    .union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })])
    .optional(),
  parallel_tool_calls: z.boolean().optional(),
  user: z.string().optional(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

export const ChatCompletionResponseSchema = z.object({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.int(),
      // vLLM names a reasoning model's thinking `reasoning` (from 0.11.1; `reasoning_content` before, and SGLang still).
      message: z.object({
        role: z.literal("assistant"),
        content: z.string().nullable(),
        tool_calls: z.array(ToolCallSchema).nullish(),
        reasoning: z.string().nullish(),
        reasoning_content: z.string().nullish(),
      }),
      finish_reason: z.string().nullable(),
      logprobs: z.unknown().optional(),
      token_ids: z.array(z.int()).nullable().optional(),
    }),
  ),
  prompt_token_ids: z.array(z.int()).nullable().optional(),
  usage: UsageSchema,
});
export type ChatCompletionResponse = z.infer<typeof ChatCompletionResponseSchema>;

/**
 * A streamed chunk of /v1/completions or /v1/chat/completions (OpenAI's chunk format, as
 * vLLM and SGLang send it): the text or the message's delta per choice index, the
 * finish_reason on a choice's last chunk, and usage on the last chunk when asked for.
 */
export const CompletionChunkSchema = z.object({
  choices: z.array(
    z.object({
      index: z.int(),
      text: z.string().optional(),
      delta: z
        .object({
          content: z.string().nullish(),
          reasoning: z.string().nullish(),
          reasoning_content: z.string().nullish(),
          tool_calls: z
            .array(z.object({ index: z.int(), id: z.string().nullish(), type: z.literal("function").nullish(), function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish() }))
            .nullish(),
        })
        .optional(),
      finish_reason: z.string().nullish(),
      logprobs: z.unknown().optional(),
    }),
  ),
  usage: UsageSchema.nullish(),
});
export type CompletionChunk = z.infer<typeof CompletionChunkSchema>;

/** OpenAI's /v1/embeddings request, as vLLM's embed runner takes it (unknown fields kept and ignored). */
export const EmbeddingRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(LM_LIMITS.maxPrompts)]),
  encoding_format: z.enum(["float", "base64"]).default("float"),
  dimensions: z.int().min(1).optional(),
  user: z.string().optional(),
});

export const EmbeddingResponseSchema = z.object({
  object: z.literal("list"),
  data: z.array(z.object({ object: z.literal("embedding"), index: z.int(), embedding: z.union([z.array(z.number()), z.string()]) })),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.int(), total_tokens: z.int() }),
});

export const ModelListSchema = z.object({
  object: z.literal("list"),
  data: z.array(
    z.object({
      id: z.string(),
      object: z.literal("model"),
      created: z.int(),
      owned_by: z.string(),
      max_model_len: z.int().optional(),
    }),
  ),
});

/**
 * SGLang's native `/generate` (server started with --enable-return-hidden-states), the
 * part allot uses. With `return_hidden_states`, each output's `meta_info.hidden_states`
 * is a list: first the prefill's per-token rows (T × d, or one vector when only one token
 * was computed), then one vector per decode step. The prefill always computes the prompt's
 * last token, even on a prefix-cache hit, so its last row is the prompt's hidden state.
 */
export const GenerateRequestSchema = z.strictObject({
  text: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(LM_LIMITS.maxPrompts)]),
  sampling_params: z
    .strictObject({
      max_new_tokens: z.int().min(1).default(16),
      temperature: z.number().min(0).max(2).default(1),
      top_p: z.number().gt(0).max(1).default(1),
      stop: z.union([z.string(), z.array(z.string().min(1)).max(LM_LIMITS.maxStops)]).optional(),
    })
    .default({ max_new_tokens: 16, temperature: 1, top_p: 1 }),
  return_hidden_states: z.boolean().default(false),
});
export type GenerateRequest = z.infer<typeof GenerateRequestSchema>;

const Vector = z.array(z.number());
export const GenerateOutputSchema = z.object({
  text: z.string(),
  meta_info: z.object({
    id: z.string(),
    prompt_tokens: z.int(),
    completion_tokens: z.int(),
    finish_reason: z.object({ type: z.string() }).nullable(),
    hidden_states: z.array(z.union([Vector, z.array(Vector)])).optional(),
  }),
});
export const GenerateResponseSchema = z.array(GenerateOutputSchema);
export type GenerateResponse = z.infer<typeof GenerateResponseSchema>;

/** What the gateway sends a model: a text prompt, or a conversation for the server's chat template. */
export type LmInput = { readonly prompt: string } | { readonly messages: readonly ChatMessage[] };
