import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { allocate } from "../allocation/build.js";
import { lmConfig } from "../backends/config.js";
import { type AllocateQuery, type AllocateRequest, AllocateRequestSchema, AllocateResponseSchema } from "../contracts/allocate.js";
import type { AppEnv, Env } from "../env.js";
import { ApiError, ErrorEnvelopeSchema } from "../http/errors.js";
import { validationHook } from "../http/validation.js";
import { BackendError, postJson } from "../lm/http.js";
import { SHIPPED, findPredictor, loadPredictor } from "../predictor/registry.js";

/** Queries per stateless allocate request; larger batches belong in the CLI or the batch API. */
export const MAX_ALLOCATE_QUERIES = 10_000;
/** Prompts per hidden-state request to the LM. */
const HIDDEN_BATCH = 256;

const RequestSchema = AllocateRequestSchema.refine((r) => r.queries.length <= MAX_ALLOCATE_QUERIES, {
  message: `at most ${MAX_ALLOCATE_QUERIES} queries per request`,
  path: ["queries"],
});

const errors = (description: string) => ({ description, content: { "application/json": { schema: ErrorEnvelopeSchema } } });

const route = createRoute({
  method: "post",
  path: "/v1/allocate",
  summary: "Allocate a compute budget over queries",
  description:
    "Stateless. Each query gives its predicted marginal gains, or p (one sample's success probability), or its prompt " +
    "(allot reads the prompt's hidden state from the LM and runs the predictor), or the hidden state itself. allot returns " +
    "the units per query that maximise the total predicted gain within the budget, and the predicted curve it used.",
  tags: ["allocation"],
  request: { body: { required: true, content: { "application/json": { schema: RequestSchema } } } },
  responses: {
    200: { description: "The optimal allocation.", content: { "application/json": { schema: AllocateResponseSchema } } },
    400: errors("Malformed or infeasible request."),
    502: errors("The LM server failed to return hidden states."),
    503: errors("The gateway is not configured for prompt queries."),
  },
});

/** Hidden states of the prompts, from the configured LM backend, in batches. */
async function hiddenStates(env: Env, model: string, prompts: readonly string[]): Promise<number[][]> {
  const cfg = lmConfig(env);
  const out: number[][] = [];
  for (let i = 0; i < prompts.length; i += HIDDEN_BATCH) {
    const chunk = prompts.slice(i, i + HIDDEN_BATCH);
    try {
      const res = await postJson(`${cfg.url}${cfg.hidden.path}`, cfg.hidden.request(model, chunk), cfg.hidden.response, {
        headers: cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : undefined,
        policy: { attempts: 3, timeoutMs: 20_000, baseDelayMs: 200, maxDelayMs: 2_000 },
      });
      const vectors = cfg.hidden.extract(res);
      if (vectors.length !== chunk.length) throw new BackendError(`returned ${vectors.length} hidden states for ${chunk.length} prompts`, 200, false, 1);
      out.push(...vectors);
    } catch (e) {
      if (e instanceof BackendError) {
        throw new ApiError(502, "upstream_error", `the LM server (${cfg.url}) failed to return hidden states: ${e.message}`);
      }
      throw e;
    }
  }
  return out;
}

/** Replaces prompt and hidden queries by the predictor's p or marginals; returns what it predicted. */
async function resolvePredicted(env: Env, req: AllocateRequest): Promise<{ req: AllocateRequest; predicted: Map<number, { p?: number; curve?: number[] }> }> {
  const predicted = new Map<number, { p?: number; curve?: number[] }>();
  const needed = req.queries.flatMap((q, i) => (q.prompt !== undefined || q.hidden !== undefined ? [i] : []));
  if (needed.length === 0) return { req, predicted };
  const lmModel = req.model ?? env.LM_MODEL ?? "strong";
  const shipped = findPredictor({ name: req.predictor, lmModel });
  const names = SHIPPED.map((s) => `${s.manifest.name} (${s.manifest.lm.model})`).join(", ");
  if (!shipped) {
    throw new ApiError(400, "invalid_request_error", `no predictor ${req.predictor ? `named "${req.predictor}"` : `for model "${lmModel}"`}; shipped: ${names}`, req.predictor ? "predictor" : "model");
  }
  const m = shipped.manifest;
  if (req.model && m.lm.model !== req.model) {
    throw new ApiError(400, "invalid_request_error", `predictor "${m.name}" reads ${m.lm.model}'s hidden states, not ${req.model}'s`, "predictor");
  }
  const promptIdx = needed.filter((i) => req.queries[i].prompt !== undefined);
  const fetched = await hiddenStates(env, m.lm.model, promptIdx.map((i) => req.queries[i].prompt!));
  const vectors = new Map(promptIdx.map((i, k) => [i, fetched[k]]));
  const inputs = needed.map((i) => {
    const h = req.queries[i].hidden ?? vectors.get(i)!;
    if (h.length !== m.input_size) {
      const field = req.queries[i].hidden ? `queries[${i}].hidden` : `queries[${i}].prompt`;
      throw new ApiError(400, "invalid_request_error", `a hidden state of ${h.length} values; ${m.name} takes ${m.input_size} (${m.lm.model})`, field);
    }
    return h;
  });
  const outputs = await (await loadPredictor(shipped)).predict(inputs);
  const queries: AllocateQuery[] = [...req.queries];
  needed.forEach((i, k) => {
    const { prompt: _p, hidden: _h, ...rest } = req.queries[i];
    if (m.kind === "bernoulli") {
      const p = Math.min(1, Math.max(0, outputs[k][0]));
      queries[i] = { ...rest, p, max: rest.max ?? req.max ?? 16 };
      predicted.set(i, { p });
    } else {
      const curve = Array.from(outputs[k]);
      queries[i] = { ...rest, marginals: curve.map((q, j) => q - (j > 0 ? curve[j - 1] : 0)) };
      predicted.set(i, { curve });
    }
  });
  return { req: { ...req, queries }, predicted };
}

export const allocateRoute = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(route, async (c) => {
  const { req, predicted } = await resolvePredicted(c.env, c.req.valid("json"));
  const res = allocate(req);
  return c.json({ ...res, allocation: res.allocation.map((a, i) => ({ ...a, ...predicted.get(i) })) }, 200);
});
