import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { countUnbegun } from "../online/unbegun.js";
import type { ChatMessage } from "../../core/contracts/lm-protocol.js";
import { AllotInfoSchema, UsageSchema, lmExtras, nullMeansAbsent, requestSchema, stopList } from "../../core/contracts/openai.js";
import type { AppEnv } from "../env.js";
import { onlineResponses } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { CHAT_FORMAT, openaiResponse, responseIdFor } from "../online/openai-response.js";
import { pinnedUnits, roundsCap, startOnline } from "../online/serve.js";
import { type CommonBody, offersTools, samplingOf } from "./openai-fields.js";

/**
 * OpenAI's chat completions request: every field of the table (contracts/openai.ts says
 * what each does here), any other field kept for the LM server. Messages go to the LM
 * server untouched (its chat template renders them), so fields allot does not read pass.
 */
export const ChatRequest = requestSchema("chat", ["model", "messages"]).openapi("ChatCompletionRequest", {
  example: { model: "strong", messages: [{ role: "user", content: "345+678=" }], max_completion_tokens: 12, temperature: 0.8 },
});

/** What the handler reads of a validated chat body. */
export type ChatBody = CommonBody & { messages: ChatMessage[]; max_completion_tokens?: number; max_tokens?: number; tools?: unknown[]; tool_choice?: unknown; logprobs?: boolean; top_logprobs?: number };

/** What goes to the LM as it is: the table's pass-through fields and unknown ones, tools when there are some, top_logprobs with logprobs. */
export const chatExtras = (body: ChatBody & Record<string, unknown>) => ({
  ...lmExtras("chat", body),
  ...(body.tools?.length ? { tools: body.tools, ...(body.tool_choice !== undefined ? { tool_choice: body.tool_choice } : {}) } : {}),
  ...(body.logprobs && body.top_logprobs !== undefined ? { top_logprobs: body.top_logprobs } : {}),
});

const ChatResponse = z
  .object({
    id: z.string(),
    object: z.literal("chat.completion"),
    created: z.int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        message: z.object({
          role: z.literal("assistant"),
          content: z.string().nullable(),
          refusal: z.null(),
          tool_calls: z.array(z.object({ id: z.string(), type: z.literal("function"), function: z.object({ name: z.string(), arguments: z.string() }) })).optional(),
          reasoning: z.string().optional().describe("a reasoning model's thinking, when its server (vLLM) calls it so"),
          reasoning_content: z.string().optional().describe("a reasoning model's thinking, when its server (SGLang) calls it so"),
        }),
        finish_reason: z.string().nullable(),
        logprobs: z.unknown().nullable(),
      }),
    ),
    usage: UsageSchema,
    allot: AllotInfoSchema,
  })
  .openapi("ChatCompletionResponse");

export const chat = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
chat.use("/v1/chat/completions", requireTenant, countUnbegun("chat"), nullMeansAbsent);

chat.openapi(
  createRoute({
    method: "post",
    path: "/v1/chat/completions",
    summary: "OpenAI-compatible chat completions with adaptive best-of-k",
    description:
      "As POST /v1/completions, for a conversation. The messages go to the LM server untouched, so its own chat template " +
      "renders them for the hidden state, the samples and the reward model (HIDDEN_STATES=vllm-pooling reads " +
      "conversations through vLLM's /pooling with `messages`). With `tools`, samples that call tools are ranked by agreement.",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: ChatRequest } } } },
    responses: onlineResponses(ChatResponse, z.string(), "The best answer (n best with n)"),
  }),
  async (c) => {
    const body = c.req.valid("json") as ChatBody & Record<string, unknown>;
    const responseId = await responseIdFor(c, CHAT_FORMAT);
    const serving = await startOnline(
      c.env,
      c.get("home"),
      {
        inputs: [{ messages: body.messages }],
        model: body.model,
        params: samplingOf(body, body.max_completion_tokens ?? body.max_tokens, chatExtras(body)),
        stop: stopList(body.stop),
        n: body.n,
        tools: offersTools(body.tools, body.tool_choice),
        seed: body.seed,
        pinned: pinnedUnits(c.req.header("x-allot-units"), body.allot?.units),
        rounds: roundsCap(c.req.header("x-allot-rounds"), body.allot?.rounds),
        route: "chat",
        responseId,
      },
      (p) => c.executionCtx.waitUntil(p),
      { live: body.stream === true, tally: c.get("tally") },
    );
    return openaiResponse(c, { id: responseId, serving }, CHAT_FORMAT, { on: body.stream === true, usage: body.stream_options?.include_usage ?? false });
  },
);
