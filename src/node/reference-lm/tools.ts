/**
 * How the reference LMs use tools. They are arithmetic models with no tool-calling
 * training, so the server's "tool parser" is a fixed rule, enough to drive tool-calling
 * clients end to end: when a request offers function tools (and tool_choice is not
 * "none") and the conversation's last message is the user's, the model's sampled answer
 * comes back as a call of the tool (the one tool_choice names, else the first), with the
 * answer as the value of the tool's first parameter ("answer" when it declares none): a
 * number for a number parameter. After a tool's result, the model answers in text.
 *
 * Samples of one prompt then differ in their calls' arguments as their answers differ,
 * which is what a gateway reranking tool calls by agreement has to go on.
 */
import type { ChatMessage, ToolCall } from "../../core/contracts/lm-protocol.js";

type Tool = { type: "function"; function: { name: string; parameters?: Record<string, unknown> } };
type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } } | undefined;

/** The tool this request's answer calls, or null for a text answer. */
export function toolToCall(messages: readonly ChatMessage[], tools: readonly Tool[] | undefined, choice: ToolChoice): Tool | null {
  if (!tools?.length || choice === "none") return null;
  if (messages[messages.length - 1].role !== "user") return null;
  if (typeof choice === "object") return tools.find((t) => t.function.name === choice.function.name) ?? null;
  return tools[0];
}

/** The tool's first parameter and whether it takes a number. */
function firstParameter(tool: Tool): { name: string; numeric: boolean } {
  const props = (tool.function.parameters?.properties ?? {}) as Record<string, { type?: unknown }>;
  const [name, schema] = Object.entries(props)[0] ?? ["answer", {}];
  return { name, numeric: schema?.type === "number" || schema?.type === "integer" };
}

/** The call of `tool` whose first parameter is the sampled `text`. */
export function callOf(tool: Tool, text: string, id: string): ToolCall {
  const p = firstParameter(tool);
  const value = p.numeric && /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : text;
  return { id, type: "function", function: { name: tool.function.name, arguments: JSON.stringify({ [p.name]: value }) } };
}
