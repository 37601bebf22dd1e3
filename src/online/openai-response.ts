/**
 * The two OpenAI wire formats allot answers in, completions and chat, from one served
 * request: the JSON body, or the chunks of a stream.
 */
import type { Context } from "hono";
import { openaiStream, streamPieces } from "../http/openai-stream.js";
import { type OnlineResult, allotHeaders } from "./serve.js";

interface WireFormat {
  readonly idPrefix: string;
  readonly object: string;
  readonly chunkObject: string;
  /** A whole answer's choice. */
  readonly choice: (text: string, finish: string | null) => object;
  /** The stream's choices: its opening delta (if any), each piece, and the close. */
  readonly open?: object;
  readonly piece: (text: string) => object;
  readonly close: (finish: string) => object;
}

export const COMPLETIONS_FORMAT: WireFormat = {
  idPrefix: "cmpl",
  object: "text_completion",
  chunkObject: "text_completion",
  choice: (text, finish_reason) => ({ index: 0, text, finish_reason, logprobs: null }),
  piece: (text) => ({ index: 0, text, finish_reason: null, logprobs: null }),
  close: (finish_reason) => ({ index: 0, text: "", finish_reason, logprobs: null }),
};

export const CHAT_FORMAT: WireFormat = {
  idPrefix: "chatcmpl",
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  choice: (content, finish_reason) => ({ index: 0, message: { role: "assistant", content }, finish_reason, logprobs: null }),
  open: { index: 0, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null },
  piece: (content) => ({ index: 0, delta: { content }, finish_reason: null, logprobs: null }),
  close: (finish_reason) => ({ index: 0, delta: {}, finish_reason, logprobs: null }),
};

/** The served request as `format`'s JSON response, or as its stream when `stream` is set. */
export function openaiResponse(c: Context, served: OnlineResult, format: WireFormat, stream: { on: boolean; usage: boolean }): Response {
  const { result } = served;
  const id = `${format.idPrefix}-${crypto.randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const text = result.best ?? "";
  const usage = { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
  const allot = { model: served.model, samples: served.samples, units: served.units, predicted_success: served.predicted, price: served.price, reward: result.reward };
  const headers = allotHeaders(served);
  const head = { id, created, model: served.model };
  if (!stream.on) {
    return c.json({ ...head, object: format.object, choices: [format.choice(text, result.finishReason)], usage, allot }, 200, headers);
  }
  const chunk = (choice: object, extra = {}) => ({ ...head, object: format.chunkObject, choices: [choice], ...extra });
  return openaiStream(
    [
      ...(format.open ? [chunk(format.open)] : []),
      ...streamPieces(text).map((piece) => chunk(format.piece(piece))),
      chunk(format.close(result.finishReason ?? "stop"), { allot }),
      ...(stream.usage ? [{ ...head, object: format.chunkObject, choices: [], usage }] : []),
    ],
    headers,
  );
}
