/**
 * The reference LMs' chat template. They are single-turn arithmetic models, so a
 * conversation's prompt is the text of its last user message; system and developer
 * messages, earlier turns, and what follows the last user message (an assistant's tool
 * calls, the tools' results) are not shown to the model. As in any chat template, a turn
 * ends with an end-of-turn token: here the model's own end of sequence, "\n" (Qwen's ends
 * a turn with "<|im_end|>\n"). With the generation prompt (what /v1/chat/completions
 * renders, and what the gateway asks /pooling for) the user's turn runs straight into
 * the assistant's answer, which is the bare prompt the models were trained on; without
 * it (vLLM's /pooling default: add_generation_prompt false) the turn is closed, and the
 * hidden state is the end-of-turn token's, not the prompt's. Like any chat template, this
 * belongs to the model server: the gateway forwards `messages` untouched.
 */
import { type ChatMessage, messageText } from "../../core/contracts/lm-protocol.js";

export type Rendered = { prompt: string } | { error: string };

/** Ends a closed turn: the models' end-of-sequence token. */
export const END_OF_TURN = "\n";

/**
 * The text of a conversation that ends with the user's turn or a tool's result: with the
 * generation prompt, the prompt the assistant answers; without, the closed turn.
 *
 * @example renderChat([{ role: "user", content: "12+34=" }], true) // { prompt: "12+34=" }
 * @example renderChat([{ role: "user", content: "12+34=" }], false) // { prompt: "12+34=\n" }
 */
export function renderChat(messages: readonly ChatMessage[], addGenerationPrompt: boolean): Rendered {
  const end = messages[messages.length - 1].role;
  if (end !== "user" && end !== "tool" && end !== "function") return { error: `the last message must be the user's or a tool's result (got ${end})` };
  const last = messages.findLast((m) => m.role === "user");
  if (!last) return { error: "the conversation has no user message" };
  const text = messageText(last);
  return text === "" ? { error: "the last user message has no text" } : { prompt: text + (addGenerationPrompt ? "" : END_OF_TURN) };
}

/** A conversation ending with the assistant's answer, as a reward model scores it. */
export function renderScored(messages: readonly ChatMessage[]): { prompt: string; completion: string } | { error: string } {
  const last = messages[messages.length - 1];
  if (last.role !== "assistant" || messages.length < 2) return { error: "to be scored, a conversation must end with the assistant's answer to a user message" };
  if (last.tool_calls?.length) return { error: "the reference verifiers score text answers, not tool calls" };
  const asked = renderChat(messages.slice(0, -1), true);
  return "error" in asked ? asked : { prompt: asked.prompt, completion: messageText(last) };
}
