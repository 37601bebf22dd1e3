/**
 * OpenAI's Files API, for the Batch API: POST /v1/files (multipart, `purpose: "batch"`,
 * a JSONL file of requests, checked line by line when uploaded), GET /v1/files/{id},
 * GET /v1/files/{id}/content (also a batch's output and error files, written from its
 * results when asked), DELETE /v1/files/{id}. A file is kept in its own Durable Object
 * (storage/vault.ts), in chunks, up to FILE_MAX_BYTES (a larger one is a 413), for
 * FILE_RETENTION_SECONDS or what its expires_after says.
 */
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { FileError, FileObjectSchema, parseInputFile } from "../../core/contracts/openai-batch.js";
import { Invalid, NotFound, TooLarge } from "../../core/errors.js";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { vault } from "../storage/vault.js";
import { randomHex } from "../tenants/lookup.js";
import { FILE_ID, type FileMeta, fileObject, fileText, outputFile } from "./openai-batches.js";

const security = [{ apiKey: [] }];
const FileId = z.object({ id: z.string().regex(/^file-[0-9a-f]{24}(-(output|errors))?$/, "a file id looks like file- and 24 hex characters") });
const missing = (id: string) => new NotFound({ what: "file", message: `no file ${id} (files are kept for FILE_RETENTION_SECONDS, a batch's output files as long as the batch)`, param: "id" });

export const files = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
files.use("/v1/files", requireTenant);
files.use("/v1/files/*", requireTenant);

files.openAPIRegistry.registerPath(
  createRoute({
    method: "post",
    path: "/v1/files",
    summary: "Upload a batch input file (multipart: file, purpose=batch)",
    description: "A JSONL file of requests ({custom_id, method: POST, url, body}) to /v1/chat/completions, /v1/completions or /v1/responses, checked line by line.",
    tags: ["batches"],
    security,
    request: {
      body: {
        required: true,
        content: { "multipart/form-data": { schema: z.object({ file: z.string().openapi({ format: "binary" }), purpose: z.literal("batch"), "expires_after[seconds]": z.string().optional() }) } },
      },
    },
    responses: { 200: jsonResponse(FileObjectSchema, "The file."), 400: errorDoc("Not a valid batch file (the message names the line)."), 413: errorDoc("Larger than FILE_MAX_BYTES.") },
  }),
);
files.post("/v1/files", async (c) => {
  const s = settings(c.env);
  if (!/^multipart\/form-data/i.test(c.req.header("content-type") ?? "")) throw new Invalid({ message: "upload a file as multipart/form-data with the fields file and purpose", param: "file" });
  let form: Record<string, string | File>;
  try {
    form = (await c.req.parseBody()) as Record<string, string | File>;
  } catch (e) {
    if (e instanceof TooLarge) throw e;
    throw new Invalid({ message: "the multipart body could not be read", param: "file" });
  }
  const file = form.file;
  if (!(file instanceof File)) throw new Invalid({ message: "the form has no file field", param: "file" });
  if (form.purpose !== "batch") throw new Invalid({ message: `purpose ${JSON.stringify(form.purpose ?? null)}: allot takes files for the Batch API only (purpose batch)`, param: "purpose" });
  if (file.size > s.FILE_MAX_BYTES) throw new TooLarge({ limit: s.FILE_MAX_BYTES, message: `the file is ${file.size} bytes, more than FILE_MAX_BYTES (${s.FILE_MAX_BYTES})` });
  const text = await file.text();
  try {
    parseInputFile(text);
  } catch (e) {
    if (e instanceof FileError) throw new Invalid({ message: e.message, param: "file" });
    throw e;
  }
  const seconds = form["expires_after[seconds]"] === undefined ? s.FILE_RETENTION_SECONDS : Number(form["expires_after[seconds]"]);
  if (!Number.isInteger(seconds) || seconds < 1) throw new Invalid({ message: "expires_after[seconds] must be a whole number of seconds", param: "expires_after" });
  const now = Date.now();
  const expires = now + Math.min(seconds, s.FILE_RETENTION_SECONDS) * 1000;
  const id = `file-${randomHex(12)}`;
  const meta: FileMeta = { filename: file.name || "input.jsonl", purpose: "batch", bytes: file.size, created_at: Math.floor(now / 1000), expires_at: Math.floor(expires / 1000) };
  await vault(c.env, id).put(c.get("tenant"), meta, text, expires);
  return c.json(fileObject(id, meta), 200);
});

files.openapi(
  createRoute({
    method: "get",
    path: "/v1/files/{id}",
    summary: "A file",
    tags: ["batches"],
    security,
    request: { params: FileId },
    responses: { 200: jsonResponse(FileObjectSchema, "The file."), 404: errorDoc("No such file for this tenant.") },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const tenant = c.get("tenant");
    if (!FILE_ID.test(id)) {
      const out = await outputFile(c.env, tenant, id);
      if (!out) throw missing(id);
      return c.json(out.file, 200);
    }
    const entry = await vault(c.env, id).entry(tenant);
    if (!entry) throw missing(id);
    return c.json(fileObject(id, JSON.parse(entry.meta) as FileMeta), 200);
  },
);

files.openAPIRegistry.registerPath(
  createRoute({
    method: "get",
    path: "/v1/files/{id}/content",
    summary: "A file's content: an uploaded file as it was, or a batch's output or error file (JSON lines)",
    tags: ["batches"],
    security,
    request: { params: FileId },
    responses: { 200: { description: "The bytes.", content: { "application/octet-stream": { schema: z.string() } } }, 404: errorDoc("No such file for this tenant.") },
  }),
);
files.get("/v1/files/:id/content", async (c) => {
  const parsed = FileId.safeParse({ id: c.req.param("id") });
  if (!parsed.success) throw new Invalid({ message: parsed.error.issues[0].message, param: "id" });
  const { id } = parsed.data;
  const tenant = c.get("tenant");
  const got = FILE_ID.test(id) ? await fileText(c.env, tenant, id) : await outputFile(c.env, tenant, id);
  if (!got) throw missing(id);
  return c.body(got.text, 200, { "content-type": "application/octet-stream" });
});

files.openapi(
  createRoute({
    method: "delete",
    path: "/v1/files/{id}",
    summary: "Delete an uploaded file",
    tags: ["batches"],
    security,
    request: { params: FileId },
    responses: { 200: jsonResponse(z.object({ id: z.string(), object: z.literal("file"), deleted: z.literal(true) }), "Deleted."), 404: errorDoc("No such file for this tenant.") },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    if (!FILE_ID.test(id) || !(await vault(c.env, id).remove(c.get("tenant")))) throw missing(id);
    return c.json({ id, object: "file" as const, deleted: true as const }, 200);
  },
);
