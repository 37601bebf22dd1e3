/**
 * A stand-in for an SGLang server (sglang.launch_server), for tests. What allot can see
 * follows SGLang's source; the numbers come from the reference LM's weights.
 *
 * The scheduler, not the HTTP request, decides which hidden-state rows a request gets:
 * requests that arrive together (here, within `batchWindowMs`) are prefilled in one
 * batch, and `process_batch_result_prefill` slices the batch's captured rows per request
 * (python/sglang/srt/managers/scheduler_components/batch_result_processor.py; before the
 * fix, idx:54602209525):
 *
 *     if req.return_hidden_states and logits_output.hidden_states is not None:
 *         hidden_state_offset = self._append_prefill_hidden_states(...)
 *     def _append_prefill_hidden_states(...):
 *         req.hidden_states.append(logits_output.hidden_states[
 *             hidden_state_offset : (hidden_state_offset := hidden_state_offset + len(req.origin_input_ids))].tolist())
 *
 * The captured rows are only the tokens computed in this forward: a prompt whose prefix is
 * in the radix cache contributes its uncached suffix (extend_input_len rows; the last token
 * is always computed), and capture is on for the whole batch when any request asks for
 * states (`batch.return_hidden_states = any(...)`). So, as modelled here:
 * - `fixes: "none"` (releases before PR #30177): the offset advances by the whole prompt's
 *   length (#4997: on a prefix-cache hit later requests get another request's rows, or an
 *   empty slice), and only for requests that asked (#32089: mixed with ordinary
 *   completions, they read a stale offset);
 * - `fixes: "last"` (PR #30177): advances by extend_input_len, and takes
 *   `return_hidden_states: "last"` (the prefill's last row only); still only for requests
 *   that asked (#32089; PR #32103 open);
 * - `fixes: "all"` (main, sglang@003ddbc): advances by extend_input_len for every request.
 * Chunked prefill is not modelled (the reference LM's prompts are short).
 *
 * Other parts: `eagle3` makes captured rows 3 × d (EAGLE3's auxiliary states of three
 * layers concatenated, issue #10059; three copies of the last layer stand in here);
 * `--enable-return-hidden-states` off refuses return_hidden_states; GET /get_model_info
 * and /get_server_info (server_args and the version, sglang@0025436:
 * python/sglang/srt/entrypoints/http_server.py); a reward model (`reward: "verifier"`,
 * is_generation false) serves native /classify (the head's raw output as `embedding`,
 * `classify_request`) and /v1/classify, which softmaxes that output
 * (sglang@0114448:…/openai/serving_classify.py#L168), so a one-label model's probs are
 * always [1.0]. Errors are SGLang's flat ErrorResponse {object, message, type, param, code}.
 *
 * Thinking budgets (/v1/completions with a thinking model): a request's top-level
 * `custom_logit_processor` needs `--enable-custom-logit-processor`. Without it, current
 * SGLang refuses the request (TokenizerManager._validate_one_request,
 * python/sglang/srt/managers/tokenizer_manager.py: ValueError "The server is not configured
 * to enable custom logit processor. Please set `--enable-custom-logit-processor` to enable
 * this feature.", a 400), while older releases dropped it in the scheduler with a warning
 * (scheduler.py handle_generate_request: "The custom logit processor passed in will be
 * ignored.", `custom_logit_processor = None`): `dropsProcessor`. With the flag, the
 * processor (any string stands for ThinkingBudgetLogitProcessor here: the double cannot
 * unpickle one) reads `custom_params.thinking_budget`, skips None, non-int and negative
 * values, and forces the end of thinking once N tokens follow the start
 * (sglang@065927d:python/sglang/srt/sampling/custom_logit_processor.py; the newline it
 * forces first is not modelled, as the reference LM's newline is its end of sequence).
 * Usage counts the prompt's and the completion's tokens, with no reasoning_tokens.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { listenOnLoopback } from "./listen.js";
import { renderChat } from "../../src/node/reference-lm/chat-template.js";
import type { ReferenceLM } from "../../src/node/reference-lm/model.js";
import { binaryReward, parseScored } from "../../src/node/reference-lm/task.js";
import type { ChatMessage } from "../../src/core/contracts/lm-protocol.js";

export interface SglangDoubleOptions {
  /** The LM (a generation model), or a one-label reward model ("verifier"). */
  readonly lm: ReferenceLM | null;
  readonly reward?: "verifier";
  readonly name: string;
  /** __version__, as /get_server_info reports it. */
  readonly version?: string;
  /** Which of the hidden-state fixes the server has (see the header); default "none". */
  readonly fixes?: "none" | "last" | "all";
  /** --disable-radix-cache: no prefix-cache hits. */
  readonly disableRadixCache?: boolean;
  /** --speculative-algorithm EAGLE3. */
  readonly eagle3?: boolean;
  /** --enable-return-hidden-states (default on). */
  readonly enableReturnHiddenStates?: boolean;
  /** How long the scheduler gathers requests into one batch (default 15 ms). */
  readonly batchWindowMs?: number;
  /** --enable-custom-logit-processor (default off, as SGLang's). */
  readonly enableCustomLogitProcessor?: boolean;
  /** A release that drops a processor the server is not enabled for, with a warning, instead of refusing it (see the header). */
  readonly dropsProcessor?: boolean;
}

export interface SglangDouble {
  readonly url: string;
  readonly requests: { path: string; body: any }[];
  /** The sizes of the prefill batches the scheduler ran. */
  readonly batches: number[];
  close(): Promise<void>;
}

class SglangError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  readonly ids: number[];
  readonly hidden: boolean | "last";
  readonly maxNewTokens: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
  /** The thinking budget a custom logit processor keeps to, if any. */
  readonly thinkingBudget?: number;
  resolve(out: { text: string; tokens: number; finish: "stop" | "length"; hidden: number[][] | number[] | null; cached: number }): void;
  reject(e: unknown): void;
}

export async function startSglangDouble(o: SglangDoubleOptions): Promise<SglangDouble> {
  const requests: { path: string; body: any }[] = [];
  const batches: number[] = [];
  const app = new Hono();
  const { lm } = o;
  const fixes = o.fixes ?? "none";
  const version = o.version ?? (fixes === "none" ? "0.4.10" : fixes === "last" ? "0.5.14" : "0.6.0");
  const created = Math.floor(Date.now() / 1000);
  const serverArgs = {
    model_path: `/models/${o.name}`,
    served_model_name: o.name,
    is_embedding: lm === null,
    enable_return_hidden_states: o.enableReturnHiddenStates ?? true,
    disable_radix_cache: o.disableRadixCache ?? false,
    speculative_algorithm: o.eagle3 ? "EAGLE3" : null,
    chunked_prefill_size: 8192,
    enable_custom_logit_processor: o.enableCustomLogitProcessor ?? false,
  };

  // The radix cache: every prefix of every prompt prefilled so far.
  const cache = new Set<string>();
  const cachedLength = (ids: number[]) => {
    if (serverArgs.disable_radix_cache) return 0;
    for (let n = ids.length - 1; n > 0; n--) if (cache.has(ids.slice(0, n).join(","))) return n;
    return 0;
  };

  let queue: Pending[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const runBatch = async () => {
    timer = null;
    const batch = queue;
    queue = [];
    batches.push(batch.length);
    try {
      const d = lm!.manifest.hidden_size;
      const states = await lm!.tokenStates(batch.map((p) => p.ids));
      // What this forward computes per request: its uncached suffix.
      const extend = batch.map((p) => p.ids.length - cachedLength(p.ids));
      batch.forEach((p) => p.ids.forEach((_, n) => cache.add(p.ids.slice(0, n + 1).join(","))));
      const capture = batch.some((p) => p.hidden !== false);
      // logits_output.hidden_states: every request's computed rows, in batch order.
      const rows: number[][] = [];
      if (capture) {
        batch.forEach((p, i) => {
          for (let t = p.ids.length - extend[i]; t < p.ids.length; t++) {
            const row = Array.from(states[i].subarray(t * d, (t + 1) * d));
            rows.push(o.eagle3 ? [...row, ...row, ...row] : row);
          }
        });
      }
      let offset = 0;
      const samples = await Promise.all(batch.map((p) => lm!.generate([p.ids], { n: 1, temperature: p.temperature, topP: p.topP, maxTokens: p.maxNewTokens, stop: [], seed: p.seed, thinkingBudget: p.thinkingBudget })));
      batch.forEach((p, i) => {
        let hidden: number[][] | number[] | null = null;
        if (p.hidden !== false) {
          const take = fixes === "none" ? p.ids.length : extend[i];
          const slice = rows.slice(offset, offset + take);
          offset += take;
          hidden = p.hidden === "last" ? (slice.at(-1) ?? []) : slice;
        } else if (fixes === "all" && capture) {
          offset += extend[i];
        }
        const s = samples[i][0][0];
        p.resolve({ text: s.text, tokens: s.tokens, finish: s.finishReason, hidden, cached: p.ids.length - extend[i] });
      });
    } catch (e) {
      batch.forEach((p) => p.reject(e));
    }
  };
  /** Hands a request to the scheduler; it joins whatever batch is gathering. */
  const schedule = (p: Omit<Pending, "resolve" | "reject">) =>
    new Promise<Parameters<Pending["resolve"]>[0]>((resolve, reject) => {
      queue.push({ ...p, resolve, reject });
      timer ??= setTimeout(runBatch, o.batchWindowMs ?? 15);
    });

  const encode = (t: string) => {
    const r = lm!.tokenizer.encode(t);
    if ("bad" in r) throw new SglangError(400, `cannot encode ${JSON.stringify(r.bad)}`);
    return r.ids;
  };
  const json = async (c: Context) => {
    const body = await c.req.json();
    requests.push({ path: c.req.path, body });
    return body;
  };

  app.get("/health", (c) => c.body(null, 200));
  app.get("/get_model_info", (c) => c.json({ model_path: serverArgs.model_path, tokenizer_path: serverArgs.model_path, is_generation: lm !== null, preferred_sampling_params: null, weight_version: "default" }));
  app.get("/get_server_info", (c) => c.json({ ...serverArgs, internal_states: [{}], version }));
  app.get("/v1/models", (c) => c.json({ object: "list", data: [{ id: o.name, object: "model", created, owned_by: "sglang", root: o.name, max_model_len: lm?.manifest.context_length ?? 512 }] }));

  if (lm) {
    app.post("/generate", async (c) => {
      const body = await json(c);
      const single = typeof body.text === "string";
      const texts: string[] = single ? [body.text] : body.text;
      const hidden = body.return_hidden_states ?? false;
      // Before PR #30177 return_hidden_states is a bool: "last" fails validation.
      if (hidden === "last" && fixes === "none") throw new SglangError(400, "return_hidden_states: Input should be a valid boolean, unable to interpret input");
      if (hidden !== false && !serverArgs.enable_return_hidden_states) throw new SglangError(400, "The server is not configured to return the hidden states. Please set `--enable-return-hidden-states` to enable this feature.");
      const sp = body.sampling_params ?? {};
      const outs = await Promise.all(
        texts.map((t) => schedule({ ids: encode(t), hidden, maxNewTokens: sp.max_new_tokens ?? 128, temperature: sp.temperature ?? 1, topP: sp.top_p ?? 1, seed: 0 })),
      );
      const out = outs.map((r, i) => ({
        text: r.text,
        meta_info: {
          id: crypto.randomUUID().replaceAll("-", ""),
          finish_reason: { type: r.finish, ...(r.finish === "length" ? { length: sp.max_new_tokens } : {}) },
          prompt_tokens: encode(texts[i]).length,
          completion_tokens: r.tokens,
          cached_tokens: r.cached,
          e2e_latency: 0.01,
          // [prefill rows, then one vector per decode step]: allot asks for one token, so the prefill's only.
          ...(r.hidden !== null ? { hidden_states: [r.hidden] } : {}),
        },
      }));
      return c.json(single ? out[0] : out);
    });
    // OpenAI completions and chat share the scheduler: their prefills join the same batches.
    /** The budget a request's processor keeps to (see the header), or a refusal. */
    const thinkingBudget = (body: any): number | undefined => {
      if (body.custom_logit_processor === undefined || body.custom_logit_processor === null) return undefined;
      if (!serverArgs.enable_custom_logit_processor) {
        if (o.dropsProcessor) return undefined;
        throw new SglangError(400, "The server is not configured to enable custom logit processor. Please set `--enable-custom-logit-processor` to enable this feature.");
      }
      const b = body.custom_params?.thinking_budget;
      return typeof b === "number" && Number.isInteger(b) && b >= 0 && lm!.manifest.thinking ? b : undefined;
    };
    app.post("/v1/completions", async (c) => {
      const body = await json(c);
      const n = body.n ?? 1;
      const budget = thinkingBudget(body);
      let promptTokens = 0;
      let completionTokens = 0;
      const prompts: string[] = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
      const choices: { index: number; text: string; logprobs: null; finish_reason: string; matched_stop: null }[] = [];
      for (const [i, p] of prompts.entries()) {
        const outs = await Promise.all(
          Array.from({ length: n }, (_, k) => schedule({ ids: encode(p), hidden: false, maxNewTokens: body.max_tokens ?? 16, temperature: body.temperature ?? 1, topP: body.top_p ?? 1, seed: (body.seed ?? 0) + k, thinkingBudget: budget })),
        );
        outs.forEach((r, k) => choices.push({ index: i * n + k, text: r.text, logprobs: null, finish_reason: r.finish, matched_stop: null }));
        promptTokens += encode(p).length * n;
        completionTokens += outs.reduce((a, r) => a + r.tokens, 0);
      }
      return c.json({ id: crypto.randomUUID(), object: "text_completion", created, model: o.name, choices, usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } });
    });
    app.post("/v1/chat/completions", async (c) => {
      const body = await json(c);
      const r = renderChat(body.messages as ChatMessage[], true);
      if ("error" in r) throw new SglangError(400, r.error);
      const n = body.n ?? 1;
      const outs = await Promise.all(
        Array.from({ length: n }, (_, k) => schedule({ ids: encode(r.prompt), hidden: false, maxNewTokens: body.max_tokens ?? body.max_completion_tokens ?? 16, temperature: body.temperature ?? 1, topP: body.top_p ?? 1, seed: (body.seed ?? 0) + k })),
      );
      return c.json({
        id: crypto.randomUUID(),
        object: "chat.completion",
        created,
        model: o.name,
        choices: outs.map((x, index) => ({ index, message: { role: "assistant", content: x.text, reasoning_content: null, tool_calls: null }, logprobs: null, finish_reason: x.finish, matched_stop: null })),
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      });
    });
  } else {
    const score = (text: string) => {
      const s = parseScored(text);
      if (!s) throw new SglangError(400, "the reward model cannot score this input");
      return binaryReward(s.problem, s.completion);
    };
    // Native /classify: EmbeddingReqInput (text), the head's raw output per text.
    app.post("/classify", async (c) => {
      const body = await json(c);
      const single = typeof body.text === "string";
      const texts: string[] = single ? [body.text] : body.text;
      const out = texts.map((t) => ({ embedding: [score(t)], meta_info: { id: crypto.randomUUID(), prompt_tokens: t.length, e2e_latency: 0.01 } }));
      return c.json(single ? out[0] : out);
    });
    // /v1/classify: softmax over the output, so a one-label model's probs are [1.0] whatever it scored.
    app.post("/v1/classify", async (c) => {
      const body = await json(c);
      const texts: string[] = typeof body.input === "string" ? [body.input] : body.input;
      const data = texts.map((t, index) => {
        const e = [score(t)];
        const m = Math.max(...e);
        const ex = e.map((x) => Math.exp(x - m));
        const sum = ex.reduce((a, b) => a + b, 0);
        return { index, label: "LABEL_0", probs: ex.map((x) => x / sum), num_classes: e.length };
      });
      return c.json({ id: `classify-${crypto.randomUUID()}`, object: "list", created, model: o.name, data, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } });
    });
  }
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError((err, c) => {
    const status = err instanceof SglangError ? err.status : 500;
    return c.json({ object: "error", message: err.message, type: status === 400 ? "BadRequestError" : "InternalServerError", param: null, code: status }, status as 400);
  });
  return { ...(await listenOnLoopback(app)), requests, batches };
}
