/**
 * OpenAI's Responses API as allot serves it: the input items clients send (every shape
 * the openai SDK, the AI SDK, LangChain and the Agents SDK send), the output items and
 * the Response object they read, and the translation of a conversation of items into the
 * chat messages the LM servers take. Pure: the route (worker/routes/responses.ts) stores
 * and serves; this says what the shapes are.
 */
import { z } from "@hono/zod-openapi";
import type { ChatMessage, ToolCall } from "./lm-protocol.js";

const Text = z.looseObject({ type: z.enum(["input_text", "output_text", "text"]), text: z.string() });
const Refusal = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });
const Image = z.looseObject({ type: z.literal("input_image"), image_url: z.string().optional(), file_id: z.string().optional(), detail: z.string().optional() });
const OtherPart = z.looseObject({ type: z.enum(["input_file", "input_audio"]) });
const Part = z.union([Text, Refusal, Image, OtherPart]);

/** A message item: `type: "message"` or none, any role a conversation has, text (or parts). */
export const MessageItem = z.looseObject({
  type: z.literal("message").optional(),
  id: z.string().optional(),
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([z.string(), z.array(Part)]),
  status: z.string().optional(),
});
export const FunctionCallItem = z.looseObject({
  type: z.literal("function_call"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  status: z.string().optional(),
});
export const FunctionCallOutputItem = z.looseObject({
  type: z.literal("function_call_output"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(Part)]),
  status: z.string().optional(),
});
export const ReasoningItem = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string().optional(),
  summary: z.array(z.looseObject({ type: z.string(), text: z.string() })).optional(),
  content: z.array(z.looseObject({ type: z.string(), text: z.string() })).optional(),
  encrypted_content: z.string().nullish(),
});
export const ItemReference = z.looseObject({ type: z.literal("item_reference"), id: z.string().min(1) });

export const InputItem = z.union([MessageItem, FunctionCallItem, FunctionCallOutputItem, ReasoningItem, ItemReference], {
  error: "an input item is a message ({role, content}), a function_call, a function_call_output, a reasoning item or an item_reference; other item types are not served",
});
export type InputItem = z.infer<typeof InputItem>;
/** An input item with every item_reference resolved. */
export type ResolvedItem = Exclude<InputItem, z.infer<typeof ItemReference>>;

/** `input`: a string (one user message) or a list of items. */
export const ResponsesInput = z.union([z.string(), z.array(InputItem).max(1024)]);

/** A function tool as the Responses API declares it (flat, unlike chat's). */
export const ResponsesTool = z.looseObject({
  type: z.string(),
  name: z.string().optional(),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

/** What a stored response keeps: the answer, and the whole conversation it ended (for previous_response_id). */
export interface StoredResponse {
  readonly tenant: string;
  readonly response: Record<string, unknown> & { id: string; output: OutputItem[] };
  /** Every item of the conversation up to and including this response's output (item_references resolved, instructions not included). */
  readonly conversation: readonly ResolvedItem[];
}

export type OutputItem =
  | { type: "message"; id: string; status: "completed"; role: "assistant"; content: { type: "output_text"; text: string; annotations: []; logprobs: unknown[] }[] }
  | { type: "function_call"; id: string; call_id: string; name: string; arguments: string; status: "completed" }
  | { type: "reasoning"; id: string; summary: []; content: { type: "reasoning_text"; text: string }[] };

const partText = (parts: string | readonly z.infer<typeof Part>[]): string =>
  typeof parts === "string" ? parts : parts.map((p) => ("text" in p && typeof p.text === "string" ? p.text : "refusal" in p && typeof p.refusal === "string" ? p.refusal : "")).join("");

/** A message item's content as chat content: a string, or parts the LM server takes (text, image_url). */
function chatContent(content: z.infer<typeof MessageItem>["content"], at: string): ChatMessage["content"] {
  if (typeof content === "string") return content;
  if (content.every((p) => p.type !== "input_image")) return partText(content);
  return content.map((p, i) => {
    if (p.type === "input_image") {
      const url = (p as z.infer<typeof Image>).image_url;
      if (!url) throw new ItemError(`${at}.content[${i}]: an image by file_id is not served; give image_url`, `${at}.content[${i}]`);
      return { type: "image_url", image_url: { url } } as never;
    }
    if (p.type === "input_file" || p.type === "input_audio") throw new ItemError(`${at}.content[${i}]: ${p.type} parts are not served`, `${at}.content[${i}]`);
    return { type: "text", text: partText([p]) };
  });
}

/** A conversation that cannot be turned into chat messages, and where. */
export class ItemError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

/**
 * The conversation as chat messages: `instructions` as a system message first; messages
 * as they are; consecutive function_call items as one assistant message with tool_calls
 * (joined to the assistant's text just before them); function_call_output items as tool
 * messages; reasoning items dropped (chat templates do not take earlier thinking back);
 * an assistant message with no content (LangChain sends one) dropped.
 *
 * @example toChat([{ role: "user", content: "hi" }], "be brief") // [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }]
 */
export function toChat(items: readonly ResolvedItem[], instructions?: string, param = "input"): ChatMessage[] {
  const out: ChatMessage[] = instructions ? [{ role: "system", content: instructions }] : [];
  items.forEach((item, i) => {
    const at = `${param}[${i}]`;
    if (item.type === "reasoning") return;
    if (item.type === "function_call") {
      const call: ToolCall = { id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } };
      const prev = out[out.length - 1];
      if (prev?.role === "assistant") out[out.length - 1] = { ...prev, content: prev.content || null, tool_calls: [...(prev.tool_calls ?? []), call] };
      else out.push({ role: "assistant", content: null, tool_calls: [call] });
      return;
    }
    if (item.type === "function_call_output") {
      out.push({ role: "tool", tool_call_id: item.call_id, content: partText(item.output) });
      return;
    }
    const content = chatContent(item.content, at);
    if (item.role === "assistant" && (content === "" || (Array.isArray(content) && content.length === 0))) return;
    out.push({ role: item.role, content });
  });
  if (out.every((m) => m.role === "system" || m.role === "developer")) throw new ItemError(`${param}: the input has no message for the model to answer`, param);
  return out;
}

/** A Responses function tool as chat's ({type: "function", function: {name, description, parameters, strict}}). */
export function chatTool(t: z.infer<typeof ResponsesTool>, at: string): { type: "function"; function: Record<string, unknown> } {
  if (t.type !== "function") throw new ItemError(`${at}: ${t.type} tools are not served (allot's LM servers call function tools only)`, `${at}.type`);
  if (!t.name) throw new ItemError(`${at}.name: a function tool needs a name`, `${at}.name`);
  return {
    type: "function",
    function: {
      name: t.name,
      ...(t.description ? { description: t.description } : {}),
      ...(t.parameters ? { parameters: t.parameters } : {}),
      ...(typeof t.strict === "boolean" ? { strict: t.strict } : {}),
    },
  };
}

/** Responses' tool_choice as chat's: "auto"/"none"/"required" as they are, a named function as {type, function: {name}}. */
export function chatToolChoice(choice: unknown): unknown {
  if (typeof choice === "string") return choice;
  const c = choice as { type?: string; name?: string };
  if (c?.type === "function" && c.name) return { type: "function", function: { name: c.name } };
  throw new ItemError(`tool_choice: ${JSON.stringify(choice)} is not served (only auto, none, required or a function by name)`, "tool_choice");
}

/** The ids of a response's items: `<kind>_<the response's hex>_<k>`, so an item_reference finds its response. */
export const itemId = (kind: "msg" | "fc" | "rs", responseId: string, k: number) => `${kind}_${responseId.slice("resp_".length)}_${k}`;
/** The response an item id was made for (itemId's inverse), or null for an id allot did not make. */
export function responseOfItem(id: string): string | null {
  const m = /^(?:msg|fc|rs)_([0-9a-f]{24}|[0-9a-f]{48})_\d+$/.exec(id);
  return m ? `resp_${m[1]}` : null;
}
/** A response id as allot makes them: 48 hex characters, signed for its tenant (core/feedback/response-id.ts); 24 unsigned before. */
export const RESPONSE_ID = /^resp_(?:[0-9a-f]{24}|[0-9a-f]{48})$/;
