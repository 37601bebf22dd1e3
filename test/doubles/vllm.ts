/**
 * A stand-in for a vLLM OpenAI-compatible server, for tests: what allot can see of a real
 * deployment (routes, request validation, response and error shapes) follows vLLM's
 * source for the version asked for, cited line by line below (sources as read in
 * /work/notes/servers.md: `vllm@<commit>:path#lines`, or `idx:<id>` for a file version of
 * the era stated); the numbers come from the reference LM's weights (served under another
 * name, as `--served-model-name` does), so outputs are real.
 *
 * Three eras, chosen by `version` (GET /version answers it):
 * - ≤ 0.11.0: /pooling has no `task` (OpenAIBaseModel extra="allow": the field is kept and
 *   ignored) and always runs `encode` (serving_pooling.py: `pooling_params.verify("encode",
 *   …)`, idx:1128214087), whose decoder pooler is ALL whatever the pooler config says
 *   (`Pooler.for_encode`, idx:530139751): one row per token, raw on 0.10.0
 *   (docs@v0.10.0 pooling_models table) and softmax over the hidden dimension on
 *   0.10.1–0.11.0 (RewardPoolerHead → PoolerClassify, `softmax` defaulting to True for
 *   encode; `normalize` refused: "Task encode only supports [...]", idx:913833085). A
 *   conversation is rendered with add_generation_prompt=False whatever the request says.
 *   Error bodies are flat before 0.10.1, nested from it (PR #22099).
 * - 0.11.1 – 0.20: `task` per request, any task the model supports (multi-task); without
 *   one: token_embed, else token_classify, else plugin, else 400 (serving_pooling.py,
 *   idx:92125623); 0.16 on, only the routes of supported tasks are registered (PR #33139).
 * - ≥ 0.21: one pooling task per server (PR #37861): --pooler-config.task, else
 *   get_pooling_task's priority embed&token_classify, embed, classify, token_embed,
 *   token_classify, plugin (vllm/config/model.py, idx:51898817881); a request without a task
 *   gets it, another supported task is 400 "Try switching the model's pooling_task via
 *   --pooler-config.task X.", an unsupported one 400 "Unsupported task: …"
 *   (vllm@055e47c:vllm/frontend/entrypoints/pooling/pooling/serving.py#L62-L90); /pooling
 *   is registered if a task is selected, /classify if the model supports classify (501
 *   NotImplementedError when it is not the selected task), /v1/embeddings if embed
 *   (vllm@055e47c:vllm/frontend/entrypoints/pooling/factories.py#L110-L140;
 *   vllm@b59bccae:…/pooling/classify/api_router.py).
 *
 * Routes, by era: up to 0.15 every route is registered whatever the runner, and one whose
 * handler is missing answers 400 "The model does not support Pooling API" (…Completions
 * API, Classification API) (create_pooling and siblings, idx:36282048543); from 0.16 an
 * unregistered route is FastAPI's 404 {"detail": "Not Found"}.
 *
 * Reward models (`weights`):
 * - "verifier": a one-label sequence classifier (LlamaForSequenceClassification, as
 *   Skywork-Reward) with problem_type "regression", so its activation is the identity and
 *   its output the raw reward, here the reference verifier's 0/1 (get_classification_
 *   activation_function, vllm@1c71367:…/pooler/activations.py#L19-L32).
 * - "classifier-2": a two-label [bad, good] sequence classifier: softmax over two logits
 *   (PoolerClassify, same file #L143-L151), id2label {0: "LABEL_0", 1: "LABEL_1"}
 *   (transformers' defaults; /classify's `label` is id2label[argmax],
 *   vllm@055e47c:…/classify/serving.py#L34-L53).
 * - "prm": Qwen2ForProcessRewardModel (Qwen2.5-Math-PRM): num_labels 2, token_classify only,
 *   STEP pooling with no step tag configured, so every token's row, each softmax([bad,
 *   good]); "good" is index 1 (qwen2_rm.py, idx:69347412940 #L111-L120).
 * Sequence classifiers support classify and token_classify (and score until 0.20); their
 * per-token rows are the classifier applied at each position, whose last is the LAST-pooled
 * classify value.
 *
 * Generate runner: `suffix` (even "") is 400 "suffix is not currently supported"
 * (serving_completion.py / renderers/online_renderer.py, idx:49161190146, idx:55981260856);
 * `reasoning_effort` must be one of vLLM's Literal (≥ 0.16: none, minimal, low, medium,
 * high, xhigh, max; before: low, medium, high), else a 400 validation error
 * (chat_completion/protocol.py ChatCompletionRequest); the answer's reasoning field is
 * `reasoning_content` up to 0.11.0, both from 0.11.1, `reasoning` from 0.16 (PR #27752,
 * PR #33402).
 *
 * Thinking budgets (a thinking model's weights): `thinking_token_budget` is a request field
 * from 0.20 (PR #20859; absent in 0.18, notes §4.1), validated by SamplingParams
 * (`validate_thinking_token_budget`: a bool, float or value below -1 is a 400 "`thinking_token_budget`
 * must be a non-negative integer or -1 for unlimited."; -1 becomes None, idx:54502905867).
 * Before 0.20 it is an unknown field, kept and ignored (OpenAIBaseModel extra="allow").
 * From 0.20 it is kept only with a reasoning config, which `--reasoning-parser` gives:
 * without one the engine builds no budget state (`maybe_create_thinking_budget_state_holder`
 * returns None when reasoning_config is None, vllm@0278c17:vllm/v1/sample/thinking_budget_state.py
 * #L20-L31, called by vllm/v1/worker/gpu_input_batch.py), so the request is accepted and
 * the model thinks as long as it likes; with one, the end marker is forced once N thinking
 * tokens are spent (`_update_think_state`, same file). The reasoning parser splits a chat
 * answer's thinking into `reasoning` (serving_chat); /v1/completions returns the raw text,
 * markers included. Usage carries no completion_tokens_details (vLLM's UsageInfo as the
 * double sends it elsewhere).
 *
 * What this double does not do: penalties, logit_bias and response_format are accepted
 * and recorded (vLLM's request models carry them) but do not change the samples; the
 * decode steps of a chat are not rendered beyond the reference template.
 */
import { Hono } from "hono";
import { listenOnLoopback } from "./listen.js";
import type { Context } from "hono";
import { renderChat, renderScored } from "../../src/node/reference-lm/chat-template.js";
import type { ReferenceLM } from "../../src/node/reference-lm/model.js";
import { binaryReward, parseScored } from "../../src/node/reference-lm/task.js";
import type { ChatMessage } from "../../src/core/contracts/lm-protocol.js";
import { splitReasoning } from "../../src/node/reference-lm/server.js";

/** Reward models this double serves (see the header). */
export type RewardWeights = "verifier" | "classifier-2" | "prm";

export interface VllmDoubleOptions {
  /** vLLM's version, as GET /version answers it, e.g. "0.10.0", "0.11.0", "0.15.1", "0.18.0", "0.22.0". */
  readonly version: string;
  /** `--runner generate` (completions, chat) or `--runner pooling` (an LM converted to embed, or a reward model). */
  readonly runner: "generate" | "pooling";
  /** `--served-model-name`. */
  readonly name: string;
  /** The weights: a reference LM, or a reward model. */
  readonly weights: ReferenceLM | RewardWeights;
  /**
   * The pooler config's use_activation for embed (vllm/config/pooler.py): vLLM's default
   * (undefined) L2-normalises embeddings; `--pooler-config '{"use_activation": false}'` serves raw states.
   */
  readonly poolerUseActivation?: boolean;
  /** ≥ 0.21: `--pooler-config.task` (default: get_pooling_task's priority). */
  readonly poolerTask?: string;
  /**
   * `--reasoning-parser` (e.g. "qwen3"), for a thinking model: what makes vLLM ≥ 0.20 keep
   * to thinking_token_budget, and splits a chat answer's thinking into `reasoning`.
   */
  readonly reasoningParser?: string;
}

export interface VllmDouble {
  readonly url: string;
  /** Every request received: path and parsed JSON body. */
  readonly requests: { path: string; body: any }[];
  /** The pooling task this server runs (≥ 0.21), or null. */
  readonly pooling: string | null;
  close(): Promise<void>;
}

/** -1, 0, 1 as version a is before, equal to or after b ("0.11.1" style). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((x) => parseInt(x, 10) || 0);
  const pb = b.split(".").map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0) ? -1 : 1;
  return 0;
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
const softmax = (v: readonly number[]) => {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};
/** The tuple repr vLLM prints for supported tasks: ('embed', 'token_embed'). */
const tuple = (xs: readonly string[]) => `(${xs.map((t) => `'${t}'`).join(", ")}${xs.length === 1 ? "," : ""})`;

/** The reference verifier's 0/1 reward for a text, or null when the text is not a scored answer. */
const verdict = (text: string): number | null => {
  const s = parseScored(text);
  return s ? binaryReward(s.problem, s.completion) : null;
};

export async function startVllmDouble(o: VllmDoubleOptions): Promise<VllmDouble> {
  const v = (x: string) => compareVersions(o.version, x);
  const requests: { path: string; body: any }[] = [];
  const app = new Hono();
  const lm = typeof o.weights === "string" ? null : o.weights;
  const reward = typeof o.weights === "string" ? o.weights : null;
  const created = Math.floor(Date.now() / 1000);
  const nested = v("0.10.1") >= 0;
  const registersAll = v("0.16.0") < 0;
  const oneTask = v("0.21.0") >= 0;
  const encodeOnly = v("0.11.1") < 0;

  // The tasks the runner supports (get_supported_tasks; ≤ 0.11.0 names the per-token task "encode").
  const supported: string[] =
    o.runner === "generate"
      ? []
      : encodeOnly
        ? reward === "prm"
          ? ["encode"]
          : reward
            ? ["encode", "classify", "score"]
            : ["encode", "embed"]
        : reward === "prm"
          ? ["token_classify"]
          : reward
            ? ["classify", "token_classify", ...(v("0.21.0") < 0 ? ["score"] : [])]
            : ["embed", "token_embed"];
  // ≥ 0.21: the one task (get_pooling_task), refused at startup when the model cannot run it.
  let pooling: string | null = null;
  if (oneTask && o.runner === "pooling") {
    if (o.poolerTask !== undefined && !supported.includes(o.poolerTask)) throw new Error(`RuntimeError: Unsupported task: '${o.poolerTask}' Supported tasks: ${tuple(supported)}`);
    pooling = o.poolerTask ?? ["embed&token_classify", "embed", "classify", "token_embed", "token_classify", "plugin"].find((t) => supported.includes(t)) ?? null;
  }

  const errorBody = (status: number, type: string, message: string, param: string | null) =>
    nested ? { error: { message, type, param, code: status } } : { object: "error", message, type, param, code: status };

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
  /** The texts a pooling request asks about: its input, or its conversation rendered by the chat template. */
  const texts = (json: any): string[] => {
    if (typeof json.input === "string") return [json.input];
    if (Array.isArray(json.input) && json.input.every((x: unknown) => typeof x === "string")) return json.input;
    if (Array.isArray(json.messages)) {
      // ≤ 0.11.0 renders /pooling conversations with add_generation_prompt=False, hard-coded
      // (idx:1128214087 create_pooling); 0.11.1 on honours the request's, default False
      // (ChatRequestOptionsMixin, vllm@020638a:…/pooling/base/protocol.py).
      const generation = encodeOnly ? false : (json.add_generation_prompt ?? false);
      const r = reward ? renderScored(json.messages as ChatMessage[]) : renderChat(json.messages as ChatMessage[], generation);
      if ("error" in r) throw invalid(r.error, "messages");
      return ["completion" in r ? r.prompt + r.completion : r.prompt];
    }
    throw invalid("Field required: input or messages", "input");
  };

  /** A reward model's row for a text: its labels' values (the header says which model does what). */
  const rewardRow = (text: string): number[] => {
    const r = verdict(text) ?? 0;
    if (reward === "verifier") return [r];
    return softmax(r === 1 ? [-2, 2] : [2, -2]);
  };
  /** Per-token rows of a reward model: the classifier at every position; a PRM's non-final steps undecided. */
  const rewardRows = (text: string): number[][] =>
    [...text].map((_, t) => (t === text.length - 1 ? rewardRow(text) : reward === "prm" ? [0.5, 0.5] : rewardRow(text.slice(0, t + 1))));

  /** The task a /pooling request runs, validated as its version does. */
  const taskOf = (json: any): string => {
    if (encodeOnly) {
      // PoolingParams.verify("encode"): only softmax, step_tag_id, returned_token_ids (0.10.1–0.11.0).
      if (v("0.10.1") >= 0 && json.normalize !== undefined) throw invalid("Task encode only supports ['softmax', 'step_tag_id', 'returned_token_ids'] parameters, does not support ['normalize'] parameters");
      return "encode";
    }
    if (oneTask) {
      // reject_removed_pooling_parameters and check_removed_pooling_task (vllm@020638a:…/base/protocol.py#L24-L33, vllm/tasks.py L20-30).
      if ("normalize" in json) throw invalid("Parameter `normalize` was removed; use `use_activation` instead.", "normalize");
      if (json.task === "score") throw invalid("`score` task was removed; use `classify` instead.", "task");
      if (json.task === "encode") throw invalid("`encode` task was removed; use `token_embed` or `token_classify` instead.", "task");
      const task = json.task ?? pooling!;
      if (task !== "plugin" && task !== pooling) {
        if (!supported.includes(task)) throw invalid(`Unsupported task: '${task}' Supported tasks: ${tuple(supported)}`, "task");
        throw invalid(`Try switching the model's pooling_task via --pooler-config.task ${task}.`, "task");
      }
      return task;
    }
    // 0.11.1–0.20 (idx:92125623): the per-token task by default; any supported task on request.
    const task = json.task ?? ["token_embed", "token_classify", "plugin"].find((t) => supported.includes(t));
    if (task === undefined) throw invalid(`pooling_task must be one of ${tuple(supported)}.`);
    if (!supported.includes(task)) throw invalid(`Task ${task} is not supported, it must be one of ${tuple(supported)}.`);
    return task;
  };

  const pool = async (json: any): Promise<{ rows: (number[] | number[][])[]; tokens: number }> => {
    const task = taskOf(json);
    const inputs = texts(json);
    if (reward) {
      inputs.forEach((t, i) => {
        if (verdict(t) === null) throw invalid("the reward model cannot score this input", `input[${i}]`);
      });
      const sequence = task === "classify" || task === "score";
      return { rows: inputs.map((t) => (sequence ? rewardRow(t) : rewardRows(t))), tokens: inputs.reduce((a, t) => a + t.length, 0) };
    }
    const ids = inputs.map((t, i) => encode(t, `input[${i}]`));
    ids.forEach((p) => contextCheck(p.length, 0));
    const tokens = ids.reduce((a, p) => a + p.length, 0);
    // Embedding activation is L2 normalisation: per request (use_activation), else the pooler config's, else on.
    const activate = json.use_activation ?? o.poolerUseActivation ?? true;
    if (task === "embed") return { rows: (await lm!.hiddenStates(ids)).map((h) => (activate ? unit(Array.from(h)) : Array.from(h))), tokens };
    // Per-token output: token_embed (each row L2-normalised unless use_activation is off),
    // or ≤ 0.11.0's encode with ALL pooling (raw on 0.10.0, softmax over d on 0.10.1–0.11.0).
    const d = lm!.manifest.hidden_size;
    const states = await lm!.tokenStates(ids);
    const rows = ids.map((p, i) =>
      Array.from({ length: p.length }, (_, t) => {
        const row = Array.from(states[i].subarray(t * d, (t + 1) * d));
        if (task === "encode") return v("0.10.1") >= 0 ? softmax(row) : row;
        return activate ? unit(row) : row;
      }),
    );
    return { rows, tokens };
  };

  /** A route whose handler this runner lacks: 400 up to 0.15 (registered anyway), absent (404) from 0.16. */
  const missing = (path: string, api: string) => {
    if (registersAll) app.post(path, async (c) => {
      await body(c);
      throw invalid(`The model does not support ${api} API`);
    });
  };

  app.get("/health", (c) => c.body(null, 200));
  app.get("/version", (c) => c.json({ version: o.version }));
  // ModelCard (idx:643648316): root is the model path (args.model), not the served name.
  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: [{ id: o.name, object: "model", created, owned_by: "vllm", root: `/models/${o.name}`, parent: null, max_model_len: lm?.manifest.context_length ?? 512, permission: [{ id: `modelperm-${o.name}`, object: "model_permission", created, allow_sampling: true }] }],
    }),
  );

  if (o.runner === "generate") {
    if (!lm) throw new Error("a generate runner needs LM weights");
    // vllm/entrypoints/openai/completion/protocol.py CompletionRequest: extra fields are
    // allowed (OpenAIBaseModel extra="allow"); _SAMPLING_EPS = 1e-5 makes temperature 0 greedy.
    /** The budget the engine keeps to (see the header): validated from 0.20, kept only with a reasoning parser. */
    const thinkingBudget = (json: any): number | undefined => {
      const b = json.thinking_token_budget;
      if (v("0.20.0") < 0 || b === undefined || b === null) return undefined;
      if (typeof b !== "number" || !Number.isInteger(b) || b < -1) throw invalid("`thinking_token_budget` must be a non-negative integer or -1 for unlimited.", "thinking_token_budget");
      return b === -1 || !o.reasoningParser || !lm.manifest.thinking ? undefined : b;
    };
    const sample = async (ids: number[][], json: any) => {
      const maxTokens = json.max_tokens ?? json.max_completion_tokens ?? 16;
      ids.forEach((p) => contextCheck(p.length, maxTokens));
      const n = json.n ?? 1;
      const stop = json.stop === undefined || json.stop === null ? [] : typeof json.stop === "string" ? [json.stop] : json.stop;
      const temperature = json.temperature ?? 1;
      return lm.generate(ids, { n, temperature: temperature < 1e-5 ? 0 : temperature, topP: json.top_p ?? 1, maxTokens, stop, seed: json.seed ?? 0, thinkingBudget: thinkingBudget(json) });
    };
    app.post("/v1/completions", async (c) => {
      const json = await body(c);
      // "Return error for unsupported features": any suffix, even "" (idx:49161190146; idx:55981260856).
      if (json.suffix !== undefined && json.suffix !== null) throw invalid("suffix is not currently supported");
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
    const efforts = v("0.16.0") >= 0 ? ["none", "minimal", "low", "medium", "high", "xhigh", "max"] : ["low", "medium", "high"];
    app.post("/v1/chat/completions", async (c) => {
      const json = await body(c);
      // A Literal field: pydantic's literal_error, turned into a 400 by the server's RequestValidationError handler.
      if (json.reasoning_effort !== undefined && json.reasoning_effort !== null && !efforts.includes(json.reasoning_effort)) {
        throw invalid(`1 validation error for ChatCompletionRequest\nreasoning_effort\n  Input should be ${efforts.map((e) => `'${e}'`).join(", ")} [type=literal_error, input_value=${JSON.stringify(json.reasoning_effort)}]`, "reasoning_effort");
      }
      const r = renderChat(json.messages as ChatMessage[], json.add_generation_prompt ?? true);
      if ("error" in r) throw invalid(r.error, "messages");
      const ids = encode(r.prompt, "messages");
      const [samples] = await sample([ids], json);
      const completion = samples.reduce((a, s) => a + s.tokens, 0);
      // With a reasoning parser the thinking is split off into the version's field; without, it stays in content.
      const fields = (r: string | null) => (v("0.11.1") < 0 ? { reasoning_content: r } : v("0.16.0") < 0 ? { reasoning: r, reasoning_content: r } : { reasoning: r });
      const split = (text: string) => (o.reasoningParser ? splitReasoning(text) : { reasoning: null, content: text });
      return c.json({
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: o.name,
        choices: samples.map((s, index) => ({
          index,
          message: { role: "assistant", content: split(s.text).content, refusal: null, annotations: null, audio: null, function_call: null, tool_calls: [], ...fields(split(s.text).reasoning) },
          logprobs: json.logprobs ? { content: [...s.text].map((t) => ({ token: t, logprob: -0.1, bytes: null, top_logprobs: [] })) } : null,
          finish_reason: s.finishReason,
          stop_reason: null,
        })),
        usage: { prompt_tokens: ids.length, total_tokens: ids.length + completion, completion_tokens: completion, prompt_tokens_details: null },
        prompt_logprobs: null,
      });
    });
    missing("/pooling", "Pooling");
    missing("/classify", "Classification");
  } else {
    missing("/v1/completions", "Completions");
    missing("/v1/chat/completions", "Chat Completions");
    const poolingRoute = async (c: Context) => {
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
    };
    // ≥ 0.21: /pooling only when a task is selected (factories.py L110-140); before, whenever the runner pools.
    if (!oneTask || pooling !== null) app.post("/pooling", poolingRoute);
    const classifies = supported.includes("classify");
    if (classifies || registersAll) {
      // pooling/classify/protocol.py ClassificationResponse (vllm@055e47c #L58-L71): probs per input, the top label's name, num_classes.
      app.post("/classify", async (c) => {
        const json = await body(c);
        if (!classifies) throw invalid("The model does not support Classification API");
        // ≥ 0.21: registered because the model supports classify, but another task is selected.
        if (oneTask && pooling !== "classify") throw new VllmError(501, "NotImplementedError", "The model does not support Classification API");
        const inputs = texts(json);
        inputs.forEach((t, i) => {
          if (verdict(t) === null) throw invalid("the reward model cannot score this input", `input[${i}]`);
        });
        const rows = inputs.map(rewardRow);
        const tokens = inputs.reduce((a, t) => a + t.length, 0);
        return c.json({
          id: `classify-${crypto.randomUUID()}`,
          object: "list",
          created: Math.floor(Date.now() / 1000),
          model: o.name,
          data: rows.map((probs, index) => {
            const top = probs.indexOf(Math.max(...probs));
            return { index, label: `LABEL_${top}`, probs, num_classes: probs.length };
          }),
          usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
        });
      });
    }
  }
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError((err, c) => {
    if (err instanceof VllmError) return c.json(errorBody(err.status, err.type, err.message, err.param), err.status as 400);
    return c.json(errorBody(500, "InternalServerError", String(err), null), 500);
  });

  return { ...(await listenOnLoopback(app)), requests, pooling };
}
