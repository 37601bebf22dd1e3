/**
 * OpenAI's Batch API over allot's batches: POST /v1/batches with `input_file_id` (a file
 * of /v1/chat/completions, /v1/completions or /v1/responses requests uploaded with
 * POST /v1/files) becomes an allot batch whose prompts are the file's requests, each
 * with its own input and sampling, under the batch-wide allocation, waves and budget
 * (`allot.budget`, default an average of 4 units per request). GET, cancel and the list
 * answer such a batch in OpenAI's Batch shape (with allot's status under `allot`); its
 * output and error files are read at GET /v1/files/{id}/content, written from the batch's
 * results when asked. A batch submitted with `prompts` keeps allot's own shape.
 *
 * These are middleware on the batches routes (after authentication): a request that is
 * not about an OpenAI-shaped batch goes on to them.
 */
import type { Context, MiddlewareHandler } from "hono";
import { type BatchStatus, TERMINAL_STATES } from "../../core/contracts/batches.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { type BatchEndpoint, type FileObject, type OpenAIBatchRequest, OpenAIBatchRequestSchema, parseInputFile } from "../../core/contracts/openai-batch.js";
import { lmExtras, requestSchema, stopList } from "../../core/contracts/openai.js";
import { firstIssue } from "../../core/contracts/issues.js";
import { ItemError, toChat } from "../../core/contracts/responses.js";
import { FileError } from "../../core/contracts/openai-batch.js";
import { Invalid, NotFound } from "../../core/errors.js";
import type { BatchPrompt } from "../batches/run.js";
import type { ItemRequest } from "../batches/work.js";
import type { OutputRow } from "../batches/items.js";
import { batchRun, listBatches } from "../batches/list.js";
import { settings } from "../config.js";
import type { AppEnv, Env } from "../env.js";
import { outputItems } from "../online/responses-format.js";
import { findRouter } from "../predictor/registry.js";
import { vault } from "../storage/vault.js";
import { submitBatch } from "../batches/submit.js";
import { type ChatBody, ChatRequest, chatExtras } from "./chat.js";
import { type CompletionBody } from "./completions.js";
import { type CommonBody, offersTools, samplingOf } from "./openai-fields.js";
import { type ResponsesBody, ResponsesRequest, extrasOf } from "./responses.js";
import type { ResponsePrefix } from "../../core/feedback/response-id.js";
import { batchAnswerId } from "../auth/response-id.js";
import { answerPrefix } from "../batches/answer-ids.js";

/** What an OpenAI-shaped batch keeps beside its BatchRun (in the vault, as `batch:<id>`). */
interface BatchRecord {
  readonly input_file_id: string;
  readonly endpoint: BatchEndpoint;
  readonly completion_window: string;
  readonly metadata: Record<string, string> | null;
  readonly model: string;
}

/** An uploaded file's meta (the vault keeps its content). */
export interface FileMeta {
  readonly filename: string;
  readonly purpose: string;
  readonly bytes: number;
  readonly created_at: number;
  readonly expires_at: number | null;
}

export const FILE_ID = /^file-[0-9a-f]{24}$/;
/** The output and error files of batch b_<hex>: file-<hex>-output, file-<hex>-errors. */
const OUTPUT_FILE = /^file-([0-9a-f]{24})-(output|errors)$/;
const batchKey = (id: string) => `batch:${id}`;

/** A stored file's content, read chunk by chunk; null when it is not `tenant`'s. */
export async function fileText(env: Env, tenant: string, id: string): Promise<{ meta: FileMeta; text: string } | null> {
  if (!FILE_ID.test(id)) return null;
  const store = vault(env, id);
  const entry = await store.entry(tenant);
  if (!entry) return null;
  let text = "";
  for (let i = 0; i < entry.chunks; i++) text += (await store.chunk(tenant, i)) ?? "";
  return { meta: JSON.parse(entry.meta) as FileMeta, text };
}

export const fileObject = (id: string, m: FileMeta): FileObject => ({
  id,
  object: "file",
  bytes: m.bytes,
  created_at: m.created_at,
  expires_at: m.expires_at,
  filename: m.filename,
  purpose: m.purpose,
  status: "processed",
  status_details: null,
});

const schemas: Record<BatchEndpoint, ReturnType<typeof requestSchema>> = {
  "/v1/chat/completions": ChatRequest,
  "/v1/completions": requestSchema("completions", ["model", "prompt"]),
  "/v1/responses": ResponsesRequest,
};

/** The last user text of a conversation, shown as a file batch's prompt in allot's own results. */
const shown = (input: LmInput): string => {
  if ("prompt" in input) return input.prompt;
  const last = input.messages.findLast((m) => m.role === "user");
  const content = last?.content;
  return typeof content === "string" ? content : Array.isArray(content) ? content.map((p) => p.text).join("") : "(conversation)";
};

/** One line's request as a batch prompt: its input and sampling, validated as the endpoint validates it online. */
function promptOf(endpoint: BatchEndpoint, line: { custom_id: string; url: string; body: Record<string, unknown> }, n: number): { prompt: BatchPrompt; model: string; tools: boolean } {
  const at = `line ${n}`;
  if (line.url !== endpoint) throw new Invalid({ message: `${at}: url ${line.url} differs from the batch's endpoint ${endpoint}`, param: "input_file_id" });
  const parsed = schemas[endpoint].safeParse(line.body);
  if (!parsed.success) {
    const { message } = firstIssue(parsed.error);
    throw new Invalid({ message: `${at}: body.${message}`, param: "input_file_id" });
  }
  const body = parsed.data as CommonBody & Record<string, unknown>;
  const refuse = (field: string, why: string) => {
    throw new Invalid({ message: `${at}: ${field} ${why}`, param: "input_file_id" });
  };
  if (body.stream === true) refuse("stream", "is not served in a batch (its results are in the output file)");
  if ((body.n ?? 1) !== 1) refuse("n", "must be 1 in a batch (the batch's budget decides the samples)");
  if (body.allot !== undefined) refuse("allot", "is the batch's to set (allot.budget in POST /v1/batches)");
  let request: ItemRequest;
  let tools = false;
  if (endpoint === "/v1/chat/completions") {
    const b = body as ChatBody & Record<string, unknown>;
    request = { input: { messages: b.messages }, params: samplingOf(b, b.max_completion_tokens ?? b.max_tokens, chatExtras(b)), stop: stopList(b.stop) };
    tools = offersTools(b.tools, b.tool_choice);
  } else if (endpoint === "/v1/completions") {
    const b = body as CompletionBody & Record<string, unknown>;
    if (typeof b.prompt !== "string" || b.prompt === "") refuse("prompt", "must be one non-empty string per line in a batch");
    if (b.echo) refuse("echo", "is not served in a batch");
    if (b.best_of !== undefined && b.best_of > 1) refuse("best_of", "is not served in a batch (the batch's budget decides the samples)");
    request = { input: { prompt: b.prompt as string }, params: samplingOf(b, b.max_tokens, lmExtras("completions", b)), stop: stopList(b.stop) };
  } else {
    const b = body as ResponsesBody;
    if (b.previous_response_id !== undefined) refuse("previous_response_id", "is not served in a batch: send the conversation as input items");
    const items = typeof b.input === "string" ? [{ role: "user" as const, content: b.input }] : b.input;
    if (items.some((x) => "type" in x && x.type === "item_reference")) refuse("input", "item_reference is not served in a batch: send the items whole");
    try {
      request = {
        input: { messages: toChat(items as Parameters<typeof toChat>[0], b.instructions) },
        params: { ...(b.temperature !== undefined ? { temperature: b.temperature } : {}), ...(b.top_p !== undefined ? { topP: b.top_p } : {}), ...(b.max_output_tokens !== undefined ? { maxTokens: b.max_output_tokens } : {}), extra: extrasOf(b) },
      };
    } catch (e) {
      if (e instanceof ItemError) throw new Invalid({ message: `${at}: ${e.message}`, param: "input_file_id" });
      throw e;
    }
    tools = offersTools(b.tools, b.tool_choice);
  }
  return { prompt: { id: line.custom_id, prompt: shown(request.input), request }, model: body.model, tools };
}

/** Allot's batch status as OpenAI's Batch object. */
function openaiBatch(s: BatchStatus, rec: BatchRecord) {
  const created = Math.floor(Date.parse(s.created_at) / 1000);
  const hex = s.id.slice("b_".length);
  const ended = TERMINAL_STATES.includes(s.status);
  const pending = s.prompts - s.progress.sampled - s.progress.failed;
  const failedFor = s.error?.type === "deadline_exceeded" ? "expired" : "failed";
  const status = s.status === "queued" ? "validating" : s.status === "done" ? "completed" : s.status === "cancelled" ? "cancelled" : s.status === "failed" ? failedFor : "in_progress";
  return {
    id: s.id,
    object: "batch" as const,
    endpoint: rec.endpoint,
    model: rec.model,
    errors: null,
    input_file_id: rec.input_file_id,
    completion_window: rec.completion_window,
    status,
    output_file_id: ended && s.progress.sampled > 0 ? `file-${hex}-output` : null,
    error_file_id: ended && s.progress.failed + pending > 0 ? `file-${hex}-errors` : null,
    created_at: created,
    in_progress_at: s.status === "queued" ? null : created,
    expires_at: created + 86_400,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total: s.prompts, completed: s.progress.sampled, failed: s.progress.failed + (ended ? pending : 0) },
    usage: null,
    metadata: rec.metadata,
    allot: s,
  };
}

/** The OpenAI record of batch `id`, if it was submitted with an input file by `tenant`. */
async function recordOf(env: Env, tenant: string, id: string): Promise<BatchRecord | null> {
  if (!/^b_[0-9a-f]{24}$/.test(id)) return null;
  const entry = await vault(env, batchKey(id)).entry(tenant);
  return entry ? (JSON.parse(entry.meta) as BatchRecord) : null;
}

/** The prefix of batch `id`'s answer ids: its OpenAI endpoint's, or cmpl- for a batch of allot's own (batches/answer-ids.ts). */
export async function batchAnswerPrefix(env: Env, tenant: string, id: string): Promise<ResponsePrefix> {
  return answerPrefix((await recordOf(env, tenant, id))?.endpoint ?? null);
}

/** POST /v1/batches with input_file_id: OpenAI's Batch API. Any other body goes on to allot's own. */
export const openaiBatchCreate: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "POST") return next();
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return next(); // allot's validator answers a body that is not JSON
  }
  if (!body || typeof body !== "object" || !("input_file_id" in body)) return next();
  const parsed = OpenAIBatchRequestSchema.safeParse(body);
  if (!parsed.success) {
    const { message, param } = firstIssue(parsed.error);
    throw new Invalid({ message, param });
  }
  return c.json(await createFromFile(c, parsed.data), 200);
};

async function createFromFile(c: Context<AppEnv>, req: OpenAIBatchRequest) {
  const env = c.env;
  const tenant = c.get("tenant");
  const file = await fileText(env, tenant, req.input_file_id);
  if (!file) throw new NotFound({ what: "file", message: `no file ${req.input_file_id} (upload one with POST /v1/files, purpose batch)`, param: "input_file_id" });
  if (file.meta.purpose !== "batch") throw new Invalid({ message: `file ${req.input_file_id} has purpose ${file.meta.purpose}; a batch reads a file of purpose batch`, param: "input_file_id" });
  let lines;
  try {
    lines = parseInputFile(file.text);
  } catch (e) {
    if (e instanceof FileError) throw new Invalid({ message: `file ${req.input_file_id}: ${e.message}`, param: "input_file_id" });
    throw e;
  }
  const prompts = lines.map((line, i) => promptOf(req.endpoint, line, i + 1));
  const model = prompts[0].model;
  const other = prompts.findIndex((p) => p.model !== model);
  if (other >= 0) throw new Invalid({ message: `line ${other + 1}: model ${prompts[other].model} differs from line 1's ${model}: a batch samples one model (or one router)`, param: "input_file_id" });
  const router = await findRouter(env, model);
  const budget = req.allot?.budget ?? { average: 4, min: 1, max: 16 };
  // Tools: agreement among calls needs a prompt's samples together, so k is decided up front.
  const tools = prompts.some((p) => p.tools);
  const allocation = req.allot?.allocation ?? (tools ? "learned" : undefined);
  if (tools && allocation === "waves") throw new Invalid({ message: "requests with tools are drawn in one round (their calls are ranked by agreement): allocation waves does not apply", param: "allot.allocation" });
  const status = await submitBatch(env, tenant, {
    prompts: prompts.map((p) => p.prompt),
    mode: router ? "route" : "best_of_k",
    ...(allocation ? { allocation } : {}),
    budget,
    sampling: { temperature: 0.8, top_p: 1, max_tokens: 16 },
    model,
  });
  const s = settings(env);
  const rec: BatchRecord = { input_file_id: req.input_file_id, endpoint: req.endpoint, completion_window: req.completion_window, metadata: req.metadata ?? null, model };
  await vault(env, batchKey(status.id)).put(tenant, rec, "", Date.now() + (s.BATCH_DEADLINE_SECONDS + s.BATCH_RETENTION_SECONDS) * 1000);
  return openaiBatch(status, rec);
}

/** GET /v1/batches/{id} and POST /v1/batches/{id}/cancel of an OpenAI-shaped batch; anything else goes on. */
export const openaiBatchView: MiddlewareHandler<AppEnv> = async (c, next) => {
  const m = /^\/v1\/batches\/(b_[0-9a-f]{24})(\/cancel)?$/.exec(c.req.path);
  if (!m || (m[2] ? c.req.method !== "POST" : c.req.method !== "GET")) return next();
  const tenant = c.get("tenant");
  const rec = await recordOf(c.env, tenant, m[1]);
  if (!rec) return next();
  const stub = batchRun(c.env, m[1]);
  const status = m[2] ? await stub.cancel(tenant) : await stub.status(tenant);
  if (!status) throw new NotFound({ what: "batch", message: `no batch ${m[1]}`, param: "id" });
  return c.json(openaiBatch(status, rec), 200);
};

/** GET /v1/batches: allot's list, each OpenAI-shaped batch in OpenAI's shape. */
export const openaiBatchList: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "GET" || c.req.path !== "/v1/batches") return next();
  const limit = Number(c.req.query("limit") ?? 20);
  const after = c.req.query("after");
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new Invalid({ message: "limit must be an integer from 1 to 100", param: "limit" });
  if (after !== undefined && !/^b_[0-9a-f]{24}$/.test(after)) throw new Invalid({ message: "after is a batch id (the last_id of the previous page)", param: "after" });
  const tenant = c.get("tenant");
  const page = await listBatches(c.env, tenant, limit, after);
  const data = await Promise.all(
    page.data.map(async (b) => {
      const rec = await recordOf(c.env, tenant, b.id);
      return rec ? openaiBatch(b, rec) : b;
    }),
  );
  return c.json({ ...page, data }, 200);
};

/** An output or error file's lines, written from the batch's results; null when the id is not one or the batch is not `tenant`'s. */
export async function outputFile(env: Env, tenant: string, id: string): Promise<{ file: FileObject; text: string } | null> {
  const m = OUTPUT_FILE.exec(id);
  if (!m) return null;
  const batch = `b_${m[1]}`;
  const rec = await recordOf(env, tenant, batch);
  if (!rec) return null;
  const out = await batchRun(env, batch).outputRows(tenant);
  if (!out || !TERMINAL_STATES.includes(out.status)) return null;
  const errors = m[2] === "errors";
  const rows = out.rows.filter((r) => (r.state === "done") !== errors);
  const prefix = answerPrefix(rec.endpoint);
  const lines = await Promise.all(rows.map(async (r) => outputLine(batch, rec, r, out.status, r.state === "done" ? await batchAnswerId(env, tenant, prefix, batch, r.id) : "")));
  const text = lines.map((l) => JSON.stringify(l) + "\n").join("");
  const file = fileObject(id, { filename: `${batch}_${m[2]}.jsonl`, purpose: errors ? "batch_output" : "batch_output", bytes: new TextEncoder().encode(text).length, created_at: Math.floor(Date.now() / 1000), expires_at: null });
  return { file, text };
}

/** One line of an output or error file (OpenAI's BatchRequestOutput); `answerId` is a done prompt's signed response id (batches/answer-ids.ts). */
function outputLine(batch: string, rec: BatchRecord, r: OutputRow, status: BatchStatus["status"], answerId: string) {
  const reqId = `${batch}-${r.idx}`;
  const base = { id: `batch_req_${batch.slice(2)}_${r.idx}`, custom_id: r.id };
  if (r.state === "pending") {
    const code = status === "cancelled" ? "batch_cancelled" : "batch_expired";
    const message = status === "cancelled" ? "This request was not executed because the batch was cancelled." : "This request could not be executed before the batch ended.";
    return { ...base, response: null, error: { code, message } };
  }
  if (r.state === "failed") {
    const refused = r.error?.startsWith("the model server refused") ?? false;
    return {
      ...base,
      response: { status_code: refused ? 400 : 502, request_id: reqId, body: { error: { message: r.error ?? "failed", type: refused ? "invalid_request_error" : "upstream_error", param: null, code: null } } },
      error: null,
    };
  }
  const d = r.detail;
  const usage = { prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens, total_tokens: r.prompt_tokens + r.completion_tokens };
  const allot = { model: r.model, samples: r.samples, units: r.delivered, reward: r.reward };
  const created = Math.floor(Date.now() / 1000);
  const model = r.model ?? rec.model;
  const text = r.best ?? "";
  const toolCalls = d?.tool_calls ?? null;
  let body: object;
  if (rec.endpoint === "/v1/chat/completions") {
    const message = {
      role: "assistant",
      content: toolCalls && text === "" ? null : text,
      refusal: null,
      ...(toolCalls ? { tool_calls: toolCalls } : {}),
      ...(d?.reasoning ? { [d.reasoning.field]: d.reasoning.text } : {}),
    };
    body = { id: answerId, object: "chat.completion", created, model, choices: [{ index: 0, message, finish_reason: d?.finish_reason ?? "stop", logprobs: null }], usage, allot };
  } else if (rec.endpoint === "/v1/completions") {
    body = { id: answerId, object: "text_completion", created, model, choices: [{ index: 0, text, finish_reason: d?.finish_reason ?? "stop", logprobs: null }], usage, allot };
  } else {
    const output = outputItems(answerId, { text, toolCalls, reasoning: d?.reasoning ?? null, finishReason: d?.finish_reason ?? null, logprobs: null, reward: r.reward });
    body = {
      id: answerId,
      object: "response",
      created_at: created,
      status: d?.finish_reason === "length" ? "incomplete" : "completed",
      error: null,
      incomplete_details: d?.finish_reason === "length" ? { reason: "max_output_tokens" } : null,
      model,
      output,
      usage: { input_tokens: r.prompt_tokens, output_tokens: r.completion_tokens, total_tokens: r.prompt_tokens + r.completion_tokens },
      allot,
    };
  }
  return { ...base, response: { status_code: 200, request_id: reqId, body }, error: null };
}
