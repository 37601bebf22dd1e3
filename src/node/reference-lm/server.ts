import { randomBytes, randomUUID } from "node:crypto";
import { Hono } from "hono";
import type { Context } from "hono";
import type { ZodType } from "zod";
import {
  type CompletionResponse,
  type ChatCompletionResponse,
  ChatCompletionRequestSchema,
  CompletionRequestSchema,
  type GenerateResponse,
  GenerateRequestSchema,
  LM_LIMITS,
  type PoolingResponse,
  PoolingRequestSchema,
  type PoolingRequest,
  REMOVED_POOLING_TASKS,
  ClassifyRequestSchema,
  type ClassifyResponse,
  EmbeddingRequestSchema,
  type ToolCall,
  type ReasoningEffort,
  stopList,
} from "../../core/contracts/lm-protocol.js";
import { firstIssue } from "../../core/contracts/issues.js";
import { envelope } from "../../core/contracts/errors.js";
import type { ReferenceLM } from "./model.js";
import { renderChat, renderScored } from "./chat-template.js";
import { THINK_END, THINK_START, binaryReward, gradedReward } from "./task.js";
import { scoredOf } from "./tasks.js";
import type { Sample } from "./model.js";
import { callOf, toolToCall } from "./tools.js";

/** Reward models served through /pooling, as vLLM serves reward models. */
export const REWARD_MODELS = {
  "verifier-binary": binaryReward,
  "verifier-graded": gradedReward,
} as const;
type RewardModel = keyof typeof REWARD_MODELS;

class LmError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

const badRequest = (message: string, param: string | null = null) => new LmError(400, message, param);

/** The thinking fields of a completions or chat request (lm-protocol.ts, THINKING_FIELDS). */
interface ThinkingFields {
  readonly thinking_token_budget?: number | null;
  readonly reasoning_effort?: ReasoningEffort | null;
}

/**
 * The thinking budget a request sets for model m: `thinking_token_budget` when it is set
 * (-1 and null mean unlimited, as in vLLM), else the budget the model's manifest gives its
 * `reasoning_effort` level, else unlimited (undefined). A model that does not think is
 * refused a budget (as vLLM refuses one on a server without a reasoning parser) and an
 * effort level (it has none to map).
 */
export function thinkingBudgetOf(m: ReferenceLM, req: ThinkingFields): number | undefined {
  const thinking = m.manifest.thinking;
  const explicit = req.thinking_token_budget ?? -1;
  const effort = req.reasoning_effort ?? null;
  if (!thinking) {
    if (explicit >= 0) throw badRequest(`thinking_token_budget is set but ${m.name} does not think (it has no reasoning tokens); it applies to a thinking model`, "thinking_token_budget");
    if (effort !== null) throw badRequest(`reasoning_effort is set but ${m.name} does not think (it has no reasoning tokens); it applies to a thinking model`, "reasoning_effort");
    return undefined;
  }
  if (explicit >= 0) return explicit;
  if (effort === null) return undefined;
  const budget = thinking.reasoning_effort?.[effort];
  if (budget === undefined) throw badRequest(`${m.name}'s manifest maps no budget to reasoning_effort "${effort}"`, "reasoning_effort");
  return budget ?? undefined;
}

/**
 * A thinking model's completion split as vLLM's reasoning parser splits it
 * (BaseThinkingReasoningParser.extract_reasoning): the text between the markers is the
 * reasoning, what follows the end marker the content (null when empty); thinking that
 * never closed is all reasoning; a completion that never opened it is all content.
 *
 * @example splitReasoning("<think>3+3</think>6") // { reasoning: "3+3", content: "6" }
 */
export function splitReasoning(text: string): { reasoning: string | null; content: string | null } {
  const start = text.indexOf(THINK_START);
  if (start < 0) return { reasoning: null, content: text };
  const rest = text.slice(start + THINK_START.length);
  const end = rest.indexOf(THINK_END);
  if (end < 0) return { reasoning: rest, content: null };
  const content = rest.slice(end + THINK_END.length);
  return { reasoning: rest.slice(0, end), content: content === "" ? null : content };
}

/** OpenAI's usage for these samples; a thinking model's with its reasoning tokens. */
function usageOf(m: ReferenceLM, promptTokens: number, samples: readonly Sample[]) {
  const completion = samples.reduce((s, x) => s + x.tokens, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
  if (!m.manifest.thinking) return usage;
  return { ...usage, completion_tokens_details: { reasoning_tokens: samples.reduce((s, x) => s + x.thinkingTokens, 0) } };
}

async function body<T>(c: Context, schema: ZodType<T>): Promise<T> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    throw badRequest("the request body is not valid JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const { message, param } = firstIssue(parsed.error);
    throw badRequest(message, param);
  }
  return parsed.data;
}

/**
 * A server-sent event stream in OpenAI's format: `send` writes a `data: <json>` event, and
 * the stream ends with `data: [DONE]` when `produce` returns. An error once the stream has
 * begun is sent as a chunk with `error` (what vLLM does), since the status is already out.
 */
function sse(c: Context, produce: (send: (chunk: unknown) => void) => Promise<void>): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (chunk: unknown) => controller.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\n\n`));
      try {
        await produce(send);
      } catch (e) {
        send(envelope({ type: "api_error", message: (e as Error).message, code: "500" }));
      }
      controller.enqueue(enc.encode("data: [DONE]\n\n"));
      controller.close();
    },
  });
  return c.body(body, 200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
}

/**
 * The reference LM server: OpenAI-style completions, vLLM-style pooling (hidden states
 * for the LMs, scores for the reward models) and the model list, over the given models.
 * Errors use OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
 */
export function createLmServer(models: readonly ReferenceLM[]): Hono {
  const lms = new Map(models.map((m) => [m.name, m]));
  const created = Math.floor(Date.now() / 1000);
  const app = new Hono();

  const lm = (name: string): ReferenceLM => {
    const m = lms.get(name);
    if (!m) throw new LmError(404, `model "${name}" does not exist; GET /v1/models lists the models served here`, "model");
    return m;
  };

  const encode = (m: ReferenceLM, text: string, param: string): number[] => {
    const r = m.tokenizer.encode(text);
    if ("bad" in r) throw badRequest(`${JSON.stringify(r.bad)} is not in ${m.name}'s vocabulary (${m.tokenizer.describe()})`, param);
    if (r.ids.length === 0) throw badRequest("a prompt must not be empty", param);
    return r.ids;
  };

  app.get("/health", (c) => c.body(null, 200));

  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: [
        ...models.map((m) => ({ id: m.name, object: "model", created, owned_by: "allot", max_model_len: m.manifest.context_length })),
        ...Object.keys(REWARD_MODELS).map((id) => ({ id, object: "model", created, owned_by: "allot" })),
      ],
    }),
  );

  app.post("/v1/completions", async (c) => {
    const req = await body(c, CompletionRequestSchema);
    const m = lm(req.model);
    const prompts = typeof req.prompt === "string" ? [req.prompt] : req.prompt;
    const single = typeof req.prompt === "string";
    const ids = prompts.map((p, i) => encode(m, p, single ? "prompt" : `prompt[${i}]`));
    if (prompts.length * req.n > LM_LIMITS.maxSamplesPerRequest) {
      throw badRequest(`${prompts.length} prompts × n = ${req.n} is more than ${LM_LIMITS.maxSamplesPerRequest} samples in one request`, "n");
    }
    const ctx = m.manifest.context_length;
    ids.forEach((p, i) => {
      if (p.length + req.max_tokens > ctx) {
        throw badRequest(
          `this model's maximum context length is ${ctx} tokens; you requested ${p.length + req.max_tokens} ` +
            `(${p.length} in the prompt, ${req.max_tokens} in the completion)`,
          single ? "max_tokens" : `prompt[${i}]`,
        );
      }
    });
    const thinkingBudget = thinkingBudgetOf(m, req);
    const params = {
      n: req.n,
      temperature: req.temperature,
      topP: req.top_p,
      maxTokens: req.max_tokens,
      stop: stopList(req.stop) ?? [],
      seed: req.seed ?? randomBytes(4).readUInt32LE(0),
      thinkingBudget,
    };
    const promptTokens = ids.reduce((s, p) => s + p.length, 0);
    const head = { id: `cmpl-${randomUUID()}`, object: "text_completion", created: Math.floor(Date.now() / 1000), model: m.name };
    if (req.stream) {
      // OpenAI's chunks, each sample's text as it is generated (index: prompt-major, then sample).
      return sse(c, async (send) => {
        const samples = await m.generate(ids, { ...params, onText: (i, k, text, finish) => send({ ...head, choices: [{ index: i * req.n + k, text, finish_reason: finish, logprobs: null }] }) });
        if (req.stream_options?.include_usage) send({ ...head, choices: [], usage: usageOf(m, promptTokens, samples.flat()) });
      });
    }
    const samples = await m.generate(ids, params);
    const res: CompletionResponse = {
      ...head,
      object: "text_completion",
      // OpenAI's order: prompt-major, then sample.
      choices: samples.flatMap((ps, i) =>
        ps.map((s, k) => ({
          index: i * req.n + k,
          text: s.text,
          finish_reason: s.finishReason,
          logprobs: null,
          ...(req.return_token_ids ? { prompt_token_ids: ids[i], token_ids: [...s.tokenIds] } : {}),
        })),
      ),
      usage: usageOf(m, promptTokens, samples.flat()),
    };
    return c.json(res);
  });

  /**
   * OpenAI's chat completions: the reference chat template turns the messages into the
   * prompt; with function tools, the answer may come back as a tool call (tools.ts).
   */
  app.post("/v1/chat/completions", async (c) => {
    const req = await body(c, ChatCompletionRequestSchema);
    const m = lm(req.model);
    // add_generation_prompt defaults to true for chat completions (vLLM's ChatCompletionRequest).
    const rendered = renderChat(req.messages, true);
    if ("error" in rendered) throw badRequest(rendered.error, "messages");
    const choice = req.tool_choice;
    if (typeof choice === "object" && !req.tools?.some((t) => t.function.name === choice.function.name)) {
      throw badRequest(`tool_choice names ${choice.function.name}, which is not among the tools`, "tool_choice");
    }
    if (choice === "required" && !req.tools?.length) throw badRequest("tool_choice is required but no tools are given", "tool_choice");
    const tool = toolToCall(req.messages, req.tools, choice);
    const ids = encode(m, rendered.prompt, "messages");
    const maxTokens = req.max_completion_tokens ?? req.max_tokens ?? 16;
    if (ids.length + maxTokens > m.manifest.context_length) {
      throw badRequest(`this model's maximum context length is ${m.manifest.context_length} tokens; you requested ${ids.length + maxTokens}`, "max_tokens");
    }
    const thinkingBudget = thinkingBudgetOf(m, req);
    const params = {
      n: req.n,
      temperature: req.temperature,
      topP: req.top_p,
      maxTokens,
      stop: stopList(req.stop) ?? [],
      seed: req.seed ?? randomBytes(4).readUInt32LE(0),
      thinkingBudget,
    };
    // A thinking model's reasoning comes apart from its answer, as vLLM's reasoning parser gives it.
    const message = (text: string) => {
      if (!m.manifest.thinking) return { role: "assistant" as const, content: text };
      const { reasoning, content } = splitReasoning(text);
      return { role: "assistant" as const, content, reasoning: req.include_reasoning === false ? null : reasoning };
    };
    const head = { id: `chatcmpl-${randomUUID()}`, object: "chat.completion", created: Math.floor(Date.now() / 1000), model: m.name };
    const call = (text: string): ToolCall => callOf(tool!, text, `call_${randomBytes(12).toString("hex")}`);
    if (req.stream) {
      return sse(c, async (send) => {
        const chunk = (index: number, delta: object, finish: string | null = null) => send({ ...head, object: "chat.completion.chunk", choices: [{ index, delta, finish_reason: finish, logprobs: null }] });
        for (let k = 0; k < req.n; k++) chunk(k, { role: "assistant", content: tool ? null : "" });
        const texts = Array.from({ length: req.n }, () => "");
        const [samples] = await m.generate([ids], {
          ...params,
          onText: (_i, k, text, finish) => {
            texts[k] += text;
            if (!tool && text) chunk(k, { content: text });
            if (!finish) return;
            if (tool) chunk(k, { tool_calls: [{ index: 0, ...call(texts[k]) }] });
            chunk(k, {}, tool ? "tool_calls" : finish);
          },
        });
        if (req.stream_options?.include_usage) send({ ...head, object: "chat.completion.chunk", choices: [], usage: usageOf(m, ids.length, samples) });
      });
    }
    const [samples] = await m.generate([ids], params);
    const res: ChatCompletionResponse = {
      ...head,
      object: "chat.completion",
      choices: samples.map((s, index) => ({
        index,
        ...(tool
          ? { message: { role: "assistant" as const, content: null, tool_calls: [call(s.text)] }, finish_reason: "tool_calls" }
          : { message: message(s.text), finish_reason: s.finishReason }),
        ...(req.return_token_ids ? { token_ids: [...s.tokenIds] } : {}),
      })),
      ...(req.return_token_ids ? { prompt_token_ids: ids } : {}),
      usage: usageOf(m, ids.length, samples),
    };
    return c.json(res);
  });

  /**
   * OpenAI's embeddings, as a vLLM embed runner serves them: the last token's state,
   * L2-normalised (vLLM's default activation for embed), as floats or as base64 of
   * little-endian float32 (`encoding_format: "base64"`, what OpenAI's SDK asks for).
   */
  app.post("/v1/embeddings", async (c) => {
    const req = await body(c, EmbeddingRequestSchema);
    const m = lm(req.model);
    const inputs = typeof req.input === "string" ? [req.input] : req.input;
    const ids = inputs.map((t, i) => encode(m, t, typeof req.input === "string" ? "input" : `input[${i}]`));
    ids.forEach((p, i) => {
      if (p.length > m.manifest.context_length) throw badRequest(`input is longer than the context (${m.manifest.context_length} tokens)`, `input[${i}]`);
    });
    if (req.dimensions !== undefined) throw badRequest("dimensions is currently not supported", "dimensions");
    const vectors = (await m.hiddenStates(ids)).map((h) => {
      const norm = Math.hypot(...h) || 1;
      return Float32Array.from(h, (x) => x / norm);
    });
    const tokens = ids.reduce((s, p) => s + p.length, 0);
    return c.json({
      object: "list",
      data: vectors.map((v, index) => ({
        object: "embedding",
        index,
        embedding: req.encoding_format === "base64" ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v),
      })),
      model: m.name,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });

  /**
   * SGLang's native /generate, served by the first model (an SGLang server serves one).
   * With return_hidden_states, meta_info.hidden_states holds only the prefill's
   * per-token rows: the reference LM does not keep the decode steps' states.
   */
  app.post("/generate", async (c) => {
    const req = await body(c, GenerateRequestSchema);
    const m = models[0];
    const single = typeof req.text === "string";
    const texts = single ? [req.text as string] : (req.text as string[]);
    const sp = req.sampling_params;
    const ids = texts.map((t, i) => encode(m, t, single ? "text" : `text[${i}]`));
    ids.forEach((p, i) => {
      if (p.length + sp.max_new_tokens > m.manifest.context_length) {
        throw badRequest(`prompt + max_new_tokens exceed the context (${m.manifest.context_length} tokens)`, single ? "sampling_params.max_new_tokens" : `text[${i}]`);
      }
    });
    const samples = await m.generate(ids, {
      n: 1,
      temperature: sp.temperature,
      topP: sp.top_p,
      maxTokens: sp.max_new_tokens,
      stop: stopList(sp.stop) ?? [],
      seed: randomBytes(4).readUInt32LE(0),
    });
    const states = req.return_hidden_states ? await m.tokenStates(ids) : null;
    const d = m.manifest.hidden_size;
    const res: GenerateResponse = samples.map(([s], i) => ({
      text: s.text,
      meta_info: {
        id: randomUUID().replaceAll("-", ""),
        prompt_tokens: ids[i].length,
        completion_tokens: s.tokens,
        finish_reason: { type: s.finishReason },
        ...(states ? { hidden_states: [Array.from({ length: ids[i].length }, (_, t) => Array.from(states[i].subarray(t * d, (t + 1) * d)))] } : {}),
      },
    }));
    return c.json(single ? res[0] : res);
  });

  /**
   * The reference LM's pooler, as a vLLM pooling instance started with
   * --pooler-config '{"pooling_type": "LAST", "use_activation": false}' serves it: the
   * LMs' default task is embed (the last token's state, raw unless the request sets
   * use_activation, which L2-normalises), token_embed gives every token's state; the
   * reward models' task is classify ([score]). Removed parameters and tasks are refused
   * with vLLM's messages (reject_removed_pooling_parameters, check_removed_pooling_task).
   */
  const pool = async (req: PoolingRequest, scoring: boolean) => {
    if (req.normalize !== undefined) throw badRequest("Parameter `normalize` was removed; use `use_activation` instead.", "normalize");
    if (req.task !== undefined && REMOVED_POOLING_TASKS[req.task]) throw badRequest(REMOVED_POOLING_TASKS[req.task], "task");
    const task = req.task ?? (scoring ? "classify" : "embed");
    const supported = scoring ? ["classify"] : ["embed", "token_embed"];
    if (!supported.includes(task)) throw badRequest(`Unsupported task: '${task}' Supported tasks: (${supported.map((t) => `'${t}'`).join(", ")})`, "task");
    // A conversation is one input: its rendered prompt (LMs) or prompt + answer (reward models).
    let inputs: string[];
    let param: (i: number) => string;
    if (req.messages) {
      // /pooling renders without the generation prompt unless asked (vLLM's PoolingChatRequest: add_generation_prompt = False).
      const r = scoring ? renderScored(req.messages) : renderChat(req.messages, req.add_generation_prompt ?? false);
      if ("error" in r) throw badRequest(r.error, "messages");
      inputs = ["completion" in r ? r.prompt + r.completion : r.prompt];
      param = () => "messages";
    } else {
      const input = req.input!;
      inputs = typeof input === "string" ? [input] : input;
      param = (i) => (typeof input === "string" ? "input" : `input[${i}]`);
    }
    if (scoring) {
      const reward = REWARD_MODELS[req.model as RewardModel];
      const rows = inputs.map((text, i) => {
        const scored = scoredOf(text);
        if (!scored) {
          throw badRequest(`not a scored answer: expected "<a><op><b>=<completion>" with op + or *, or a sum of 2-6 operands of 1-3 digits "<x1>+…+<xn>=<completion>"`, param(i));
        }
        return [reward(scored.problem, scored.completion)];
      });
      return { rows, tokens: inputs.reduce((s, t) => s + t.length, 0) };
    }
    const m = lm(req.model);
    const ids = inputs.map((t, i) => encode(m, t, param(i)));
    ids.forEach((p, i) => {
      if (p.length > m.manifest.context_length) throw badRequest(`input is longer than the context (${m.manifest.context_length} tokens)`, param(i));
    });
    const tokens = ids.reduce((s, p) => s + p.length, 0);
    const activate = (v: number[]) => {
      if (!req.use_activation) return v;
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => x / norm);
    };
    if (task === "token_embed") {
      const d = m.manifest.hidden_size;
      const states = await m.tokenStates(ids);
      return { rows: ids.map((p, i) => Array.from({ length: p.length }, (_, t) => activate(Array.from(states[i].subarray(t * d, (t + 1) * d))))), tokens };
    }
    return { rows: (await m.hiddenStates(ids)).map((h) => activate(Array.from(h))), tokens };
  };

  app.post("/pooling", async (c) => {
    const req = await body(c, PoolingRequestSchema);
    const { rows, tokens } = await pool(req, req.model in REWARD_MODELS);
    const res: PoolingResponse = {
      id: `pool-${randomUUID()}`,
      object: "list",
      created: Math.floor(Date.now() / 1000),
      model: req.model,
      data: rows.map((data, index) => ({ index, object: "pooling", data })),
      usage: { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens },
    };
    return c.json(res);
  });

  /** vLLM's /classify, for the reward models: one class, its probability the score. */
  app.post("/classify", async (c) => {
    const req = await body(c, ClassifyRequestSchema);
    if (!(req.model in REWARD_MODELS)) {
      lm(req.model);
      throw badRequest(`${req.model} is a generative model; /classify serves the reward models (${Object.keys(REWARD_MODELS).join(", ")})`, "model");
    }
    const { rows, tokens } = await pool({ ...req, task: "classify" }, true);
    const res: ClassifyResponse = {
      id: `classify-${randomUUID()}`,
      object: "list",
      created: Math.floor(Date.now() / 1000),
      model: req.model,
      data: (rows as number[][]).map((probs, index) => ({ index, label: "LABEL_0", probs, num_classes: probs.length })),
      usage: { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens },
    };
    return c.json(res);
  });

  // vLLM's error bodies carry the status as their code.
  app.notFound((c) => c.json(envelope({ type: "not_found_error", message: `no route for ${c.req.method} ${c.req.path}`, code: "404" }), 404));
  app.onError((err, c) => {
    if (err instanceof LmError) {
      return c.json(envelope({ type: err.status === 404 ? "not_found_error" : "invalid_request_error", message: err.message, param: err.param, code: String(err.status) }), err.status);
    }
    console.error(err);
    return c.json(envelope({ type: "api_error", message: "internal error", code: "500" }), 500);
  });
  return app;
}
