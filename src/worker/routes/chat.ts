import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import type { ChatMessage } from "../../core/contracts/lm-protocol.js";
import { AllotInfoSchema, UsageSchema, chatFields, lmExtras, nullMeansAbsent, samplingFields, stopList } from "../../core/contracts/openai.js";
import type { AppEnv } from "../env.js";
import { onlineResponses } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { CHAT_FORMAT, openaiResponse } from "../online/openai-response.js";
import { pinnedUnits, roundsCap, serveOnline } from "../online/serve.js";

/**
 * A message as OpenAI clients send it. It goes to the LM server untouched (its chat
 * template renders it), so fields allot does not read (name, tool_call_id, content parts
 * of other types) pass through for the server to take or refuse.
 */
const Message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
});

/** OpenAI's chat completions request: every field of the spec (see contracts/openai.ts for what each does here). */
const ChatRequest = z
  .strictObject({
    ...samplingFields,
    ...chatFields,
    messages: z.array(Message).min(1).max(256),
  })
  .openapi("ChatCompletionRequest", { example: { model: "strong", messages: [{ role: "user", content: "345+678=" }], max_completion_tokens: 12, temperature: 0.8 } });

const ChatResponse = z
  .object({
    id: z.string(),
    object: z.literal("chat.completion"),
    created: z.int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        message: z.object({ role: z.literal("assistant"), content: z.string(), refusal: z.null() }),
        finish_reason: z.string().nullable(),
        logprobs: z.unknown().nullable(),
      }),
    ),
    usage: UsageSchema,
    allot: AllotInfoSchema,
  })
  .openapi("ChatCompletionResponse");

export const chat = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
chat.use("/v1/chat/completions", requireTenant, nullMeansAbsent);

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
    const served = await serveOnline(c.env, c.get("home"), {
      inputs: [{ messages: req.messages as unknown as ChatMessage[] }],
      model: req.model,
      params: {
        temperature: req.temperature,
        topP: req.top_p,
        maxTokens: req.max_completion_tokens ?? req.max_tokens ?? 16,
        stop: stopList(req.stop),
        extra: lmExtras(req),
      },
      seed: req.seed,
      pinned: pinnedUnits(c.req.header("x-allot-units"), req.allot?.units),
      rounds: roundsCap(c.req.header("x-allot-rounds"), req.allot?.rounds),
      route: "chat",
    }, (p) => c.executionCtx.waitUntil(p));
    return openaiResponse(c, served, CHAT_FORMAT, { on: req.stream, usage: req.stream_options?.include_usage ?? false });
  },
);
