/**
 * OpenAI's Responses API: POST /v1/responses (the Agents SDK and the AI SDK's default
 * provider speak only it), GET and DELETE /v1/responses/{id}. A request is translated to
 * the same online request chat completions make (its conversation as chat messages,
 * sampled through the LM servers' chat completions), so it gets the same adaptive
 * sampling, routing, budgets and headers. Responses are kept (unless `store: false`) for
 * RESPONSES_RETENTION_SECONDS in their own Durable Object (storage/vault.ts), with the
 * conversation they ended: `previous_response_id` continues it, and an `item_reference`
 * to one of their output items (the AI SDK sends them) finds the item.
 */
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { newResponseId } from "../auth/response-id.js";
import { countUnbegun } from "../online/unbegun.js";
import { AllotInfoSchema, lmExtras, nullMeansAbsent, requestSchema } from "../../core/contracts/openai.js";
import {
  type InputItem,
  ItemError,
  type OutputItem,
  RESPONSE_ID,
  type ResolvedItem,
  type StoredResponse,
  chatTool,
  chatToolChoice,
  responseOfItem,
  toChat,
} from "../../core/contracts/responses.js";
import { Invalid, NotFound } from "../../core/errors.js";
import { settings } from "../config.js";
import type { AppEnv, Env } from "../env.js";
import { httpError } from "../http/errors.js";
import { errorDoc, jsonResponse, onlineResponses } from "../http/openapi.js";
import { type SseWriter, keepAliveUntil, sseResponse, withinGrace } from "../http/openai-stream.js";
import { validationHook } from "../http/validation.js";
import { LiveItems, type ResponseObject, ResponseEvents, type ResponseRequest, outputItems, responseObject } from "../online/responses-format.js";
import { type OnlineResult, allotHeaders, pinnedUnits, roundsCap, startOnline } from "../online/serve.js";
import { vault } from "../storage/vault.js";
import { offersTools } from "./openai-fields.js";

export const ResponsesRequest = requestSchema("responses", ["model", "input"]).openapi("ResponseCreateRequest", {
  example: { model: "strong", input: "345+678=", max_output_tokens: 12 },
});

export type ResponsesBody = ResponseRequest & {
  input: string | InputItem[];
  stream?: boolean;
  seed?: number;
  allot?: { units?: number; rounds?: number };
} & Record<string, unknown>;

const ResponseSchema = z
  .looseObject({
    id: z.string(),
    object: z.literal("response"),
    created_at: z.int(),
    status: z.enum(["completed", "incomplete", "in_progress", "failed"]),
    model: z.string(),
    output: z.array(z.looseObject({ type: z.enum(["message", "function_call", "reasoning"]), id: z.string() })),
    usage: z.looseObject({ input_tokens: z.int(), output_tokens: z.int(), total_tokens: z.int() }).nullable(),
    allot: AllotInfoSchema.optional(),
  })
  .openapi("Response");

const ResponseId = z.object({ id: z.string().regex(RESPONSE_ID, "a response id looks like resp_ and 48 hex characters") });

/** A stored response of `tenant`'s, or null (never stored, expired, or another tenant's). */
async function loadResponse(env: Env, tenant: string, id: string): Promise<StoredResponse | null> {
  if (!RESPONSE_ID.test(id)) return null;
  const got = await vault(env, id).read(tenant);
  return got ? (JSON.parse(got.body) as StoredResponse) : null;
}

/** Keeps the response and the conversation it ended (a failure to keep it is logged: the answer, charged, still goes out). */
async function storeResponse(env: Env, tenant: string, response: ResponseObject, conversation: readonly ResolvedItem[]): Promise<void> {
  const stored: StoredResponse = { tenant, response: response as unknown as StoredResponse["response"], conversation: [...conversation, ...(response.output as OutputItem[] as ResolvedItem[])] };
  try {
    await vault(env, response.id).put(tenant, {}, JSON.stringify(stored), Date.now() + settings(env).RESPONSES_RETENTION_SECONDS * 1000);
  } catch (e) {
    console.error(`storing response ${response.id} failed`, e);
  }
}

/** `input` with every item_reference replaced by the item it names (an output item of a stored response, or an item of its conversation). */
async function resolveReferences(env: Env, tenant: string, input: readonly InputItem[]): Promise<ResolvedItem[]> {
  const loaded = new Map<string, StoredResponse | null>();
  const out: ResolvedItem[] = [];
  for (const [i, item] of input.entries()) {
    if (item.type !== "item_reference") {
      out.push(item as ResolvedItem);
      continue;
    }
    const rid = responseOfItem(item.id);
    if (rid && !loaded.has(rid)) loaded.set(rid, await loadResponse(env, tenant, rid));
    const stored = rid ? loaded.get(rid) : null;
    const found = stored?.conversation.find((x) => "id" in x && x.id === item.id);
    if (!found) {
      throw new Invalid({
        message: `input[${i}]: no stored item ${item.id} (items are kept with their response for RESPONSES_RETENTION_SECONDS, and only when it was stored; the AI SDK sends items whole with providerOptions.openai.store = false)`,
        param: `input[${i}].id`,
      });
    }
    out.push(found);
  }
  return out;
}

/** Responses' text.format as chat's response_format (json_schema's fields move under json_schema); none for text. */
function responseFormat(format: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!format || format.type === "text") return null;
  if (format.type === "json_schema") {
    const { type: _, ...schema } = format;
    return { type: "json_schema", json_schema: schema };
  }
  return { type: format.type };
}

/** What goes to the LM besides the messages: the table's pass-through and unknown fields, tools, and the fields Responses names otherwise. */
export function extrasOf(body: ResponsesBody): Record<string, unknown> {
  const tools = (body.tools ?? []).map((t, i) => chatTool(t as Parameters<typeof chatTool>[0], `tools[${i}]`));
  const format = responseFormat(body.text?.format);
  return {
    ...lmExtras("responses", body),
    ...(tools.length > 0 ? { tools, ...(body.tool_choice !== undefined ? { tool_choice: chatToolChoice(body.tool_choice) } : {}) } : {}),
    ...(body.reasoning?.effort ? { reasoning_effort: body.reasoning.effort } : {}),
    ...(format ? { response_format: format } : {}),
    ...(body.top_logprobs ? { logprobs: true, top_logprobs: body.top_logprobs } : {}),
  };
}

export const responses = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
responses.use("/v1/responses", requireTenant, countUnbegun("responses"), nullMeansAbsent);
responses.use("/v1/responses/*", requireTenant);

responses.openapi(
  createRoute({
    method: "post",
    path: "/v1/responses",
    summary: "OpenAI's Responses API with adaptive best-of-k",
    description:
      "The same online request as chat completions: the input (a string or items, after the stored conversation of " +
      "previous_response_id, with instructions first) becomes chat messages sampled through the LM servers' chat completions. " +
      "Function tools are passed to the LM; other tool types are refused. The response is kept for GET /v1/responses/{id}, " +
      "previous_response_id and item_reference unless store is false. With stream: true, OpenAI's typed events through response.completed.",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { body: { required: true, content: { "application/json": { schema: ResponsesRequest } } } },
    responses: { ...onlineResponses(ResponseSchema, z.string(), "The response"), 404: errorDoc("No such previous response, or model.") },
  }),
  async (c) => {
    const body = c.req.valid("json") as ResponsesBody;
    const tenant = c.get("tenant");
    // Signed for the tenant, so POST /v1/feedback can tell it gave this id (auth/response-id.ts).
    const id = await newResponseId(c.env, tenant, "resp_");
    const created = Math.floor(Date.now() / 1000);
    let before: readonly ResolvedItem[] = [];
    if (body.previous_response_id !== undefined) {
      const prev = await loadResponse(c.env, tenant, body.previous_response_id);
      if (!prev) throw new NotFound({ what: "response", message: `no stored response ${body.previous_response_id} (responses are kept for RESPONSES_RETENTION_SECONDS when stored)`, param: "previous_response_id" });
      before = prev.conversation;
    }
    const input = typeof body.input === "string" ? [{ role: "user" as const, content: body.input }] : await resolveReferences(c.env, tenant, body.input);
    const conversation = [...before, ...input];
    let messages, extra;
    try {
      messages = toChat(conversation, body.instructions);
      extra = extrasOf(body);
    } catch (e) {
      if (e instanceof ItemError) throw new Invalid({ message: e.message, param: e.param });
      throw e;
    }
    const serving = await startOnline(
      c.env,
      c.get("home"),
      {
        inputs: [{ messages }],
        model: body.model,
        params: {
          ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
          ...(body.top_p !== undefined ? { topP: body.top_p } : {}),
          ...(body.max_output_tokens !== undefined ? { maxTokens: body.max_output_tokens } : {}),
          extra,
        },
        tools: offersTools(body.tools, body.tool_choice),
        seed: body.seed,
        pinned: pinnedUnits(c.req.header("x-allot-units"), body.allot?.units),
        rounds: roundsCap(c.req.header("x-allot-rounds"), body.allot?.rounds),
        route: "responses",
        responseId: id,
      },
      (p) => c.executionCtx.waitUntil(p),
      { live: body.stream === true, tally: c.get("tally") },
    );
    const store = body.store !== false;
    /** The finished response, kept (when stored) before anyone is told it is done. */
    const finished = async (served: OnlineResult) => {
      const response = responseObject(id, created, body, served, outputItems(id, served.choices[0].answers[0]));
      if (store) await storeResponse(c.env, tenant, response, conversation);
      return response;
    };
    if (body.stream !== true) {
      const served = await serving.result;
      return c.json(await finished(served), 200, allotHeaders(served));
    }
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const starting = responseObject(id, created, body, null, []);
    const events = (out: SseWriter) => new ResponseEvents((e, type) => out.data(e, type));
    const failed = (ev: ResponseEvents, e: unknown) => {
      const err = httpError(e).body.error;
      ev.fail(starting, { code: err.code ?? err.type, message: err.message, param: err.param });
    };
    if (serving.live) {
      const live = serving.live;
      return sseResponse(
        {},
        async (out) => {
          const ev = events(out);
          ev.start(starting);
          const items = new LiveItems(ev, id);
          try {
            for await (const piece of live) items.piece(piece);
            const response = await finished(await serving.result);
            items.finish();
            ev.end(response);
          } catch (e) {
            failed(ev, e);
          }
        },
        waitUntil,
      );
    }
    const whole = async (ev: ResponseEvents, served: OnlineResult) => {
      const response = await finished(served);
      response.output.forEach((item, i) => ev.item(i, item));
      ev.end(response);
    };
    const early = await withinGrace(serving.result);
    if (early) {
      const served = early.value;
      return sseResponse(allotHeaders(served), async (out) => {
        const ev = events(out);
        ev.start(starting);
        await whole(ev, served);
      }, waitUntil);
    }
    return sseResponse(
      {},
      async (out) => {
        const ev = events(out);
        ev.start(starting);
        try {
          await whole(ev, await keepAliveUntil(out, serving.result));
        } catch (e) {
          failed(ev, e);
        }
      },
      waitUntil,
    );
  },
);

responses.openapi(
  createRoute({
    method: "get",
    path: "/v1/responses/{id}",
    summary: "A stored response",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { params: ResponseId },
    responses: { 200: jsonResponse(ResponseSchema, "The response as it was answered."), 404: errorDoc("No such stored response for this tenant (never stored, or past its retention).") },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const stored = await loadResponse(c.env, c.get("tenant"), id);
    if (!stored) throw new NotFound({ what: "response", message: `no stored response ${id}`, param: "id" });
    return c.json(stored.response as unknown as z.infer<typeof ResponseSchema>, 200);
  },
);

responses.openapi(
  createRoute({
    method: "delete",
    path: "/v1/responses/{id}",
    summary: "Delete a stored response",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { params: ResponseId },
    responses: {
      200: jsonResponse(z.object({ id: z.string(), object: z.literal("response.deleted"), deleted: z.literal(true) }), "Deleted."),
      404: errorDoc("No such stored response for this tenant."),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    if (!(await vault(c.env, id).remove(c.get("tenant")))) throw new NotFound({ what: "response", message: `no stored response ${id}`, param: "id" });
    return c.json({ id, object: "response.deleted" as const, deleted: true as const }, 200);
  },
);
