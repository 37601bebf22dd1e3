/**
 * POST /v1/embeddings, passed to the embedding server (EMBEDDINGS_URL: a vLLM pooling
 * instance, or any OpenAI-compatible embeddings server). The server is asked for floats
 * and allot encodes them as the client asked: `encoding_format: "base64"` (what the
 * openai SDK and LangChain send by default, and decode as little-endian float32; given
 * floats they silently return nothing) or floats. Each input is charged PREFILL_UNITS, as
 * any prefill: every call to a model server is inside the tenant's budget.
 */
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { countUnbegun } from "../online/unbegun.js";
import { EmbeddingResponseSchema } from "../../core/contracts/lm-protocol.js";
import { NotFound, isUpstream } from "../../core/errors.js";
import { postJson } from "../../core/lm/http.js";
import { CallMeter } from "../../core/lm/meter.js";
import { lmConfig } from "../backends/config.js";
import { upstreamError } from "../backends/upstream-error.js";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";
import { httpError } from "../http/errors.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { rateLimitHeaders } from "../online/headers.js";
import { nullMeansAbsent } from "../../core/contracts/openai.js";
import type { RequestRecord } from "../../core/contracts/metrics.js";
import { accountOf } from "../tenants/account.js";
import { refusalError } from "../tenants/budget-error.js";

const EmbeddingRequest = z
  .looseObject({
    model: z.string().min(1),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(2048)], { error: "input is a non-empty string or an array of 1 to 2048 of them (token-id inputs are not served)" }),
    encoding_format: z.enum(["float", "base64"]).default("float"),
    dimensions: z.int().min(1).optional(),
    user: z.string().optional(),
  })
  .openapi("EmbeddingRequest", { example: { model: "strong", input: ["12+34="], encoding_format: "float" } });

const EmbeddingList = z
  .object({
    object: z.literal("list"),
    data: z.array(z.object({ object: z.literal("embedding"), index: z.int(), embedding: z.union([z.array(z.number()), z.string()]) })),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.int(), total_tokens: z.int() }),
  })
  .openapi("EmbeddingList");

/** Float32 little-endian bytes of `v`, in base64 (what OpenAI's encoding_format "base64" is). */
export function base64Floats(v: readonly number[]): string {
  const bytes = new Uint8Array(Float32Array.from(v).buffer);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export const embeddings = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
embeddings.use("/v1/embeddings", requireTenant, countUnbegun("embeddings"), nullMeansAbsent);

embeddings.openapi(
  createRoute({
    method: "post",
    path: "/v1/embeddings",
    summary: "Embeddings from the embedding server (EMBEDDINGS_URL), as floats or base64",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: EmbeddingRequest } } } },
    responses: {
      200: jsonResponse(EmbeddingList, "One embedding per input."),
      400: errorDoc("Malformed request, or the server refused it."),
      404: errorDoc("No embedding server is configured (EMBEDDINGS_URL)."),
      429: errorDoc("Over budget."),
    },
  }),
  async (c) => {
    const { encoding_format, ...body } = c.req.valid("json");
    const s = settings(c.env);
    if (!s.EMBEDDINGS_URL) throw new NotFound({ what: "route", message: "embeddings are not served by this gateway (its operator sets EMBEDDINGS_URL to an embedding server)" });
    const inputs = typeof body.input === "string" ? 1 : body.input.length;
    const home = c.get("home");
    const account = accountOf(c.env, home);
    const started = Date.now();
    const meter = new CallMeter();
    c.get("tally").begun = true;
    // Pinned at 0 samples: what is reserved, and charged, is each input's prefill.
    const begun = await account.begin({ key: crypto.randomUUID(), prompts: inputs, pinned: 0, rounds: null, greedy: false, unitCost: 1, prefill: s.PREFILL_UNITS, route: "embeddings" });
    const reservation = begun.reservation!;
    if (!reservation.ok) throw refusalError(home.tenant, reservation, "these embeddings");
    const record = (status: number): RequestRecord => ({ route: "embeddings", status, prompts: inputs, samples: 0, rounds: 0, priced: false, total_ms: Date.now() - started, lm_ms: meter.elapsed(), lm_retries: meter.retries, lm_errors: meter.errors, earned: null, calibration: null });
    const cfg = lmConfig(c.env);
    let res: z.infer<typeof EmbeddingResponseSchema>;
    try {
      res = await postJson(`${s.EMBEDDINGS_URL}/v1/embeddings`, { ...body, encoding_format: "float" }, EmbeddingResponseSchema, {
        policy: cfg.policy,
        headers: cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : undefined,
        meter,
      });
    } catch (e) {
      c.executionCtx.waitUntil(account.release(reservation.id, record(httpError(e).status)));
      if (isUpstream(e)) throw upstreamError(e, "embedding", "input", ["model", "input", "dimensions"]);
      throw e;
    }
    const spent = Math.round(s.PREFILL_UNITS * inputs * 1e9) / 1e9;
    await account.finish(reservation.id, spent, null, record(200));
    const data = [...res.data]
      .sort((a, b) => a.index - b.index)
      .map((d) => {
        const v = typeof d.embedding === "string" ? Array.from(new Float32Array(Uint8Array.from(atob(d.embedding), (ch) => ch.charCodeAt(0)).buffer)) : d.embedding;
        return { object: "embedding" as const, index: d.index, embedding: encoding_format === "base64" ? base64Floats(v) : v };
      });
    const budget = begun.budget ? { ...begun.budget, remaining: Math.max(0, begun.budget.remaining + reservation.units - spent) } : null;
    return c.json({ object: "list" as const, data, model: res.model, usage: res.usage }, 200, { "x-allot-units": String(spent), ...rateLimitHeaders(budget) });
  },
);
