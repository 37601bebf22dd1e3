/**
 * The two OpenAI wire formats allot answers in, completions and chat, from one served
 * request: the JSON body, or the chunks of a stream. n choices per prompt (prompt-major,
 * as OpenAI orders them).
 *
 * Streams: a request whose plan is one sample streams the LM's pieces as they come (its
 * headers go out first, so allot's account is in the last chunk's `allot`); one that
 * samples in rounds answers as a whole stream when it is done within STREAM_GRACE_MS,
 * else starts the stream with keep-alive comments and sends the chosen answers when they
 * are chosen. An error before the stream starts is an HTTP error; after, a chunk with
 * `error` (which the SDKs raise), then the end.
 */
import type { Context } from "hono";
import type { StreamPiece } from "../../core/backends/best-of-k.js";
import type { Reasoning } from "../../core/backends/completions.js";
import type { ToolCall } from "../../core/contracts/lm-protocol.js";
import { newResponseId } from "../auth/response-id.js";
import type { AppEnv } from "../env.js";
import { httpError } from "../http/errors.js";
import { type SseWriter, keepAliveUntil, sseResponse, streamPieces, withinGrace } from "../http/openai-stream.js";
import { type Answer, type OnlineResult, type Serving, type ServedChoice, allotHeaders } from "./serve.js";

interface WireFormat {
  /** What response ids start with, as OpenAI's clients expect. */
  readonly idPrefix: "chatcmpl-" | "cmpl-";
  readonly object: string;
  readonly chunkObject: string;
  /** A whole answer's choice. */
  readonly choice: (index: number, a: Answer) => object;
  /** The stream's choices: its opening delta (if any), text, reasoning, tool calls, and the close. */
  readonly open?: (index: number) => object;
  readonly piece: (index: number, text: string) => object;
  readonly reasoning?: (index: number, field: Reasoning["field"], text: string) => object;
  readonly call?: (index: number, call: number, id: string, name: string, args: string) => object;
  readonly args?: (index: number, call: number, delta: string) => object;
  readonly close: (index: number, finish: string, logprobs: unknown) => object;
}

export const COMPLETIONS_FORMAT: WireFormat = {
  idPrefix: "cmpl-",
  object: "text_completion",
  chunkObject: "text_completion",
  choice: (index, a) => ({ index, text: a.text, finish_reason: a.finishReason, logprobs: a.logprobs ?? null }),
  piece: (index, text) => ({ index, text, finish_reason: null, logprobs: null }),
  close: (index, finish_reason, logprobs) => ({ index, text: "", finish_reason, logprobs }),
};

const chatCalls = (calls: readonly ToolCall[]) => calls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.function.name, arguments: c.function.arguments } }));

export const CHAT_FORMAT: WireFormat = {
  idPrefix: "chatcmpl-",
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  choice: (index, a) => ({
    index,
    message: {
      role: "assistant",
      content: a.toolCalls && a.text === "" ? null : a.text,
      refusal: null,
      ...(a.toolCalls ? { tool_calls: chatCalls(a.toolCalls) } : {}),
      // The thinking of a reasoning model, under the name its server used (vLLM: reasoning; SGLang: reasoning_content).
      ...(a.reasoning ? { [a.reasoning.field]: a.reasoning.text } : {}),
    },
    finish_reason: a.finishReason,
    logprobs: a.logprobs ?? null,
  }),
  open: (index) => ({ index, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null }),
  piece: (index, content) => ({ index, delta: { content }, finish_reason: null, logprobs: null }),
  reasoning: (index, field, text) => ({ index, delta: { [field]: text }, finish_reason: null, logprobs: null }),
  // A call's first delta carries its id, type and name; later ones only arguments (a repeated name is concatenated by some clients).
  call: (index, call, id, name, args) => ({ index, delta: { tool_calls: [{ index: call, id, type: "function", function: { name, arguments: args } }] }, finish_reason: null, logprobs: null }),
  args: (index, call, delta) => ({ index, delta: { tool_calls: [{ index: call, function: { arguments: delta } }] }, finish_reason: null, logprobs: null }),
  close: (index, finish_reason, logprobs) => ({ index, delta: {}, finish_reason, logprobs }),
};

const choiceInfo = (c: ServedChoice) => ({
  model: c.model,
  samples: c.samples,
  units: c.units,
  predicted_success: c.predicted,
  reward: c.result.reward,
  rounds: c.rounds,
  ranked_by: c.result.by,
  agreement: c.result.votes === null ? null : c.result.votes / c.result.drawn.length,
  ...(c.thinking ? { thinking: c.thinking } : {}),
});

/** allot's account of the request: the first choice's model and prediction, totals, and each prompt. */
export function allotInfo(served: OnlineResult) {
  const first = served.choices[0];
  return {
    ...choiceInfo(first),
    samples: served.choices.reduce((s, c) => s + c.samples, 0),
    units: served.units,
    prefill_units: served.prefill,
    planned_units: served.planned,
    price: served.price,
    choices: served.choices.map(choiceInfo),
    ...(served.warnings.length > 0 ? { warnings: served.warnings } : {}),
  };
}

/** Token usage of every sample drawn, in chat and completions' shape. */
export function usageOf(served: OnlineResult) {
  const prompt = served.choices.reduce((s, c) => s + c.result.promptTokens, 0);
  const completion = served.choices.reduce((s, c) => s + c.result.completionTokens, 0);
  const reasoning = served.choices.reduce((s, c) => s + c.result.reasoningTokens, 0);
  // Reasoning tokens as OpenAI and vLLM report them, when the samples thought.
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, ...(reasoning > 0 ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}) };
}

/**
 * The id of a response in `format`, made before serving so an audit of the request keeps it
 * (OnlineRequest.responseId); signed for the tenant, so POST /v1/feedback can tell it gave
 * this id (auth/response-id.ts).
 */
export const responseIdFor = (c: Context<AppEnv>, format: WireFormat): Promise<string> => newResponseId(c.env, c.get("tenant"), format.idPrefix);

/**
 * The served request as `format`'s JSON response, or as its stream when `stream` is set.
 * `prefix(i)` is text the answers to prompt i start with (a completions `echo`).
 */
export async function openaiResponse(c: Context<AppEnv>, response: { id: string; serving: Serving }, format: WireFormat, stream: { on: boolean; usage: boolean }, prefix: (i: number) => string = () => ""): Promise<Response> {
  const { id, serving } = response;
  const created = Math.floor(Date.now() / 1000);
  const withPrefix = (served: OnlineResult) => served.choices.map((ch, i) => ch.answers.map((a) => ({ ...a, text: prefix(i) + a.text })));
  if (!stream.on) {
    const served = await serving.result;
    const answers = withPrefix(served);
    const choices = answers.flatMap((as, i) => as.map((a, j) => format.choice(i * as.length + j, a)));
    return c.json({ id, object: format.object, created, model: served.choices[0].model, choices, usage: usageOf(served), allot: allotInfo(served) }, 200, allotHeaders(served));
  }
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const chunk = (model: string, choices: object[], extra = {}) => ({ id, object: format.chunkObject, created, model, choices, ...extra });
  /** The whole answers, as chunks; the last close carries allot. */
  const whole = (out: SseWriter, served: OnlineResult) => {
    const model = served.choices[0].model;
    const answers = withPrefix(served);
    const count = answers.reduce((s, as) => s + as.length, 0);
    let k = 0;
    answers.forEach((as, i) =>
      as.forEach((a, j) => {
        const index = i * as.length + j;
        const send = (choice: object, extra = {}) => out.data(chunk(model, [choice], extra));
        if (format.open) send(format.open(index));
        if (a.reasoning && format.reasoning) send(format.reasoning(index, a.reasoning.field, a.reasoning.text));
        for (const piece of streamPieces(a.text)) send(format.piece(index, piece));
        a.toolCalls?.forEach((call, n) => format.call && send(format.call(index, n, call.id, call.function.name, call.function.arguments)));
        send(format.close(index, a.finishReason ?? "stop", a.logprobs ?? null), ++k === count ? { allot: allotInfo(served) } : {});
      }),
    );
    if (stream.usage) out.data(chunk(model, [], { usage: usageOf(served) }));
    out.done();
  };
  /** An error once the stream has started: the chunk OpenAI's SDKs raise, then the end. */
  const failed = (out: SseWriter, e: unknown) => {
    out.data(httpError(e).body);
    out.done();
  };

  if (serving.live) {
    const live = serving.live;
    return sseResponse(
      {},
      async (out) => {
        let model = serving.model;
        try {
          if (format.open) out.data(chunk(model, [format.open(0)]));
          if (prefix(0)) out.data(chunk(model, [format.piece(0, prefix(0))]));
          for await (const piece of live) out.data(chunk(model, [pieceChoice(format, piece)]));
          const served = await serving.result;
          model = served.choices[0].model;
          const a = served.choices[0].answers[0];
          out.data(chunk(model, [format.close(0, a.finishReason ?? "stop", a.logprobs ?? null)], { allot: allotInfo(served) }));
          if (stream.usage) out.data(chunk(model, [], { usage: usageOf(served) }));
          out.done();
        } catch (e) {
          failed(out, e);
        }
      },
      waitUntil,
    );
  }
  const early = await withinGrace(serving.result);
  if (early) return sseResponse(allotHeaders(early.value), async (out) => whole(out, early.value), waitUntil);
  return sseResponse(
    {},
    async (out) => {
      try {
        whole(out, await keepAliveUntil(out, serving.result));
      } catch (e) {
        failed(out, e);
      }
    },
    waitUntil,
  );
}

/** A streamed piece as a chunk's choice (index 0). */
function pieceChoice(format: WireFormat, p: StreamPiece): object {
  if (p.text !== undefined) return format.piece(0, p.text);
  if (p.reasoning !== undefined && format.reasoning) return format.reasoning(0, p.field ?? "reasoning", p.reasoning);
  if (p.call && format.call) return format.call(0, p.call.index, p.call.id, p.call.name, "");
  if (p.args && format.args) return format.args(0, p.args.index, p.args.delta);
  return format.piece(0, "");
}
