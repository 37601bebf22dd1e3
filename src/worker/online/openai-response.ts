/**
 * The two OpenAI wire formats allot answers in, completions and chat, from one served
 * request: the JSON body, or the chunks of a stream. One choice per prompt.
 */
import type { Context } from "hono";
import { openaiStream, streamPieces } from "../http/openai-stream.js";
import { type OnlineResult, type ServedChoice, allotHeaders } from "./serve.js";

interface WireFormat {
  readonly idPrefix: string;
  readonly object: string;
  readonly chunkObject: string;
  /** A whole answer's choice. */
  readonly choice: (index: number, text: string, finish: string | null, logprobs: unknown) => object;
  /** The stream's choices: its opening delta (if any), each piece, and the close. */
  readonly open?: (index: number) => object;
  readonly piece: (index: number, text: string) => object;
  readonly close: (index: number, finish: string, logprobs: unknown) => object;
}

export const COMPLETIONS_FORMAT: WireFormat = {
  idPrefix: "cmpl",
  object: "text_completion",
  chunkObject: "text_completion",
  choice: (index, text, finish_reason, logprobs) => ({ index, text, finish_reason, logprobs }),
  piece: (index, text) => ({ index, text, finish_reason: null, logprobs: null }),
  close: (index, finish_reason, logprobs) => ({ index, text: "", finish_reason, logprobs }),
};

export const CHAT_FORMAT: WireFormat = {
  idPrefix: "chatcmpl",
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  choice: (index, content, finish_reason, logprobs) => ({ index, message: { role: "assistant", content, refusal: null }, finish_reason, logprobs }),
  open: (index) => ({ index, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null }),
  piece: (index, content) => ({ index, delta: { content }, finish_reason: null, logprobs: null }),
  close: (index, finish_reason, logprobs) => ({ index, delta: {}, finish_reason, logprobs }),
};

const choiceInfo = (c: ServedChoice) => ({ model: c.model, samples: c.samples, units: c.units, predicted_success: c.predicted, reward: c.result.reward, rounds: c.rounds });

/** allot's account of the request: the first choice's model and prediction, totals, and each choice. */
function allotInfo(served: OnlineResult) {
  const first = served.choices[0];
  return {
    ...choiceInfo(first),
    samples: served.choices.reduce((s, c) => s + c.samples, 0),
    units: served.units,
    prefill_units: served.prefill,
    planned_units: served.planned,
    price: served.price,
    choices: served.choices.map(choiceInfo),
  };
}

/**
 * The served request as `format`'s JSON response, or as its stream when `stream` is set.
 * `prefix(i)` is text the answer to prompt i starts with (a completions `echo`).
 */
export function openaiResponse(c: Context, served: OnlineResult, format: WireFormat, stream: { on: boolean; usage: boolean }, prefix: (i: number) => string = () => ""): Response {
  const id = `${format.idPrefix}-${crypto.randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const texts = served.choices.map((ch, i) => prefix(i) + (ch.result.best ?? ""));
  const promptTokens = served.choices.reduce((s, ch) => s + ch.result.promptTokens, 0);
  const completionTokens = served.choices.reduce((s, ch) => s + ch.result.completionTokens, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const allot = allotInfo(served);
  const headers = allotHeaders(served);
  const head = { id, created, model: served.choices[0].model };
  if (!stream.on) {
    const choices = served.choices.map((ch, i) => format.choice(i, texts[i], ch.result.finishReason, ch.result.logprobs));
    return c.json({ ...head, object: format.object, choices, usage, allot }, 200, headers);
  }
  const chunk = (choice: object, extra = {}) => ({ ...head, object: format.chunkObject, choices: [choice], ...extra });
  const last = served.choices.length - 1;
  return openaiStream(
    [
      ...served.choices.flatMap((ch, i) => [
        ...(format.open ? [chunk(format.open(i))] : []),
        ...streamPieces(texts[i]).map((piece) => chunk(format.piece(i, piece))),
        chunk(format.close(i, ch.result.finishReason ?? "stop", ch.result.logprobs), i === last ? { allot } : {}),
      ]),
      ...(stream.usage ? [{ ...head, object: format.chunkObject, choices: [], usage }] : []),
    ],
    headers,
  );
}
