import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { countUnbegun } from "../online/unbegun.js";
import { AllotInfoSchema, UsageSchema, lmExtras, nullMeansAbsent, requestSchema, stopList } from "../../core/contracts/openai.js";
import type { AppEnv } from "../env.js";
import { onlineResponses } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { COMPLETIONS_FORMAT, openaiResponse, responseIdFor } from "../online/openai-response.js";
import { pinnedUnits, roundsCap, startOnline } from "../online/serve.js";
import { type CommonBody, samplingOf } from "./openai-fields.js";

/** Prompts per request: each is planned, sampled and reranked on its own. */
const MAX_PROMPTS = 64;

/** OpenAI's completions request: every field of the table (contracts/openai.ts says what each does here), any other kept for the LM server. */
const CompletionRequest = requestSchema("completions", ["model", "prompt"], {
  prompt: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(MAX_PROMPTS)], {
    error: `a prompt is a non-empty string or an array of 1 to ${MAX_PROMPTS} of them (token-id prompts are not supported)`,
  }),
}).openapi("CompletionRequest", { example: { model: "strong", prompt: "345+678=", max_tokens: 12, temperature: 0.8 } });

export type CompletionBody = CommonBody & { prompt: string | string[]; max_tokens?: number; echo?: boolean; best_of?: number };

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
completions.use("/v1/completions", requireTenant, countUnbegun("completions"), nullMeansAbsent);

completions.openapi(
  createRoute({
    method: "post",
    path: "/v1/completions",
    summary: "OpenAI-compatible completions with adaptive best-of-k",
    description:
      "allot predicts how much extra samples help this prompt, draws k = the samples whose predicted gain is worth the " +
      "tenant's current price (within its min/max), keeps the best by the reward model, and answers in OpenAI's shape. " +
      "A prompt array gives n choices per prompt, each prompt planned on its own. `usage` counts every token of all samples. " +
      "Headers x-allot-units, x-allot-samples, x-allot-predicted-success and x-allot-price say what it did; " +
      "x-allot-units on the request (or body.allot.units, or best_of) pins k. When the planned samples do not fit the " +
      "tenant's remaining budget, the most valuable ones that fit are drawn (x-allot-budget-limited). With `stream: true` " +
      "a one-sample plan streams the LM's tokens as they come; one that samples in rounds sends keep-alive comments, then the chosen answer.",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: CompletionRequest } } } },
    responses: onlineResponses(CompletionResponse, z.string(), "The best completion per prompt (n best with n)"),
  }),
  async (c) => {
    const body = c.req.valid("json") as CompletionBody & Record<string, unknown>;
    const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
    const bestOf = body.best_of !== undefined && body.best_of > 1 ? body.best_of : undefined;
    const responseId = await responseIdFor(c, COMPLETIONS_FORMAT);
    const serving = await startOnline(
      c.env,
      c.get("home"),
      {
        inputs: prompts.map((prompt) => ({ prompt })),
        model: body.model,
        params: samplingOf(body, body.max_tokens, lmExtras("completions", body)),
        stop: stopList(body.stop),
        n: body.n,
        seed: body.seed,
        pinned: pinnedUnits(c.req.header("x-allot-units"), body.allot?.units ?? bestOf, body.allot?.units !== undefined ? "allot.units" : "best_of"),
        rounds: roundsCap(c.req.header("x-allot-rounds"), body.allot?.rounds),
        route: "completions",
        responseId,
      },
      (p) => c.executionCtx.waitUntil(p),
      { live: body.stream === true, tally: c.get("tally") },
    );
    return openaiResponse(c, { id: responseId, serving }, COMPLETIONS_FORMAT, { on: body.stream === true, usage: body.stream_options?.include_usage ?? false }, (i) => (body.echo ? prompts[i] : ""));
  },
);
