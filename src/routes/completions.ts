import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { AllotInfoSchema, UsageSchema, samplingFields, stopList } from "../contracts/openai.js";
import type { AppEnv } from "../env.js";
import { onlineResponses } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { COMPLETIONS_FORMAT, openaiResponse } from "../online/openai-response.js";
import { pinnedUnits, serveOnline } from "../online/serve.js";

/** OpenAI's completions request, the fields allot honours. */
const CompletionRequest = z
  .strictObject({
    ...samplingFields,
    prompt: z.union([z.string().min(1), z.array(z.string().min(1)).length(1, "send one prompt per request")]),
    max_tokens: z.int().min(1).max(32_768).default(16),
  })
  .openapi("CompletionRequest");

const CompletionResponse = z
  .object({
    id: z.string(),
    object: z.literal("text_completion"),
    created: z.int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.int(), text: z.string(), finish_reason: z.string().nullable(), logprobs: z.null() })),
    usage: UsageSchema,
    allot: AllotInfoSchema,
  })
  .openapi("CompletionResponse");

export const completions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
completions.use("/v1/completions", requireTenant);

completions.openapi(
  createRoute({
    method: "post",
    path: "/v1/completions",
    summary: "OpenAI-compatible completions with adaptive best-of-k",
    description:
      "allot predicts how much extra samples help this prompt, draws k = the samples whose predicted gain is worth the " +
      "tenant's current price (within its min/max), keeps the best by the reward model, and answers in OpenAI's shape. " +
      "`usage` counts every token of all k samples. Headers x-allot-units, x-allot-predicted-success and x-allot-price " +
      "say what it did; x-allot-units on the request (or body.allot.units) pins k. With `stream: true` the chosen " +
      "answer is streamed as OpenAI's chunks once it is chosen (it cannot be known before all k samples are scored).",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: CompletionRequest } } } },
    responses: onlineResponses(CompletionResponse, z.string(), "The best completion"),
  }),
  async (c) => {
    const req = c.req.valid("json");
    const prompt = typeof req.prompt === "string" ? req.prompt : req.prompt[0];
    const served = await serveOnline(c.env, c.get("tenant"), {
      input: { prompt },
      model: req.model,
      params: { temperature: req.temperature, topP: req.top_p, maxTokens: req.max_tokens, stop: stopList(req.stop) },
      seed: req.seed,
      pinned: pinnedUnits(c.req.header("x-allot-units"), req.allot?.units),
    });
    return openaiResponse(c, served, COMPLETIONS_FORMAT, { on: req.stream, usage: req.stream_options?.include_usage ?? false });
  },
);
