/**
 * The Responses API's wire format, from one served request: the Response object (what
 * every client reads: id, object, created_at, status, output with typed items, usage) and
 * its stream of typed events, in the order the SDKs need (response.created, then per item
 * output_item.added, content_part.added, the deltas, the .done events, output_item.done,
 * then response.completed carrying the whole response). Pure but for ids and clocks.
 */
import type { StreamPiece } from "../../core/backends/best-of-k.js";
import { type OutputItem, itemId } from "../../core/contracts/responses.js";
import { streamPieces } from "../http/openai-stream.js";
import { allotInfo } from "./openai-response.js";
import type { Answer, OnlineResult } from "./request.js";

/** What a Response echoes of its request. */
export interface ResponseRequest {
  readonly model: string;
  readonly instructions?: string;
  readonly max_output_tokens?: number;
  readonly max_tool_calls?: number;
  readonly parallel_tool_calls?: boolean;
  readonly previous_response_id?: string;
  readonly reasoning?: { effort?: string | null; summary?: string | null };
  readonly store?: boolean;
  readonly temperature?: number;
  readonly top_p?: number;
  readonly top_logprobs?: number;
  readonly text?: { format?: Record<string, unknown>; verbosity?: string | null };
  readonly tool_choice?: unknown;
  readonly tools?: unknown[];
  readonly truncation?: string;
  readonly user?: string;
  readonly metadata?: Record<string, string>;
  readonly service_tier?: string;
}

/** The answer's output items: its reasoning, its text (a message), its tool calls (function_call items). */
export function outputItems(responseId: string, a: Answer): OutputItem[] {
  let k = 0;
  const out: OutputItem[] = [];
  if (a.reasoning) out.push({ type: "reasoning", id: itemId("rs", responseId, k++), summary: [], content: [{ type: "reasoning_text", text: a.reasoning.text }] });
  if (a.text !== "" || !a.toolCalls) {
    out.push({ type: "message", id: itemId("msg", responseId, k++), status: "completed", role: "assistant", content: [{ type: "output_text", text: a.text, annotations: [], logprobs: [] }] });
  }
  for (const c of a.toolCalls ?? []) out.push({ type: "function_call", id: itemId("fc", responseId, k++), call_id: c.id, name: c.function.name, arguments: c.function.arguments, status: "completed" });
  return out;
}

/** A Response object: finished (with `served`), or in progress (none yet). */
export function responseObject(id: string, createdAt: number, req: ResponseRequest, served: OnlineResult | null, output: readonly OutputItem[]) {
  const answer = served?.choices[0].answers[0];
  const cut = answer?.finishReason === "length";
  const tokens = served ? served.choices.reduce((s, c) => ({ in: s.in + c.result.promptTokens, out: s.out + c.result.completionTokens, thought: s.thought + c.result.reasoningTokens }), { in: 0, out: 0, thought: 0 }) : null;
  return {
    id,
    object: "response" as const,
    created_at: createdAt,
    status: served === null ? "in_progress" : cut ? "incomplete" : "completed",
    background: false,
    error: null,
    incomplete_details: cut ? { reason: "max_output_tokens" } : null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    max_tool_calls: req.max_tool_calls ?? null,
    model: served?.choices[0].model ?? req.model,
    output,
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: req.previous_response_id ?? null,
    reasoning: { effort: req.reasoning?.effort ?? null, summary: req.reasoning?.summary ?? null },
    service_tier: req.service_tier ?? "default",
    store: req.store ?? true,
    temperature: req.temperature ?? null,
    text: { format: req.text?.format ?? { type: "text" }, verbosity: req.text?.verbosity ?? "medium" },
    tool_choice: req.tool_choice ?? "auto",
    tools: req.tools ?? [],
    top_logprobs: req.top_logprobs ?? 0,
    top_p: req.top_p ?? null,
    truncation: req.truncation ?? "disabled",
    usage: tokens
      ? { input_tokens: tokens.in, input_tokens_details: { cached_tokens: 0 }, output_tokens: tokens.out, output_tokens_details: { reasoning_tokens: tokens.thought }, total_tokens: tokens.in + tokens.out }
      : null,
    user: req.user ?? null,
    metadata: req.metadata ?? {},
    ...(served ? { allot: allotInfo(served) } : {}),
  };
}

export type ResponseObject = ReturnType<typeof responseObject>;

/** Writes typed events, numbering them (sequence_number) as the SDKs read them. */
export class ResponseEvents {
  private seq = 0;
  constructor(private readonly send: (event: Record<string, unknown>, type: string) => void) {}

  emit(type: string, fields: Record<string, unknown>): void {
    this.send({ type, sequence_number: this.seq++, ...fields }, type);
  }

  /** response.created and response.in_progress, with the response as it starts (no output yet). */
  start(response: ResponseObject): void {
    this.emit("response.created", { response });
    this.emit("response.in_progress", { response });
  }

  /** One whole item, as the events an item streamed in one piece would give. */
  item(index: number, item: OutputItem): void {
    if (item.type === "message") {
      const text = item.content[0].text;
      const live = new ItemStream(this, index, item);
      live.open();
      for (const piece of streamPieces(text)) live.text(piece);
      live.close();
      return;
    }
    if (item.type === "function_call") {
      this.emit("response.output_item.added", { output_index: index, item: { ...item, arguments: "", status: "in_progress" } });
      this.emit("response.function_call_arguments.delta", { item_id: item.id, output_index: index, delta: item.arguments });
      this.emit("response.function_call_arguments.done", { item_id: item.id, output_index: index, arguments: item.arguments });
      this.emit("response.output_item.done", { output_index: index, item });
      return;
    }
    this.emit("response.output_item.added", { output_index: index, item: { ...item, content: [] } });
    this.emit("response.output_item.done", { output_index: index, item });
  }

  /** The end: response.completed (or response.incomplete when the answer hit max_output_tokens), carrying the whole response. */
  end(response: ResponseObject): void {
    this.emit(response.status === "incomplete" ? "response.incomplete" : "response.completed", { response });
  }

  /** A failure after the stream began: response.failed, then an error event (each SDK reads one of them). */
  fail(response: ResponseObject, error: { code: string; message: string; param: string | null }): void {
    this.emit("response.failed", { response: { ...response, status: "failed", error: { code: error.code, message: error.message } } });
    this.emit("error", { code: error.code, message: error.message, param: error.param });
  }
}

/** A message item streamed piece by piece: added, its content part, text deltas, then the .done events. */
class ItemStream {
  private body = "";
  constructor(
    private readonly ev: ResponseEvents,
    private readonly index: number,
    private readonly item: { id: string },
  ) {}

  open(): void {
    this.ev.emit("response.output_item.added", { output_index: this.index, item: { type: "message", id: this.item.id, status: "in_progress", role: "assistant", content: [] } });
    this.ev.emit("response.content_part.added", { item_id: this.item.id, output_index: this.index, content_index: 0, part: { type: "output_text", text: "", annotations: [], logprobs: [] } });
  }

  text(delta: string): void {
    this.body += delta;
    this.ev.emit("response.output_text.delta", { item_id: this.item.id, output_index: this.index, content_index: 0, delta, logprobs: [] });
  }

  close(): void {
    const part = { type: "output_text", text: this.body, annotations: [], logprobs: [] };
    this.ev.emit("response.output_text.done", { item_id: this.item.id, output_index: this.index, content_index: 0, text: this.body, logprobs: [] });
    this.ev.emit("response.content_part.done", { item_id: this.item.id, output_index: this.index, content_index: 0, part });
    this.ev.emit("response.output_item.done", { output_index: this.index, item: { type: "message", id: this.item.id, status: "completed", role: "assistant", content: [part] } });
  }
}

/**
 * A live sample's pieces as events, as they come. Reasoning is held until the answer's
 * text or a call begins (then sent as a whole reasoning item: no event type for reasoning
 * deltas is read by every client); text opens a message item; a call opens a
 * function_call item and its argument deltas follow. `finish` closes what is open.
 */
export class LiveItems {
  private index = 0;
  private reasoning = "";
  private message: ItemStream | null = null;
  private readonly calls = new Map<number, { index: number; id: string; callId: string; name: string; args: string }>();
  private k = 0;

  constructor(
    private readonly ev: ResponseEvents,
    private readonly responseId: string,
  ) {}

  private flushReasoning(): void {
    if (!this.reasoning) return;
    const item: OutputItem = { type: "reasoning", id: itemId("rs", this.responseId, this.k++), summary: [], content: [{ type: "reasoning_text", text: this.reasoning }] };
    this.ev.item(this.index++, item);
    this.reasoning = "";
  }

  piece(p: StreamPiece): void {
    if (p.reasoning) {
      this.reasoning += p.reasoning;
      return;
    }
    if (p.text) {
      if (!this.message) {
        this.flushReasoning();
        this.message = new ItemStream(this.ev, this.index++, { id: itemId("msg", this.responseId, this.k++) });
        this.message.open();
      }
      this.message.text(p.text);
      return;
    }
    if (p.call) {
      this.flushReasoning();
      const c = { index: this.index++, id: itemId("fc", this.responseId, this.k++), callId: p.call.id, name: p.call.name, args: "" };
      this.calls.set(p.call.index, c);
      this.ev.emit("response.output_item.added", { output_index: c.index, item: { type: "function_call", id: c.id, call_id: c.callId, name: c.name, arguments: "", status: "in_progress" } });
      return;
    }
    if (p.args) {
      const c = this.calls.get(p.args.index);
      if (!c) return;
      c.args += p.args.delta;
      this.ev.emit("response.function_call_arguments.delta", { item_id: c.id, output_index: c.index, delta: p.args.delta });
    }
  }

  /**
   * Closes every open item (an answer with neither text nor calls still gets its empty
   * message). The ids follow outputItems' order (reasoning, message, calls), so the
   * response.completed that follows, built by outputItems, names the items as streamed.
   */
  finish(): void {
    this.flushReasoning();
    if (!this.message && this.calls.size === 0) {
      this.message = new ItemStream(this.ev, this.index++, { id: itemId("msg", this.responseId, this.k++) });
      this.message.open();
    }
    this.message?.close();
    for (const c of this.calls.values()) {
      const item: OutputItem = { type: "function_call", id: c.id, call_id: c.callId, name: c.name, arguments: c.args, status: "completed" };
      this.ev.emit("response.function_call_arguments.done", { item_id: c.id, output_index: c.index, arguments: c.args });
      this.ev.emit("response.output_item.done", { output_index: c.index, item });
    }
  }
}
