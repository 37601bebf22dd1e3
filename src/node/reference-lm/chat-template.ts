/**
 * The reference LMs' chat template. They are single-turn arithmetic models, so a
 * conversation's prompt is the text of its last user message; system and developer
 * messages, earlier turns, and what follows the last user message (an assistant's tool
 * calls, the tools' results) are not shown to the model. Like any chat template, this
 * belongs to the model server: the gateway forwards `messages` untouched.
 */
import { type ChatMessage, messageText } from "../../core/contracts/lm-protocol.js";

export type Rendered = { prompt: string } | { error: string };

/** The prompt of a conversation that asks for the assistant's next turn. */
export function renderChat(messages: readonly ChatMessage[]): Rendered {
  const end = messages[messages.length - 1].role;
  if (end !== "user" && end !== "tool" && end !== "function") return { error: `the last message must be the user's or a tool's result (got ${end})` };
  const last = messages.findLast((m) => m.role === "user");
  if (!last) return { error: "the conversation has no user message" };
  const text = messageText(last);
  return text === "" ? { error: "the last user message has no text" } : { prompt: text };
}

/** A conversation ending with the assistant's answer, as a reward model scores it. */
export function renderScored(messages: readonly ChatMessage[]): { prompt: string; completion: string } | { error: string } {
  const last = messages[messages.length - 1];
  if (last.role !== "assistant" || messages.length < 2) return { error: "to be scored, a conversation must end with the assistant's answer to a user message" };
  if (last.tool_calls?.length) return { error: "the reference verifiers score text answers, not tool calls" };
  const asked = renderChat(messages.slice(0, -1));
  return "error" in asked ? asked : { prompt: asked.prompt, completion: messageText(last) };
}
