/**
 * A stand-in for a vLLM OpenAI-compatible server, for tests: what allot can see of a
 * real deployment (routes, request validation, response and error shapes) follows vLLM's
 * source, cited line by line below; the numbers come from the reference LM's weights
 * (served under another name, as `--served-model-name` does), so outputs are real.
 *
 * Two protocol versions:
 * - "latest" (vLLM main, 2026): vllm/entrypoints/pooling/base/protocol.py,
 *   pooling/pooling/{protocol,serving}.py, pooling/classify/protocol.py, vllm/tasks.py,
 *   vllm/config/pooler.py, vllm/entrypoints/openai/engine/protocol.py.
 * - "0.10" (v0.10.0): vllm/entrypoints/openai/protocol.py (PoolingCompletionRequest =
 *   EmbeddingCompletionRequest, `normalize` a field, no `task`), serving_pooling.py
 *   (`pooling_params.verify("encode", …)`: the per-token "encode" task for every
 *   /pooling request), ErrorResponse flat ({object: "error", message, type, param, code}).
 *
 * A vLLM instance runs one runner (get_supported_tasks by runner type): "generate"
 * registers the completions and chat routes only, "pooling" the pooling routes only
 * (vllm/entrypoints/openai/api_server.py build_app: `if "generate" in supported_tasks:`
 * … `if any(task in POOLING_TASKS …)`); any other route is FastAPI's 404
 * {"detail": "Not Found"}.
 *
 * What this double does not do: penalties, logit_bias and response_format are accepted
 * and recorded (vLLM's request models carry them) but do not change the samples.
 */
import { Hono } from "hono";
import { listenOnLoopback } from "./listen.js";
import type { Context } from "hono";
import { renderChat, renderScored } from "../../src/node/reference-lm/chat-template.js";
import type { ReferenceLM } from "../../src/node/reference-lm/model.js";
import { binaryReward, parseScored } from "../../src/node/reference-lm/task.js";
import type { ChatMessage } from "../../src/core/contracts/lm-protocol.js";

export type VllmVersion = "latest" | "0.10";

export interface VllmDoubleOptions {
  readonly version: VllmVersion;
  /** `--runner generate` (completions, chat) or `--runner pooling` (an LM converted to embed, or a reward model). */
  readonly runner: "generate" | "pooling";
  /** `--served-model-name`. */
  readonly name: string;
  /** The weights: a reference LM, or "verifier" for a sequence-classification reward model (one label). */
  readonly weights: ReferenceLM | "verifier";
  /**
   * The pooler config's use_activation for embed (vllm/config/pooler.py): vLLM's default
   * (undefined) L2-normalises embeddings; `--pooler-config '{"use_activation": false}'` serves raw states.
   */
  readonly poolerUseActivation?: boolean;
}

export interface VllmDouble {
  readonly url: string;
  /** Every request received: path and parsed JSON body. */
  readonly requests: { path: string; body: any }[];
  close(): Promise<void>;
}

/** vllm/entrypoints/openai/engine/protocol.py ErrorResponse (latest: nested ErrorInfo) or 0.10's flat one. */
function errorBody(version: VllmVersion, status: number, type: string, message: string, param: string | null = null) {
  return version === "latest" ? { error: { message, type, param, code: status } } : { object: "error", message, type, param, code: status };
}

class VllmError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}
const invalid = (message: string, param: string | null = null) => new VllmError(400, "BadRequestError", message, param);

const unit = (v: number[]) => {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
};

export async function startVllmDouble(o: VllmDoubleOptions): Promise<VllmDouble> {
  const requests: { path: string; body: any }[] = [];
  const app = new Hono();
  const lm = o.weights === "verifier" ? null : o.weights;
  const created = Math.floor(Date.now() / 1000);

  const body = async (c: Context) => {
    let json: any;
    try {
      json = await c.req.json();
    } catch {
      throw invalid("JSON decode error");
    }
    requests.push({ path: c.req.path, body: json });
    // serving_engine._check_model: the request names the served model (or none).
    if (json.model !== undefined && json.model !== null && json.model !== o.name) {
      throw new VllmError(404, "NotFoundError", `The model \`${json.model}\` does not exist.`, "model");
    }
    return json;
  };
  const encode = (text: string, param: string) => {
    const r = lm!.tokenizer.encode(text);
    if ("bad" in r) throw invalid(`the tokenizer cannot encode ${JSON.stringify(r.bad)}`, param);
    return r.ids;
  };
  const contextCheck = (prompt: number, out: number) => {
    const max = lm!.manifest.context_length;
    if (prompt + out > max) {
      throw invalid(`This model's maximum context length is ${max} tokens. However, you requested ${prompt + out} tokens (${prompt} in the messages, ${out} in the completion). Please reduce the length of the messages or completion.`, "input_tokens");
    }
  };
  const texts = (json: any): string[] => {
    if (typeof json.input === "string") return [json.input];
    if (Array.isArray(json.input) && json.input.every((x: unknown) => typeof x === "string")) return json.input;
    if (Array.isArray(json.messages)) {
      const r = o.weights === "verifier" ? renderScored(json.messages as ChatMessage[]) : renderChat(json.messages as ChatMessage[]);
      if ("error" in r) throw invalid(r.error, "messages");
      return ["completion" in r ? r.prompt + r.completion : r.prompt];
    }
    throw invalid("Field required: input or messages", "input");
  };

  app.get("/health", (c) => c.body(null, 200));
  app.get("/v1/models", (c) => c.json({ object: "list", data: [{ id: o.name, object: "model", created, owned_by: "vllm", root: o.name, parent: null, max_model_len: lm?.manifest.context_length ?? 512 }] }));

  if (o.runner === "generate") {
    if (!lm) throw new Error("a generate runner needs LM weights");
    // vllm/entrypoints/openai/completion/protocol.py CompletionRequest: extra fields are
    // allowed (OpenAIBaseModel extra="allow"); _SAMPLING_EPS = 1e-5 makes temperature 0 greedy.
    const sample = async (ids: number[][], json: any) => {
      const maxTokens = json.max_tokens ?? json.max_completion_tokens ?? 16;
      ids.forEach((p) => contextCheck(p.length, maxTokens));
      const n = json.n ?? 1;
      const stop = json.stop === undefined || json.stop === null ? [] : typeof json.stop === "string" ? [json.stop] : json.stop;
      const temperature = json.temperature ?? 1;
      return lm.generate(ids, { n, temperature: temperature < 1e-5 ? 0 : temperature, topP: json.top_p ?? 1, maxTokens, stop, seed: json.seed ?? 0 });
    };
    app.post("/v1/completions", async (c) => {
      const json = await body(c);
      const prompts: string[] = typeof json.prompt === "string" ? [json.prompt] : json.prompt;
      const ids = prompts.map((p, i) => encode(p, `prompt[${i}]`));
      const samples = await sample(ids, json);
      const n = json.n ?? 1;
      const logprobs = (s: { text: string }) =>
        json.logprobs === undefined || json.logprobs === null ? null : { tokens: [...s.text], token_logprobs: [...s.text].map(() => -0.1), top_logprobs: null, text_offset: [...s.text].map((_, i) => i) };
      const completion = samples.flat().reduce((a, s) => a + s.tokens, 0);
      const prompt = ids.reduce((a, p) => a + p.length, 0);
      return c.json({
        id: `cmpl-${crypto.randomUUID()}`,
        object: "text_completion",
        created: Math.floor(Date.now() / 1000),
        model: o.name,
        choices: samples.flatMap((ps, i) => ps.map((s, k) => ({ index: i * n + k, text: s.text, logprobs: logprobs(s), finish_reason: s.finishReason, stop_reason: null, prompt_logprobs: null }))),
        usage: { prompt_tokens: prompt, total_tokens: prompt + completion, completion_tokens: completion, prompt_tokens_details: null },
        system_fingerprint: null,
        kv_transfer_params: null,
      });
    });
    app.post("/v1/chat/completions", async (c) => {
      const json = await body(c);
      const r = renderChat(json.messages as ChatMessage[]);
      if ("error" in r) throw invalid(r.error, "messages");
      const ids = encode(r.prompt, "messages");
      const [samples] = await sample([ids], json);
      const completion = samples.reduce((a, s) => a + s.tokens, 0);
      return c.json({
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: o.name,
        choices: samples.map((s, index) => ({
          index,
          message: { role: "assistant", content: s.text, refusal: null, annotations: null, audio: null, function_call: null, tool_calls: [], reasoning_content: null },
          logprobs: json.logprobs ? { content: [...s.text].map((t) => ({ token: t, logprob: -0.1, bytes: null, top_logprobs: [] })) } : null,
          finish_reason: s.finishReason,
          stop_reason: null,
        })),
        usage: { prompt_tokens: ids.length, total_tokens: ids.length + completion, completion_tokens: completion, prompt_tokens_details: null },
        prompt_logprobs: null,
      });
    });
  } else {
    // The pooling runner: the model's default task is "embed" for an LM converted with
    // --convert embed, "classify" for a sequence-classification reward model
    // (ModelConfig.get_pooling_task).
    const defaultTask = lm ? "embed" : "classify";
    const pool = async (json: any): Promise<{ rows: (number[] | number[][])[]; tokens: number }> => {
      if (o.version === "latest") {
        // reject_removed_pooling_parameters and check_removed_pooling_task.
        if ("normalize" in json) throw invalid("Parameter `normalize` was removed; use `use_activation` instead.", "normalize");
        if (json.task === "score") throw invalid("`score` task was removed; use `classify` instead.", "task");
        if (json.task === "encode") throw invalid("`encode` task was removed; use `token_embed` or `token_classify` instead.", "task");
      }
      // latest: ServingPooling.__call__ uses the default task when none is given and
      // refuses another that no io_processor serves. 0.10 has no task: always "encode".
      const task = o.version === "latest" ? (json.task ?? defaultTask) : "encode";
      const served = lm ? ["embed", "token_embed"] : ["classify", "token_classify"];
      if (o.version === "latest" && !served.includes(task)) throw invalid(`Unsupported task: '${task}' Supported tasks: (${served.map((t) => `'${t}'`).join(", ")})`, "task");
      const inputs = texts(json);
      if (!lm) {
        const rows = inputs.map((t) => {
          const s = parseScored(t);
          if (!s) throw invalid("the reward model cannot score this input", "input");
          return [binaryReward(s.problem, s.completion)];
        });
        return { rows, tokens: inputs.reduce((a, t) => a + t.length, 0) };
      }
      const ids = inputs.map((t, i) => encode(t, `input[${i}]`));
      ids.forEach((p) => contextCheck(p.length, 0));
      const tokens = ids.reduce((a, p) => a + p.length, 0);
      // Embedding activation is L2 normalisation: per request (use_activation), else the pooler config's, else on.
      const activate = json.use_activation ?? o.poolerUseActivation ?? true;
      if (task === "embed") return { rows: (await lm.hiddenStates(ids)).map((h) => (activate ? unit(Array.from(h)) : Array.from(h))), tokens };
      // Per-token output (token_embed; 0.10's "encode" with ALL pooling): one row per
      // token, L2-normalised on 0.10 whatever `normalize` says (the issue's measurement).
      const d = lm.manifest.hidden_size;
      const states = await lm.tokenStates(ids);
      const rows = ids.map((p, i) =>
        Array.from({ length: p.length }, (_, t) => {
          const row = Array.from(states[i].subarray(t * d, (t + 1) * d));
          return o.version === "0.10" || activate ? unit(row) : row;
        }),
      );
      return { rows, tokens };
    };
    app.post("/pooling", async (c) => {
      const json = await body(c);
      const { rows, tokens } = await pool(json);
      return c.json({
        id: `pool-${crypto.randomUUID()}`,
        object: "list",
        created: Math.floor(Date.now() / 1000),
        model: o.name,
        data: rows.map((data, index) => ({ index, object: "pooling", data })),
        usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
      });
    });
    if (!lm) {
      // pooling/classify/protocol.py ClassificationResponse: probs per input, num_classes.
      app.post("/classify", async (c) => {
        const json = await body(c);
        const { rows, tokens } = await pool({ ...json, task: "classify" });
        return c.json({
          id: `classify-${crypto.randomUUID()}`,
          object: "list",
          created: Math.floor(Date.now() / 1000),
          model: o.name,
          data: (rows as number[][]).map((probs, index) => ({ index, label: "LABEL_0", probs, num_classes: probs.length })),
          usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
        });
      });
    }
  }
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError((err, c) => {
    if (err instanceof VllmError) return c.json(errorBody(o.version, err.status, err.type, err.message, err.param), err.status as 400);
    return c.json(errorBody(o.version, 500, "InternalServerError", String(err)), 500);
  });

  return { ...(await listenOnLoopback(app)), requests };
}
