import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { singleQuery, unitsAtPrice } from "../allocation/price.js";
import { requireTenant } from "../auth/middleware.js";
import { lmConfig } from "../backends/config.js";
import { sampleAndRerank } from "../dispatch/best-of-k.js";
import type { AppEnv } from "../env.js";
import { ApiError } from "../http/errors.js";
import { errorDoc as err } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { BackendError } from "../lm/http.js";
import { choosePredictor, marginalsOf, predict } from "../predictor/predict.js";
import { budgetExceeded } from "../tenants/budget-error.js";
import { tenantLedger } from "../tenants/lookup.js";

/** OpenAI's completions request, the fields allot honours; `n` is allot's to choose. */
const CompletionRequest = z
  .strictObject({
    model: z.string().min(1),
    prompt: z.union([z.string().min(1), z.array(z.string().min(1)).length(1, "send one prompt per request")]),
    max_tokens: z.int().min(1).max(32_768).default(16),
    temperature: z.number().min(0).max(2).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
    n: z.literal(1, { error: "allot returns the best of the samples it decides to draw: n must be 1" }).optional(),
    stream: z.literal(false, { error: "streaming is not supported yet" }).optional(),
    seed: z.int().optional(),
    user: z.string().optional(),
    allot: z.strictObject({ units: z.int().min(1).max(1_000).optional() }).optional().describe("allot's extension: pin the number of samples."),
  })
  .openapi("CompletionRequest");

const CompletionResponse = z
  .object({
    id: z.string(),
    object: z.literal("text_completion"),
    created: z.int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.int(), text: z.string(), finish_reason: z.string().nullable(), logprobs: z.null() })),
    usage: z.object({ prompt_tokens: z.int(), completion_tokens: z.int(), total_tokens: z.int() }),
    allot: z.object({ units: z.int(), predicted_success: z.number().nullable(), price: z.number(), reward: z.number().nullable() }),
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
      "say what it did; x-allot-units on the request (or body.allot.units) pins k.",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: CompletionRequest } } } },
    responses: {
      200: { description: "The best completion.", content: { "application/json": { schema: CompletionResponse } } },
      400: err("Malformed request."),
      401: err("Missing or invalid API key."),
      429: err("Over budget (type budget_exceeded, naming the tenant and the window)."),
      502: err("The LM or the reward model failed."),
    },
  }),
  async (c) => {
    const req = c.req.valid("json");
    const tenant = c.get("tenant");
    const ledger = tenantLedger(c.env, tenant);
    const prompt = typeof req.prompt === "string" ? req.prompt : req.prompt[0];
    const online = await ledger.online();

    const header = c.req.header("x-allot-units");
    let pinned = req.allot?.units;
    if (header !== undefined) {
      const n = Number(header);
      if (!Number.isInteger(n) || n < 1) throw new ApiError(400, "invalid_request_error", `x-allot-units must be a positive integer, got "${header}"`, "x-allot-units");
      pinned = n;
    }
    if (pinned !== undefined && pinned > online.max_units) {
      throw new ApiError(400, "invalid_request_error", `${pinned} units is above this tenant's max of ${online.max_units}`, pinned === req.allot?.units ? "allot.units" : "x-allot-units");
    }

    let units = pinned ?? 0;
    let predicted: number | null = null;
    if (pinned === undefined) {
      const shipped = choosePredictor(c.env, { model: req.model });
      const [pr] = await predict(c.env, shipped, [{ prompt }], () => "prompt");
      const curve = "p" in pr ? singleQuery({ p: pr.p, min: online.min_units, max: online.max_units }) : singleQuery({ marginals: marginalsOf(pr.curve), min: online.min_units, max: online.max_units });
      units = Math.max(online.min_units, unitsAtPrice(curve, online.price));
      predicted = "p" in pr ? pr.p : pr.curve[0];
    }

    const reservation = await ledger.reserve(units, null);
    if (!reservation.ok) throw budgetExceeded(tenant, reservation, "this request");
    const base = lmConfig(c.env);
    const cfg = { ...base, model: req.model };
    let result;
    try {
      const stop = req.stop === undefined ? undefined : typeof req.stop === "string" ? [req.stop] : req.stop;
      [result] = await sampleAndRerank(cfg, [{ prompt, units, seed: req.seed }], { temperature: req.temperature, topP: req.top_p, maxTokens: req.max_tokens, stop });
    } catch (e) {
      await ledger.release(reservation.id);
      if (e instanceof BackendError) throw new ApiError(502, "upstream_error", `the LM or the reward model failed: ${e.message}`);
      throw e;
    }
    await ledger.commit(reservation.id, units);
    await ledger.release(reservation.id);
    await ledger.observe(units); // the price moves so that average spend tracks the target

    const headers = {
      "x-allot-units": String(units),
      "x-allot-price": String(online.price),
      ...(predicted !== null ? { "x-allot-predicted-success": predicted.toFixed(4) } : {}),
    };
    return c.json(
      {
        id: `cmpl-${crypto.randomUUID()}`,
        object: "text_completion" as const,
        created: Math.floor(Date.now() / 1000),
        model: req.model,
        choices: [{ index: 0, text: result.best ?? "", finish_reason: result.finishReason, logprobs: null }],
        usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens },
        allot: { units, predicted_success: predicted, price: online.price, reward: result.reward },
      },
      200,
      headers,
    );
  },
);
