/**
 * `allot doctor`: probes every server of a deployment for each role it plays (generate,
 * hidden states, rewards) and each model, and says, one finding per line, what is right
 * and what to change: whether the server can be reached, which protocol and version it
 * speaks (vLLM's GET /version, SGLang's /get_server_info and /get_model_info), whether it
 * has the route, task and model the gateway will ask for (the very calls the gateway
 * makes, core/backends), the hidden states' width and norm against every predictor's
 * manifest, SGLang's hidden states under concurrency (a prefix-cache hit, and a batch
 * shared with ordinary completions), and a known prompt's reward on a right and a wrong
 * answer, so that a reward read from the wrong label is caught; and each thinking model's
 * budget, sent as its server takes it and checked kept (doctor-thinking.ts).
 *
 * Fetch only: the Worker runs it (GET /admin/doctor, with its own settings and network
 * reach), and the CLI prints what the Worker found.
 */
import { z } from "zod";
import { type BackendCall, runCall } from "./backends/call.js";
import type { LmConfig } from "./backends/deployment.js";
import { describeLabel } from "./backends/rewards.js";
import type { ChatMessage } from "./contracts/lm-protocol.js";
import { checkThinking } from "./doctor-thinking.js";
import { AllotError, Misconfigured, isUpstream } from "./errors.js";
import type { RetryPolicy } from "./lm/http.js";
import { l2, normMismatch } from "./predictor/hidden-norm.js";
import { type PredictorManifest, inputForm } from "./predictor/manifest.js";

export type Level = "ok" | "warn" | "error";
export type DoctorRole = "settings" | "generate" | "hidden states" | "rewards" | "thinking";

export interface Finding {
  readonly level: Level;
  readonly role: DoctorRole;
  /** The server's base URL (the doctor is an admin's tool: addresses are shown). */
  readonly server: string | null;
  readonly model: string | null;
  readonly message: string;
  /** The setting to change, when one is to blame. */
  readonly setting: string | null;
}

export interface Probe {
  /** A prompt every model of the deployment can read. */
  readonly prompt: string;
  /** A right and a wrong answer to it, for the reward model. */
  readonly right: string;
  readonly wrong: string;
  /** A prompt thinking models think about for more than a few tokens (THINKING_PROBE when unset). */
  readonly thinking?: string;
}

/** The reference task's prompt: readable by the reference LMs (digits, + and =) and by any real tokenizer. */
export const DEFAULT_PROBE: Probe = { prompt: "12+34=", right: "46", wrong: "47" };

export interface DoctorInput {
  /** The deployment built from the settings. */
  readonly cfg: LmConfig;
  /** The protocols' names as set (HIDDEN_STATES, REWARDS) and REWARD_LABEL as given, for the messages. */
  readonly names: { readonly hidden: string; readonly rewards: string; readonly label: string | null };
  /** Every predictor and router the gateway may serve. */
  readonly predictors: readonly PredictorManifest[];
  /** The LMs requests may name: LM_MODEL, the predictors' LMs, the routers' options. */
  readonly models: readonly string[];
  /**
   * Models that only predictors shipped for the reference LM read (and not LM_MODEL): a
   * deployment of its own LMs need not serve them, so their problems are warnings.
   */
  readonly optionalModels?: readonly string[];
  /** LMs whose hidden states are probed even when no predictor reads them yet (LM_MODEL). */
  readonly hiddenModels?: readonly string[];
  readonly probe?: Probe;
  /** Each probe's time limit (one attempt). */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** What a server says it is. */
export interface Identity {
  readonly reachable: boolean;
  readonly kind: "vllm" | "sglang" | "reference" | "unknown";
  readonly version: string | null;
  /** The models GET /v1/models lists, or null when it does not answer. */
  readonly models: readonly string[] | null;
  /** SGLang's server_args as /get_server_info reports them. */
  readonly serverArgs: Readonly<Record<string, unknown>> | null;
  readonly isGeneration: boolean | null;
  readonly error: string | null;
}

/** -1, 0, 1 as version a is before, equal to or after b ("0.11.1" style). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0) ? -1 : 1;
  return 0;
}

const ModelsSchema = z.object({ data: z.array(z.object({ id: z.string(), owned_by: z.string().optional() })) });

/**
 * What the server at `url` is: GET /version (vLLM), /get_server_info and /get_model_info
 * (SGLang), /v1/models (every OpenAI-compatible server; owned_by "allot" is the reference LM).
 */
export async function identify(url: string, apiKey: string | undefined, doFetch: typeof fetch, timeoutMs: number): Promise<Identity> {
  const get = async (path: string): Promise<unknown | null | Error> => {
    try {
      const res = await doFetch(`${url}${path}`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return null;
      return await res.json().catch(() => null);
    } catch (e) {
      return e as Error;
    }
  };
  const [version, info, modelInfo, models] = await Promise.all([get("/version"), get("/get_server_info"), get("/get_model_info"), get("/v1/models")]);
  const all = [version, info, modelInfo, models];
  if (all.every((x) => x instanceof Error)) {
    const e = all[0] as Error;
    return { reachable: false, kind: "unknown", version: null, models: null, serverArgs: null, isGeneration: null, error: e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : "could not be reached" };
  }
  const listed = ModelsSchema.safeParse(models);
  const ids = listed.success ? listed.data.data.map((m) => m.id) : null;
  const sglang = z.looseObject({ version: z.string() }).safeParse(info);
  if (sglang.success) {
    const gen = z.object({ is_generation: z.boolean() }).safeParse(modelInfo);
    const { version: v, ...args } = sglang.data;
    return { reachable: true, kind: "sglang", version: v, models: ids, serverArgs: args, isGeneration: gen.success ? gen.data.is_generation : null, error: null };
  }
  const vllm = z.object({ version: z.string() }).safeParse(version);
  if (vllm.success) return { reachable: true, kind: "vllm", version: vllm.data.version, models: ids, serverArgs: null, isGeneration: null, error: null };
  const reference = listed.success && listed.data.data.some((m) => m.owned_by === "allot");
  return { reachable: true, kind: reference ? "reference" : "unknown", version: null, models: ids, serverArgs: null, isGeneration: null, error: null };
}

const describe = (id: Identity) =>
  id.kind === "vllm" ? `vLLM ${id.version}` : id.kind === "sglang" ? `SGLang ${id.version}` : id.kind === "reference" ? "the reference LM" : "an OpenAI-compatible server (no /version or /get_server_info)";

/** The outcome of one call the gateway would make: its result, or the finding that explains its failure. */
type Tried<R> = { ok: true; value: R } | { ok: false; message: string; setting: string | null };

async function tryCall<R>(url: string, apiKey: string | undefined, role: "sampling" | "hidden states" | "rewards", call: BackendCall<R>, policy: RetryPolicy): Promise<Tried<R>> {
  try {
    return { ok: true, value: await runCall({ url, apiKey, role }, call, policy) };
  } catch (e) {
    // The finding names the setting at its end: the message need not start with it too.
    if (e instanceof Misconfigured) return { ok: false, message: e.setting && e.reason.startsWith(`${e.setting}: `) ? e.reason.slice(e.setting.length + 2) : e.reason, setting: e.setting };
    if (isUpstream(e) || e instanceof AllotError) return { ok: false, message: `${call.path}: ${e.reason}`, setting: null };
    if (e instanceof Error) return { ok: false, message: `${call.path}: ${e.message}`, setting: null };
    throw e;
  }
}

/**
 * Runs every check. Never throws for what a server does: each problem is a finding.
 *
 * @example for (const f of await runDoctor({ cfg, names, predictors, models })) console.log(formatFinding(f));
 */
export async function runDoctor(input: DoctorInput): Promise<Finding[]> {
  const { cfg, names } = input;
  const probe = input.probe ?? DEFAULT_PROBE;
  const timeoutMs = input.timeoutMs ?? 10_000;
  const doFetch = input.fetch ?? fetch;
  const policy: RetryPolicy = { attempts: 1, timeoutMs, baseDelayMs: 0, maxDelayMs: 0 };
  const out: Finding[] = [];
  const add = (level: Level, role: DoctorRole, server: string | null, model: string | null, message: string, setting: string | null = null) => out.push({ level, role, server, model, message, setting });
  const identities = new Map<string, Promise<Identity>>();
  const who = (url: string, apiKey?: string) => {
    if (!identities.has(url)) identities.set(url, identify(url, apiKey, doFetch, timeoutMs));
    return identities.get(url)!;
  };
  const chatModels = new Set(input.predictors.filter((p) => inputForm(p) === "chat").map((p) => p.lm.model));

  // ---- generate: each model where its completions are served
  for (const model of input.models) {
    const url = cfg.urlFor(model);
    const id = await who(url, cfg.apiKey);
    if (!id.reachable) {
      add("error", "generate", url, model, `the LM server ${id.error}`, url === cfg.url ? "LM_URL" : "LM_URLS");
      continue;
    }
    if (id.kind === "sglang" && id.isGeneration === false) add("error", "generate", url, model, `${describe(id)} serves an embedding or reward model (is_generation false): it cannot generate`, url === cfg.url ? "LM_URL" : "LM_URLS");
    if (id.models && !id.models.includes(model)) {
      add("error", "generate", url, model, `${describe(id)} does not serve ${model} (it lists ${id.models.join(", ") || "nothing"})`, url === cfg.url ? "LM_URL" : "LM_URLS");
      continue;
    }
    const tried = await tryCall(url, cfg.apiKey, "sampling", cfg.completions.sample(model, { prompt: probe.prompt }, 1, { temperature: 0, topP: 1, maxTokens: 4 }), policy);
    if (!tried.ok) add("error", "generate", url, model, tried.message, tried.setting ?? (url === cfg.url ? "LM_URL" : "LM_URLS"));
    else add("ok", "generate", url, model, `${describe(id)} generates ${model} (/v1/completions answered)`);
    if (tried.ok && chatModels.has(model)) {
      const chat = await tryCall(url, cfg.apiKey, "sampling", cfg.completions.sample(model, { messages: [{ role: "user", content: probe.prompt }] }, 1, { temperature: 0, topP: 1, maxTokens: 4 }), policy);
      if (!chat.ok) add("error", "generate", url, model, `chat: ${chat.message}`, chat.setting ?? "LM_URL");
    }
  }

  // ---- hidden states: LM_MODEL and each model with a predictor, where its hidden states are read
  const predictedModels = [...new Set([...(input.hiddenModels ?? []), ...input.predictors.map((p) => p.lm.model)])];
  for (const model of predictedModels) {
    let url: string;
    try {
      url = cfg.hiddenUrlFor(model);
    } catch (e) {
      if (!(e instanceof Misconfigured)) throw e;
      add("error", "hidden states", null, model, e.reason, e.setting);
      continue;
    }
    const setting = "HIDDEN_STATES_URL";
    const id = await who(url, cfg.apiKey);
    if (!id.reachable) {
      add("error", "hidden states", url, model, `the hidden-state server ${id.error}`, setting);
      continue;
    }
    const mine = input.predictors.filter((p) => p.lm.model === model);
    const before = out.length;
    await checkServer(id, url, model);
    for (const form of ["prompt", "chat"] as const) {
      const of = mine.filter((p) => inputForm(p) === form);
      // No predictor reads this LM yet: the prompt form is still probed (what allot collect will train on).
      if (of.length === 0 && (form === "chat" || mine.length > 0)) continue;
      if (form === "chat" && !cfg.hidden.chat) {
        add("error", "hidden states", url, model, `${of.map((p) => p.name).join(", ")} read conversations, but HIDDEN_STATES=${names.hidden} has no chat template (SGLang's /generate takes text): chat requests for ${model} cannot be predicted; set HIDDEN_STATES=vllm-pooling`, "HIDDEN_STATES");
        continue;
      }
      const messages: ChatMessage[] = [{ role: "user", content: probe.prompt }];
      const call = form === "chat" ? cfg.hidden.chat!(model, messages) : cfg.hidden.texts(model, [probe.prompt]);
      const tried = await tryCall(url, cfg.apiKey, "hidden states", call, policy);
      if (!tried.ok) {
        add("error", "hidden states", url, model, `${form === "chat" ? "a conversation's" : "a prompt's"} hidden state: ${tried.message}`, tried.setting ?? setting);
        break; // the other form would fail the same way
      }
      const h = tried.value[0];
      if (of.length === 0) add("ok", "hidden states", url, model, `${describe(id)}: width ${h.length}, norm ${l2(h).toFixed(2)}; no predictor reads ${model} yet (allot collect trains one on exactly these)`);
      for (const p of of) {
        const why = h.length === 3 * p.input_size ? `${h.length} values, three times the ${p.input_size} it takes: SGLang with EAGLE3 speculative decoding returns three layers' states concatenated; read hidden states from a server without --speculative-algorithm` : h.length !== p.input_size ? `${h.length} values, while it takes ${p.input_size}` : normMismatch(h, p.hidden_norm);
        if (why) add("error", "hidden states", url, model, `predictor ${p.name} (${form}): ${why}`, setting);
        else add("ok", "hidden states", url, model, `${describe(id)}: predictor ${p.name} (${form}): width ${h.length}, norm ${l2(h).toFixed(2)}${p.hidden_norm ? ` (trained on ${p.hidden_norm.min.toFixed(2)}–${p.hidden_norm.max.toFixed(2)})` : ""}`);
      }
    }
    if (out.length === before) add("ok", "hidden states", url, model, `${describe(id)}`);
  }

  /** Version- and server-specific checks of a hidden-state server. */
  async function checkServer(id: Identity, url: string, model: string): Promise<void> {
    if (id.kind === "vllm" && id.version) {
      if (!names.hidden.startsWith("vllm")) add("error", "hidden states", url, model, `${describe(id)} is vLLM, but HIDDEN_STATES=${names.hidden}`, "HIDDEN_STATES");
      else if (compareVersions(id.version, "0.11.1") < 0) {
        add("warn", "hidden states", url, model, `${describe(id)}: /pooling ignores the task and pools every token (encode; softmax over the hidden dimension on 0.10.1–0.11.0), and renders conversations without the generation prompt: allot reads the last row, and a predictor trained with allot collect on this server matches it, but vLLM ≥ 0.11.1 gives the LAST-pooled state (docs/backends.md)`);
      }
    }
    if (id.kind === "sglang") await checkSglang(id, url, model);
  }

  /** SGLang: flags, and whether concurrent requests get their own rows. */
  async function checkSglang(id: Identity, url: string, model: string): Promise<void> {
    const a = id.serverArgs ?? {};
    const flag = (text: string) => add("error", "hidden states", url, model, text, "HIDDEN_STATES_URL");
    if (!names.hidden.startsWith("sglang")) {
      add("error", "hidden states", url, model, `${describe(id)} is SGLang, but HIDDEN_STATES=${names.hidden}: set HIDDEN_STATES=sglang-generate (or sglang-generate-last)`, "HIDDEN_STATES");
      return;
    }
    if (a.enable_return_hidden_states === false) flag(`${describe(id)} was started without --enable-return-hidden-states`);
    if (typeof a.speculative_algorithm === "string" && /eagle3/i.test(a.speculative_algorithm)) flag(`${describe(id)} runs EAGLE3 speculative decoding: its hidden states are three layers' concatenated (3 × d) and may be cut short (sglang#10059, #26163); read them from a server without --speculative-algorithm`);
    const shared = input.models.some((m) => cfg.urlFor(m) === url);
    if (shared) add("warn", "hidden states", url, model, `${describe(id)} also serves sampling (it is ${input.models.filter((m) => cfg.urlFor(m) === url).join(", ")}'s LM server): a batch that mixes hidden-state requests with ordinary ones gives them another request's rows on SGLang without the fix of #32089 (PR #32103); checked below, but a server for hidden states only is the safe set-up`);
    if (names.hidden === "sglang-generate" && a.disable_radix_cache === false) {
      add("warn", "hidden states", url, model, `${describe(id)} has its radix cache on: before PR #30177 a prefix-cache hit in a batch gives later requests another request's rows (#4997); start it with --disable-radix-cache, or on a version with #30177 set HIDDEN_STATES=sglang-generate-last`);
    }
    // Empirical: a prompt cached first, then prompts sharing its prefix in one batch, with ordinary completions when the server is shared.
    const prompts = ["12+3=", "12+34=", "12+345=", "123+45=", "1+1="];
    const alone: number[][] = [];
    for (const p of prompts) {
      const r = await tryCall(url, cfg.apiKey, "hidden states", cfg.hidden.texts(model, [p]), policy);
      if (!r.ok) {
        add("error", "hidden states", url, model, `hidden states: ${r.message}`, r.setting ?? "HIDDEN_STATES");
        return;
      }
      alone.push(r.value[0]);
    }
    await tryCall(url, cfg.apiKey, "hidden states", cfg.hidden.texts(model, ["12+3456="]), policy);
    const together = await Promise.all([
      ...prompts.map((p) => tryCall(url, cfg.apiKey, "hidden states", cfg.hidden.texts(model, [p]), policy)),
      ...(shared ? prompts.map((p) => tryCall(url, cfg.apiKey, "sampling", cfg.completions.sample(model, { prompt: p }, 1, { temperature: 0, topP: 1, maxTokens: 2 }), policy)) : []),
    ]);
    const wrong = prompts.filter((_, i) => {
      const r = together[i];
      if (!r.ok) return true;
      const v = r.value as number[][];
      const a0 = alone[i];
      return v[0].length !== a0.length || v[0].some((x, j) => Math.abs(x - a0[j]) > 1e-3 * Math.max(1, Math.abs(a0[j])));
    });
    if (wrong.length > 0) {
      add("error", "hidden states", url, model, `${describe(id)} gave ${wrong.length} of ${prompts.length} concurrent requests another request's hidden state (${wrong.join(", ")}): the scheduler batches them and misassigns rows on a prefix-cache hit (#4997) or in a batch with ordinary completions (#32089). Serve hidden states from an SGLang server that does nothing else, started with --disable-radix-cache, or upgrade and set HIDDEN_STATES=sglang-generate-last`, "HIDDEN_STATES_URL");
    } else add("ok", "hidden states", url, model, `${describe(id)}: concurrent requests (a prefix-cache hit${shared ? ", and ordinary completions in the same batch" : ""}) each got their own hidden state`);
  }

  // ---- thinking: each THINKING_MODELS model's budget, through its backend, where it is served
  for (const [model, tm] of cfg.thinking ?? []) {
    const url = cfg.urlFor(model);
    const id = await who(url, cfg.apiKey);
    if (!id.reachable) {
      add("error", "thinking", url, model, `the LM server ${id.error}`, url === cfg.url ? "LM_URL" : "LM_URLS");
      continue;
    }
    if (id.models && !id.models.includes(model)) {
      // wrangler.toml's THINKING_MODELS names the reference LM's thinking model, as the shipped predictors do: a deployment of its own LMs need not serve it.
      const shipped = (input.optionalModels ?? []).includes(model);
      add(shipped ? "warn" : "error", "thinking", url, model, `THINKING_MODELS names ${model}, but ${describe(id)} does not serve it (it lists ${id.models.join(", ") || "nothing"})${shipped ? ": remove it from THINKING_MODELS unless you serve it" : ""}`, shipped ? "THINKING_MODELS" : url === cfg.url ? "LM_URL" : "LM_URLS");
      continue;
    }
    for (const f of await checkThinking(url, cfg.apiKey, model, tm, policy, probe.thinking)) add(f.level, "thinking", url, model, `${describe(id)}: ${f.message}`, f.level === "ok" ? null : "THINKING_MODELS");
  }

  // ---- rewards
  await checkRewards();
  async function checkRewards(): Promise<void> {
    const r = cfg.reward;
    let calls: BackendCall<number[]>[];
    const pairs = [
      { input: { prompt: probe.prompt }, completion: probe.right },
      { input: { prompt: probe.prompt }, completion: probe.wrong },
    ];
    try {
      calls = r.backend.score(r.model, pairs, r.label);
    } catch (e) {
      if (!(e instanceof Misconfigured)) throw e;
      add("error", "rewards", r.url || null, r.model || null, e.reason, e.setting);
      return;
    }
    const id = await who(r.url, r.apiKey);
    if (!id.reachable) {
      add("error", "rewards", r.url, r.model, `the reward server ${id.error}`, "REWARD_URL");
      return;
    }
    if (id.kind === "sglang" && !names.rewards.startsWith("sglang")) {
      add("error", "rewards", r.url, r.model, `${describe(id)} serves rewards at its native /classify: set REWARDS=sglang-classify (not /v1/classify, which softmaxes the output, so a one-label reward model scores every answer 1.0)`, "REWARDS");
      return;
    }
    if (id.kind === "vllm" && names.rewards.startsWith("sglang")) add("error", "rewards", r.url, r.model, `${describe(id)} is vLLM, but REWARDS=${names.rewards}`, "REWARDS");
    if (id.models && !id.models.includes(r.model) && id.kind !== "sglang") {
      add("error", "rewards", r.url, r.model, `${describe(id)} does not serve ${r.model} (it lists ${id.models.join(", ") || "nothing"})`, "REWARD_MODEL");
      return;
    }
    if (chatModels.size > 0 && !r.backend.chat) add("error", "rewards", r.url, r.model, `REWARDS=${names.rewards} scores text only, and chat predictors exist (${[...chatModels].join(", ")}): their samples cannot be scored`, "REWARDS");
    // The shape of the answer: one row per input, or one per token (and how many labels).
    const shape = await rawShape(r.url, r.apiKey, calls[0]);
    const scored = await Promise.all(calls.map((c) => tryCall(r.url, r.apiKey, "rewards", c, policy)));
    const failed = scored.find((s) => !s.ok);
    if (failed && !failed.ok) {
      add("error", "rewards", r.url, r.model, `scoring: ${failed.message}`, failed.setting ?? "REWARDS");
      return;
    }
    const [right, wrong] = scored.flatMap((s) => (s.ok ? s.value : []));
    const label = names.label === null ? `${describeLabel(r.label)} (REWARD_LABEL unset)` : `REWARD_LABEL=${names.label}`;
    if (shape?.perToken && shape.labels >= 2) {
      const sequence = await tryCall(r.url, r.apiKey, "rewards", { path: "/classify", body: { model: r.model, input: [probe.prompt + probe.right] }, response: z.unknown(), extract: (x) => x }, policy);
      if (!sequence.ok) {
        add("error", "rewards", r.url, r.model, `${r.model} is a process reward model (one [${shape.labels} labels] row per token or step, no /classify): allot scores a whole completion and cannot mark its steps with the model's step tag (as Qwen2.5-Math-PRM's <extra_0>), so no row it reads is a trained step score. Serve an outcome reward model (a sequence classifier, one row per answer)`, "REWARD_MODEL");
        return;
      }
      add("warn", "rewards", r.url, r.model, `REWARDS=${names.rewards} gets one row per token from this sequence classifier (vLLM 0.11.1–0.20 without a task: token_classify; ≤ 0.11.0: encode); allot reads the last, which is the classify value for LAST pooling: REWARDS=vllm-classify asks for it directly`, "REWARDS");
    }
    if (!(right > wrong)) {
      const n = shape?.labels;
      const hint =
        n === 2
          ? `; the model has two labels: set REWARD_LABEL to the other one (${names.label === "0" ? "1" : "0"}), or check its config's id2label`
          : n === 1 && right === 1 && wrong === 1
            ? "; every answer scores 1.0: a softmax over a one-label output (SGLang's /v1/classify) gives that"
            : n !== undefined
              ? `; the model has ${n} labels: set REWARD_LABEL to the index of "good"`
              : "";
      add("error", "rewards", r.url, r.model, `the right answer (${JSON.stringify(probe.prompt + probe.right)}) scores ${right.toFixed(3)}, not above the wrong one's ${wrong.toFixed(3)}, reading ${label}${hint}. (If the probe is not one this reward model can judge, run the doctor with another: --probe-prompt, --probe-right, --probe-wrong)`, "REWARD_LABEL");
      return;
    }
    add("ok", "rewards", r.url, r.model, `${describe(id)} scores ${r.model}: right ${right.toFixed(3)} > wrong ${wrong.toFixed(3)}, reading ${label}${shape ? ` of ${shape.labels}` : ""}`);
  }

  // A thinking model is named in THINKING_MODELS: its problems are the deployment's, never optional.
  const optional = new Set(input.optionalModels ?? []);
  return out.map((f) =>
    f.level === "error" && f.model !== null && optional.has(f.model) && f.role !== "rewards" && f.role !== "thinking"
      ? { ...f, level: "warn", message: `${f.message} (only the predictors shipped for the reference LM read ${f.model}: ignore this unless you serve it)` }
      : f,
  );

  /** The raw shape of a reward answer: per token or not, and how many labels. */
  async function rawShape(url: string, apiKey: string | undefined, call: BackendCall<number[]> | undefined): Promise<{ perToken: boolean; labels: number } | null> {
    if (!call) return null;
    const Raw = z.union([
      z.object({ data: z.array(z.object({ data: z.union([z.array(z.number()), z.array(z.array(z.number()))]) })) }),
      z.object({ data: z.array(z.object({ probs: z.array(z.number()) })) }),
      z.union([z.object({ embedding: z.array(z.number()) }), z.array(z.object({ embedding: z.array(z.number()) }))]),
    ]);
    const got = await tryCall(url, apiKey, "rewards", { ...call, response: Raw, extract: (x: z.infer<typeof Raw>) => x }, policy);
    if (!got.ok) return null;
    const v = got.value;
    if (Array.isArray(v)) return { perToken: false, labels: v[0]?.embedding.length ?? 0 };
    if ("embedding" in v) return { perToken: false, labels: v.embedding.length };
    const d = v.data[0] as { data?: number[] | number[][]; probs?: number[] } | undefined;
    if (!d) return null;
    if (d.probs) return { perToken: false, labels: d.probs.length };
    const data = d.data!;
    return Array.isArray(data[0]) ? { perToken: true, labels: (data[0] as number[]).length } : { perToken: false, labels: data.length };
  }
}

/**
 * One line per finding: level, role, model and server, what was found, and the setting to change.
 *
 * @example formatFinding({ level: "error", role: "rewards", server: "http://rm:8000", model: "rm", message: "…", setting: "REWARD_LABEL" })
 * // "ERROR rewards        rm @ http://rm:8000: … → set REWARD_LABEL"
 */
export function formatFinding(f: Finding): string {
  const where = [f.model, f.server && `@ ${f.server}`].filter(Boolean).join(" ");
  return `${f.level.toUpperCase().padEnd(5)} ${f.role.padEnd(13)} ${where ? `${where}: ` : ""}${f.message}${f.setting && f.level !== "ok" ? ` → set ${f.setting}` : ""}`;
}

/** The worst level among findings: what the doctor's exit status and /readyz report. */
export const worst = (fs: readonly Finding[]): Level => (fs.some((f) => f.level === "error") ? "error" : fs.some((f) => f.level === "warn") ? "warn" : "ok");
