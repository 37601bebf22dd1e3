/**
 * OpenAI's Files and Batch API shapes, as allot serves them: the FileObject, the Batch
 * object, the JSONL lines of an input file (`{custom_id, method, url, body}`) and of the
 * output and error files (`{id, custom_id, response: {status_code, request_id, body},
 * error}`). Pure: the routes (worker/routes/files.ts, openai-batches.ts) store and serve.
 */
import { z } from "@hono/zod-openapi";

/** The endpoints a batch input file's requests may go to. */
export const BATCH_ENDPOINTS = ["/v1/chat/completions", "/v1/completions", "/v1/responses"] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** Lines an input file may have (OpenAI's limit); a tenant's max_batch_size applies when the batch is created. */
export const MAX_FILE_LINES = 50_000;

const InputLine = z.strictObject({
  custom_id: z.string().min(1).max(512),
  method: z.literal("POST", { error: "method must be POST" }),
  url: z.string(),
  body: z.record(z.string(), z.unknown()),
});
export type InputLine = z.infer<typeof InputLine>;

/** A file that is not a valid batch input: its line (1-based), what is wrong, and where. */
export class FileError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(message);
  }
}

/**
 * The requests of a batch input file: one JSON object per line (blank lines skipped),
 * custom_ids unique. Throws FileError naming the first bad line.
 *
 * @example parseInputFile('{"custom_id":"a","method":"POST","url":"/v1/completions","body":{"model":"m","prompt":"1+1="}}\n').length // 1
 */
export function parseInputFile(text: string): InputLine[] {
  const lines: InputLine[] = [];
  const seen = new Set<string>();
  const raw = text.split("\n");
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i].trim();
    if (line === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new FileError(`line ${i + 1} is not JSON`, i + 1);
    }
    const parsed = InputLine.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new FileError(`line ${i + 1}: ${issue.path.join(".") || "the line"}: ${issue.message}`, i + 1);
    }
    if (seen.has(parsed.data.custom_id)) throw new FileError(`line ${i + 1}: custom_id ${JSON.stringify(parsed.data.custom_id)} is used twice`, i + 1);
    seen.add(parsed.data.custom_id);
    lines.push(parsed.data);
    if (lines.length > MAX_FILE_LINES) throw new FileError(`more than ${MAX_FILE_LINES} requests in one file`, i + 1);
  }
  if (lines.length === 0) throw new FileError("the file has no requests", null);
  return lines;
}

export const FileObjectSchema = z
  .object({
    id: z.string(),
    object: z.literal("file"),
    bytes: z.int(),
    created_at: z.int(),
    expires_at: z.int().nullable(),
    filename: z.string(),
    purpose: z.string(),
    status: z.enum(["uploaded", "processed", "error"]),
    status_details: z.string().nullable(),
  })
  .openapi("FileObject");
export type FileObject = z.infer<typeof FileObjectSchema>;

/** OpenAI's Batch object (openai/resources/batches.d.ts), with allot's own status alongside. */
export const OpenAIBatchSchema = z
  .object({
    id: z.string(),
    object: z.literal("batch"),
    endpoint: z.string(),
    model: z.string().nullable(),
    errors: z.null(),
    input_file_id: z.string(),
    completion_window: z.string(),
    status: z.enum(["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]),
    output_file_id: z.string().nullable(),
    error_file_id: z.string().nullable(),
    created_at: z.int(),
    in_progress_at: z.int().nullable(),
    expires_at: z.int(),
    finalizing_at: z.int().nullable(),
    completed_at: z.int().nullable(),
    failed_at: z.int().nullable(),
    expired_at: z.int().nullable(),
    cancelling_at: z.int().nullable(),
    cancelled_at: z.int().nullable(),
    request_counts: z.object({ total: z.int(), completed: z.int(), failed: z.int() }),
    usage: z.null(),
    metadata: z.record(z.string(), z.string()).nullable(),
    allot: z.unknown().describe("allot's own status of the batch (GET /v1/batches/{id} of a batch submitted with prompts)"),
  })
  .openapi("OpenAIBatch");

/** POST /v1/batches with an input file: OpenAI's body, and allot's budget for it. */
export const OpenAIBatchRequestSchema = z
  .strictObject({
    input_file_id: z.string().min(1),
    endpoint: z.enum(BATCH_ENDPOINTS, { error: `endpoint must be one of ${BATCH_ENDPOINTS.join(", ")} (allot samples chat, completions and responses)` }),
    completion_window: z.literal("24h", { error: 'completion_window must be "24h"' }),
    metadata: z.record(z.string(), z.string()).nullish(),
    output_expires_after: z.looseObject({ anchor: z.string(), seconds: z.int() }).nullish(),
    allot: z
      .strictObject({
        budget: z.strictObject({ average: z.number().min(0).max(1_000), min: z.int().min(0).max(1_000).default(1), max: z.int().min(1).max(1_000).default(16) }).optional(),
        allocation: z.enum(["learned", "uniform", "waves"]).optional(),
      })
      .optional()
      .describe("allot's extension: the batch's budget per request (default average 4, min 1, max 16) and allocation, as POST /v1/batches with prompts takes them"),
  })
  .superRefine((b, ctx) => {
    const budget = b.allot?.budget;
    if (budget && budget.min > budget.max) ctx.addIssue({ code: "custom", message: "min exceeds max", path: ["allot", "budget", "min"] });
    if (budget && (budget.average < budget.min || budget.average > budget.max)) ctx.addIssue({ code: "custom", message: "average must lie between min and max", path: ["allot", "budget", "average"] });
  })
  .openapi("OpenAIBatchRequest");
export type OpenAIBatchRequest = z.infer<typeof OpenAIBatchRequestSchema>;
