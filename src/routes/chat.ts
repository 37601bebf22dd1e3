import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { MessagesSchema } from "../contracts/lm-protocol.js";
import { AllotInfoSchema, UsageSchema, samplingFields, stopList } from "../contracts/openai.js";
import type { AppEnv } from "../env.js";
import { openaiStream, streamPieces } from "../http/openai-stream.js";
import { errorDoc as err } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { allotHeaders, pinnedUnits, serveOnline } from "../online/serve.js";

/** OpenAI's chat completions request, the fields allot honours. */
const ChatRequest = z
  .strictObject({
    ...samplingFields,
    messages: MessagesSchema,
    max_tokens: z.int().min(1).max(32_768).optional().describe("deprecated by OpenAI in favour of max_completion_tokens; either works"),
    max_completion_tokens: z.int().min(1).max(32_768).optional(),
  })
  .openapi("ChatCompletionRequest");

const ChatResponse = z
  .object({
    id: z.string(),
    object: z.literal("chat.completion"),
    created: z.int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.int(), message: z.object({ role: z.literal("assistant"), content: z.string() }), finish_reason: z.string().nullable(), logprobs: z.null() })),
    usage: UsageSchema,
    allot: AllotInfoSchema,
  })
  .openapi("ChatCompletionResponse");

export const chat = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
chat.use("/v1/chat/completions", requireTenant);

chat.openapi(
  createRoute({
    method: "post",
    path: "/v1/chat/completions",
    summary: "OpenAI-compatible chat completions with adaptive best-of-k",
    description:
      "As POST /v1/completions, for a conversation. The messages go to the LM server untouched, so its own chat template " +
      "renders them for the hidden state, the samples and the reward model (HIDDEN_STATES=vllm-pooling reads " +
      "conversations through vLLM's /pooling with `messages`).",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: ChatRequest } } } },
    responses: {
      200: {
        description: "The best answer (or, with stream: true, its chunks as text/event-stream).",
        content: { "application/json": { schema: ChatResponse }, "text/event-stream": { schema: z.string() } },
      },
      400: err("Malformed request."),
      401: err("Missing or invalid API key."),
      429: err("Over budget (type budget_exceeded, naming the tenant and the window)."),
      502: err("The LM or the reward model failed."),
    },
  }),
  async (c) => {
    const req = c.req.valid("json");
    const served = await serveOnline(c.env, c.get("tenant"), {
      input: { messages: req.messages },
      model: req.model,
      params: { temperature: req.temperature, topP: req.top_p, maxTokens: req.max_completion_tokens ?? req.max_tokens ?? 16, stop: stopList(req.stop) },
      seed: req.seed,
      pinned: pinnedUnits(c.req.header("x-allot-units"), req.allot?.units),
    });
    const { result } = served;
    const id = `chatcmpl-${crypto.randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const content = result.best ?? "";
    const usage = { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
    const allot = { model: served.model, samples: served.samples, units: served.units, predicted_success: served.predicted, price: served.price, reward: result.reward };
    const headers = allotHeaders(served);
    if (req.stream) {
      const chunk = (delta: object, finish_reason: string | null, extra = {}) => ({
        id,
        object: "chat.completion.chunk",
        created,
        model: served.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason }],
        ...extra,
      });
      return openaiStream(
        [
          chunk({ role: "assistant", content: "" }, null),
          ...streamPieces(content).map((piece) => chunk({ content: piece }, null)),
          chunk({}, result.finishReason ?? "stop", { allot }),
          ...(req.stream_options?.include_usage ? [{ id, object: "chat.completion.chunk", created, model: served.model, choices: [], usage }] : []),
        ],
        headers,
      );
    }
    return c.json(
      {
        id,
        object: "chat.completion" as const,
        created,
        model: served.model,
        choices: [{ index: 0, message: { role: "assistant" as const, content }, finish_reason: result.finishReason, logprobs: null }],
        usage,
        allot,
      },
      200,
      headers,
    );
  },
);
