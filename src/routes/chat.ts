import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { MessagesSchema } from "../contracts/lm-protocol.js";
import { AllotInfoSchema, UsageSchema, samplingFields, stopList } from "../contracts/openai.js";
import type { AppEnv } from "../env.js";
import { onlineResponses } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { CHAT_FORMAT, openaiResponse } from "../online/openai-response.js";
import { pinnedUnits, serveOnline } from "../online/serve.js";

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
    responses: onlineResponses(ChatResponse, z.string(), "The best answer"),
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
    return openaiResponse(c, served, CHAT_FORMAT, { on: req.stream, usage: req.stream_options?.include_usage ?? false });
  },
);
