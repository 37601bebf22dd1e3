import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { AllotInfoSchema, UsageSchema, completionFields, lmExtras, nullMeansAbsent, samplingFields, stopList } from "../../core/contracts/openai.js";
import type { AppEnv } from "../env.js";
import { onlineResponses } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { COMPLETIONS_FORMAT, openaiResponse } from "../online/openai-response.js";
import { pinnedUnits, roundsCap, serveOnline } from "../online/serve.js";

/** Prompts per request: each is planned, sampled and reranked on its own. */
const MAX_PROMPTS = 64;

/** OpenAI's completions request: every field of the spec (see contracts/openai.ts for what each does here). */
const CompletionRequest = z
  .strictObject({
    ...samplingFields,
    ...completionFields,
    prompt: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(MAX_PROMPTS)], {
      error: `a prompt is a non-empty string or an array of 1 to ${MAX_PROMPTS} of them (token-id prompts are not supported)`,
    }),
  })
  .openapi("CompletionRequest", { example: { model: "strong", prompt: "345+678=", max_tokens: 12, temperature: 0.8 } });

const CompletionResponse = z
  .object({
    id: z.string(),
    object: z.literal("text_completion"),
    created: z.int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.int(), text: z.string(), finish_reason: z.string().nullable(), logprobs: z.unknown().nullable() })),
    usage: UsageSchema,
    allot: AllotInfoSchema,
  })
  .openapi("CompletionResponse");

export const completions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
completions.use("/v1/completions", requireTenant, nullMeansAbsent);

completions.openapi(
  createRoute({
    method: "post",
    path: "/v1/completions",
    summary: "OpenAI-compatible completions with adaptive best-of-k",
    description:
      "allot predicts how much extra samples help this prompt, draws k = the samples whose predicted gain is worth the " +
      "tenant's current price (within its min/max), keeps the best by the reward model, and answers in OpenAI's shape. " +
      "A prompt array gives one choice per prompt, each planned on its own. `usage` counts every token of all samples. " +
      "Headers x-allot-units, x-allot-samples, x-allot-predicted-success and x-allot-price say what it did; " +
      "x-allot-units on the request (or body.allot.units, or best_of) pins k. When the planned samples do not fit the " +
      "tenant's remaining budget, the most valuable ones that fit are drawn (x-allot-budget-limited). With `stream: true` " +
      "the chosen answer is streamed as OpenAI's chunks once it is chosen (it cannot be known before all k samples are scored).",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: CompletionRequest } } } },
    responses: onlineResponses(CompletionResponse, z.string(), "The best completion per prompt"),
  }),
  async (c) => {
    const req = c.req.valid("json");
    const prompts = typeof req.prompt === "string" ? [req.prompt] : (req.prompt as string[]);
    const bestOf = req.best_of !== undefined && req.best_of > 1 ? req.best_of : undefined;
    const served = await serveOnline(c.env, c.get("home"), {
      inputs: prompts.map((prompt) => ({ prompt })),
      model: req.model,
      params: { temperature: req.temperature, topP: req.top_p, maxTokens: req.max_tokens, stop: stopList(req.stop), extra: lmExtras(req) },
      seed: req.seed,
      pinned: pinnedUnits(c.req.header("x-allot-units"), req.allot?.units ?? bestOf, req.allot?.units !== undefined ? "allot.units" : "best_of"),
      rounds: roundsCap(c.req.header("x-allot-rounds"), req.allot?.rounds),
      route: "completions",
    }, (p) => c.executionCtx.waitUntil(p));
    return openaiResponse(c, served, COMPLETIONS_FORMAT, { on: req.stream, usage: req.stream_options?.include_usage ?? false }, (i) => (req.echo ? prompts[i] : ""));
  },
);
