/**
 * Best-of-k for a set of prompts: k samples each (one request with n = k per prompt),
 * ranked, the best kept. Requests run concurrently with a bounded number in flight, which
 * also bounds one invocation's subrequests.
 *
 * How samples are ranked (`rank`):
 *   - text answers by the reward model's score, highest first (ties: the earlier sample);
 *   - tool calls by agreement: the reward model scores text, so a sample that calls tools
 *     is not scored; when at least half the samples call tools, the answer is the call
 *     most of them make (the same functions with the same arguments, compared as parsed
 *     JSON; ties: the call drawn first), and the text samples rank after the calls. This
 *     is self-consistency (Wang et al., 2022) on the call: k samples that agree on a call
 *     are likelier right than one.
 */
import { runCall } from "./call.js";
import { type Reasoning, type Sample, type SamplingParams, StreamedSample } from "./completions.js";
import { type LmConfig, thinkingOf } from "./deployment.js";
import { runThinking, thinkingBackend } from "./thinking.js";
import { CompletionChunkSchema, type LmInput, type ToolCall } from "../contracts/lm-protocol.js";
import { Unavailable, UpstreamRefused } from "../errors.js";
import { type RetryPolicy, postStream } from "../lm/http.js";

export interface RerankItem {
  readonly input: LmInput;
  /** Samples to draw (the allocated units); 0 draws nothing. */
  readonly units: number;
  readonly seed?: number;
  /**
   * A thinking budget in tokens (-1: unlimited), sent the way the model's server takes one
   * (cfg.thinking, core/backends/thinking.ts); absent: none is sent.
   */
  readonly budget?: number;
  /**
   * max_tokens is allot's own choice (a thinking sample's ceiling), not the client's: when
   * the server refuses it for the context it has left, the draw is made once more within
   * the room the refusal names (contextRoom).
   */
  readonly ownMaxTokens?: boolean;
}

/**
 * The completion tokens a context-length refusal says are left: its context less the
 * prompt's tokens, as vLLM words it in its releases and the reference LM after it
 * ("maximum context length is 96 tokens … (24 in the prompt, 73 in the completion)", "… your
 * request has 24 input tokens", "… your prompt contains at least 24 input tokens"); null when
 * the message is not such a refusal or does not say both.
 *
 * @example contextRoom("this model's maximum context length is 96 tokens; you requested 97 (24 in the prompt, 73 in the completion)") // 72
 */
export function contextRoom(message: string): number | null {
  const max = /maximum context length is (\d+)/i.exec(message);
  const prompt = /(\d+) in the (?:prompt|messages)|has (\d+) input tokens|contains at least (\d+) input tokens/i.exec(message);
  if (!max || !prompt) return null;
  const room = Number(max[1]) - Number(prompt[1] ?? prompt[2] ?? prompt[3]);
  return room >= 1 ? room : null;
}

/** A sample drawn, with its reward (null: not scored, a tool call). */
export interface Drawn extends Sample {
  readonly reward: number | null;
}

export interface RerankResult {
  /** Every sample drawn, in the order drawn. */
  readonly drawn: readonly Drawn[];
  /** Indices into `drawn`, best first. */
  readonly order: readonly number[];
  /** What ranked them: the reward model, or agreement among tool calls. */
  readonly by: "reward" | "agreement";
  /** Ranked by agreement: how many samples made the kept call; else null. */
  readonly votes: number | null;
  readonly best: string | null;
  /** The kept sample's tool calls (null for a text answer). */
  readonly toolCalls: readonly ToolCall[] | null;
  readonly reasoning: Reasoning | null;
  /** Why the kept sample ended ("stop", "length", "tool_calls"), as the LM said. */
  readonly finishReason: string | null;
  /** The kept sample's logprobs as the LM gave them; null unless asked for. */
  readonly logprobs: unknown;
  /** The kept sample's reward (null when ranked by agreement). */
  readonly reward: number | null;
  readonly samples: readonly string[];
  /** One per sample: its reward, 0 for one not scored. */
  readonly rewards: readonly number[];
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Of completionTokens, those spent thinking, as the server counted them (0 when it does not say). */
  readonly reasoningTokens: number;
}

/** Runs `work` over items with at most `limit` in flight; results in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A call's identity for agreement: its function and its arguments as parsed JSON with sorted keys (the text as given when it is not JSON). */
function callKey(calls: readonly ToolCall[]): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(
    calls.map((c) => {
      try {
        return [c.function.name, canonical(JSON.parse(c.function.arguments))];
      } catch {
        return [c.function.name, c.function.arguments];
      }
    }),
  );
}

/**
 * The samples drawn, ranked (see the module's comment), as a result.
 *
 * @example rank([{ text: "", toolCalls: [a1], … }, { text: "", toolCalls: [a2], … }, { text: "", toolCalls: [a1], … }], 10, 8).votes // 2
 */
export function rank(drawn: readonly Drawn[], promptTokens: number, completionTokens: number, reasoningTokens = 0): RerankResult {
  const calls = drawn.flatMap((d, i) => (d.toolCalls ? [i] : []));
  const texts = drawn.flatMap((d, i) => (d.toolCalls ? [] : [i])).sort((a, b) => (drawn[b].reward ?? -Infinity) - (drawn[a].reward ?? -Infinity) || a - b);
  const byAgreement = calls.length > 0 && calls.length * 2 >= drawn.length;
  let order: number[];
  let votes: number | null = null;
  if (byAgreement) {
    const groups = new Map<string, number[]>();
    for (const i of calls) {
      const key = callKey(drawn[i].toolCalls!);
      groups.set(key, [...(groups.get(key) ?? []), i]);
    }
    const ranked = [...groups.values()].sort((a, b) => b.length - a.length || a[0] - b[0]);
    votes = ranked[0].length;
    order = [...ranked.flat(), ...texts];
  } else {
    order = [...texts, ...calls];
  }
  const top = drawn[order[0]];
  return {
    drawn,
    order,
    by: byAgreement ? "agreement" : "reward",
    votes,
    best: top?.text ?? null,
    toolCalls: top?.toolCalls ?? null,
    reasoning: top?.reasoning ?? null,
    finishReason: top?.finishReason ?? null,
    logprobs: top?.logprobs ?? null,
    reward: byAgreement ? null : (top?.reward ?? null),
    samples: drawn.map((d) => d.text),
    rewards: drawn.map((d) => d.reward ?? 0),
    promptTokens,
    completionTokens,
    reasoningTokens,
  };
}

/**
 * `text` up to its first stop string, as an LM server cuts it (the stop string itself not
 * included), and whether one was found: how allot applies a client's `stop` to the
 * answers it keeps, after they were scored whole.
 *
 * @example cutAtStop("46\n12", ["6"]) // { text: "4", stopped: true }
 */
export function cutAtStop(text: string, stop: readonly string[]): { text: string; stopped: boolean } {
  let at = -1;
  for (const s of stop) {
    const i = s === "" ? -1 : text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
}

/** Two rounds' samples ranked together, every sample's tokens counted. */
export const combine = (a: RerankResult, b: RerankResult): RerankResult =>
  rank([...a.drawn, ...b.drawn], a.promptTokens + b.promptTokens, a.completionTokens + b.completionTokens, a.reasoningTokens + b.reasoningTokens);

/** Scores the text samples of `input` with the reward backend; tool calls are left unscored (null). */
export async function score(cfg: LmConfig, input: LmInput, samples: readonly Sample[], policy: RetryPolicy = cfg.policy): Promise<Drawn[]> {
  const { reward } = cfg;
  const scored = samples.flatMap((s, i) => (s.toolCalls ? [] : [i]));
  if (scored.length === 0) return samples.map((s) => ({ ...s, reward: null }));
  const calls = reward.backend.score(reward.model, scored.map((i) => ({ input, completion: samples[i].text })), reward.label);
  const scorer = { url: reward.url, apiKey: reward.apiKey, role: "rewards" as const };
  const rewards = (await Promise.all(calls.map((call) => runCall(scorer, call, policy, cfg.meter)))).flat();
  if (rewards.length !== scored.length) {
    const why = `${rewards.length} scores for ${scored.length} samples`;
    throw new Unavailable({ message: `${reward.url}: ${why}`, reason: why, upstreamStatus: 200, retryable: false });
  }
  const byIndex = new Map(scored.map((i, k) => [i, rewards[k]]));
  return samples.map((s, i) => ({ ...s, reward: byIndex.get(i) ?? null }));
}

const EMPTY: RerankResult = rank([], 0, 0);

/** Builds (and drops) a scoring call for `input`: throws if the reward model cannot score it, before anything is sampled. */
function scoringCheck(cfg: LmConfig, input: LmInput): void {
  cfg.reward.backend.score(cfg.reward.model, [{ input, completion: "" }], cfg.reward.label);
}

/** Samples, scores and ranks; ties go to the earliest sample. Throws UpstreamRefused or Unavailable (../errors.ts). */
export async function sampleAndRerank(
  cfg: LmConfig,
  items: readonly RerankItem[],
  params: SamplingParams,
  opts: { inFlight?: number; policy?: RetryPolicy } = {},
): Promise<RerankResult[]> {
  const policy = opts.policy ?? cfg.policy;
  return mapBounded(items, opts.inFlight ?? 6, async (item) => {
    if (item.units === 0) return EMPTY;
    // A reward model that cannot be called (unset, or text only for a conversation) is
    // known before any sample is paid for: building its call throws.
    scoringCheck(cfg, item.input);
    const to = { url: cfg.urlFor(cfg.model), apiKey: cfg.apiKey, role: "sampling" as const };
    const draw = (p: SamplingParams) =>
      item.budget === undefined
        ? runCall(to, cfg.completions.sample(cfg.model, item.input, item.units, p, item.seed), policy, cfg.meter)
        : runThinking(to, thinkingBackend(thinkingOf(cfg, cfg.model).backend)(cfg.model, item.input, item.units, p, item.seed, item.budget), policy, cfg.meter);
    const sampled = await draw(params).catch((e: unknown) => {
      // allot's own max_tokens past the context the prompt leaves: once more, within that room.
      const room = item.ownMaxTokens && e instanceof UpstreamRefused ? contextRoom(e.reason) : null;
      if (room === null || params.maxTokens === undefined || room >= params.maxTokens) throw e;
      return draw({ ...params, maxTokens: room });
    });
    return rank(await score(cfg, item.input, sampled.samples, policy), sampled.promptTokens, sampled.completionTokens, sampled.reasoningTokens ?? 0);
  });
}

/**
 * A whole answer as one chunk: a server that ignores `stream: true` (it answers JSON)
 * still streams, in one piece. Chunks pass as they are.
 */
function asChunk(raw: unknown): unknown {
  const choices = (raw as { choices?: { message?: { content?: unknown; tool_calls?: { id: string; function: unknown }[] } }[] })?.choices;
  if (!Array.isArray(choices) || !choices.some((c) => c?.message)) return raw;
  return {
    ...(raw as object),
    choices: choices.map((c) => {
      const { message, ...rest } = c as { message?: { content?: unknown; tool_calls?: { id: string; function: unknown }[] } };
      if (!message) return c;
      return { ...rest, delta: { ...message, tool_calls: message.tool_calls?.map((t, index) => ({ ...t, index })) } };
    }),
  };
}

/** What a streamed sample adds, piece by piece (StreamedSample.add). */
export type StreamPiece = ReturnType<StreamedSample["add"]>[number];

/**
 * One sample, streamed: resolves once the LM has started answering (a refusal or an
 * outage before that throws, as sampleAndRerank would), with the pieces as they come and
 * the whole result when the stream ends (scored afterwards: its reward says how good the
 * answer was, for the console; there is nothing to choose between).
 */
export async function streamOne(
  cfg: LmConfig,
  item: { input: LmInput; seed?: number },
  params: SamplingParams,
  opts: { signal?: AbortSignal } = {},
): Promise<{ pieces: AsyncIterable<StreamPiece>; result: () => Promise<RerankResult> }> {
  scoringCheck(cfg, item.input);
  const call = cfg.completions.stream(cfg.model, item.input, params, item.seed);
  const url = `${cfg.urlFor(cfg.model)}${call.path}`;
  const chunks = await postStream(url, call.body, { policy: cfg.policy, headers: cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : undefined, meter: cfg.meter, signal: opts.signal });
  const acc = new StreamedSample();
  let ended = false;
  async function* pieces(): AsyncGenerator<StreamPiece> {
    for await (const raw of chunks) {
      const parsed = CompletionChunkSchema.safeParse(asChunk(raw));
      if (!parsed.success) throw new Unavailable({ message: `${url}: a chunk of an unexpected shape: ${JSON.stringify(raw).slice(0, 200)}`, reason: "the server streamed a chunk of an unexpected shape", retryable: false });
      yield* acc.add(parsed.data);
    }
    ended = true;
  }
  return {
    pieces: pieces(),
    result: async () => {
      if (!ended) throw new Error("streamOne: result() before the pieces were read to the end");
      const [drawn] = await score(cfg, item.input, [acc.sample()]);
      return rank([drawn], acc.promptTokens, acc.completionTokens);
    },
  };
}
