/**
 * A batch's sampling work and its outcomes, as they travel between a BatchRun (which
 * decides the work and applies every outcome) and whoever draws the samples: the
 * BatchRun's own steps, or its shard objects (shard.ts). Plain data, so it crosses RPC.
 */
import { lmConfig } from "../backends/config.js";
import type { BatchRequest } from "../../core/contracts/batches.js";
import { cutAtStop, mapBounded, sampleAndRerank } from "../../core/backends/best-of-k.js";
import type { Reasoning, SamplingParams } from "../../core/backends/completions.js";
import type { LmInput, ToolCall } from "../../core/contracts/lm-protocol.js";
import type { Env } from "../env.js";
import { UpstreamRefused, isUpstream } from "../../core/errors.js";

/**
 * A prompt's own request, in a batch made from a file of OpenAI requests: its input (chat
 * messages or a prompt) and its sampling, and the stop strings applied to the kept answer
 * (after scoring, as online). A batch of allot's own prompts has none: each prompt is
 * sampled with the batch's `sampling`.
 */
export interface ItemRequest {
  readonly input: LmInput;
  readonly params: SamplingParams;
  readonly stop?: readonly string[];
}

/** What a prompt's kept sample was beyond its text, and the tokens its draw used: for a file batch's output lines. */
export interface ItemDetail {
  readonly finish_reason: string | null;
  readonly tool_calls: readonly ToolCall[] | null;
  readonly reasoning: Reasoning | null;
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
}

/** What drawing a thinking level needs: its budget, how its tokens are charged, and a sample's most tokens. */
export interface ArmThinking {
  readonly budget: number;
  readonly tokensPerUnit: number;
  readonly maxTokens: number;
}

/** Draw `units` samples of `model` for prompt `idx` (in its round `round`), keep the best. */
export interface Work {
  readonly idx: number;
  readonly round: number;
  readonly prompt: string;
  readonly model: string;
  readonly units: number;
  readonly seed?: number;
  /** The prompt's own request (a file batch), as JSON (ItemRequest); absent: `prompt` with the batch's sampling. */
  readonly request?: string;
  /** A thinking level: its budget is sent, and the samples are charged the tokens they generated (batches/thinking.ts). */
  readonly thinking?: ArmThinking;
}

/** Why a prompt's LM calls failed (an UpstreamRefused or Unavailable, as data). */
export interface Failure {
  readonly retryable: boolean;
  readonly rejected: boolean;
  readonly reason: string;
  readonly retryAfterMs: number | null;
}

export type Outcome =
  | {
      readonly idx: number;
      readonly round: number;
      readonly ok: true;
      readonly best: string | null;
      readonly reward: number | null;
      readonly rewards: readonly number[];
      /** What the draw cost when that is known only now: a thinking level's tokens / tokens to a unit. */
      readonly units?: number;
      readonly detail?: ItemDetail;
    }
  | { readonly idx: number; readonly round: number; readonly ok: false; readonly failure: Failure };

/** The seed of prompt `idx`'s round `round` in a batch seeded `seed` (none: unseeded); an audit draws with the round after the policy's last. */
export const roundSeedOf = (seed: number | undefined, idx: number, round: number): number | undefined => (seed === undefined ? undefined : (seed + idx + round * 7919) >>> 0);

/** LM requests in flight at once from one invocation (the Workers limit on simultaneous connections). */
export const IN_FLIGHT = 6;

/** Draws the work, IN_FLIGHT prompts at a time; an LM failure is an outcome, anything else throws. */
export async function drawWork(env: Env, sampling: BatchRequest["sampling"], work: readonly Work[]): Promise<Outcome[]> {
  const base = lmConfig(env);
  const params = { temperature: sampling.temperature, topP: sampling.top_p, maxTokens: sampling.max_tokens };
  return mapBounded(work, IN_FLIGHT, async (w): Promise<Outcome> => {
    const own = w.request ? (JSON.parse(w.request) as ItemRequest) : null;
    try {
      const t = w.thinking;
      const given = own?.params ?? params;
      // A thinking sample may generate its budget and its answer: max_tokens bounds the whole (vLLM counts both).
      const ours = t !== undefined && (given.maxTokens ?? 0) < t.maxTokens;
      const sent = ours ? { ...given, maxTokens: t.maxTokens } : given;
      const [r] = await sampleAndRerank({ ...base, model: w.model }, [{ input: own?.input ?? { prompt: w.prompt }, units: w.units, seed: w.seed, ...(t ? { budget: t.budget } : {}), ownMaxTokens: ours }], sent);
      const cost = t ? { units: r.completionTokens / t.tokensPerUnit } : {};
      if (!own) return { idx: w.idx, round: w.round, ok: true, best: r.best, reward: r.reward, rewards: r.rewards, ...cost };
      const cut = r.toolCalls ? null : cutAtStop(r.best ?? "", own.stop ?? []);
      const detail: ItemDetail = {
        finish_reason: r.toolCalls ? "tool_calls" : cut?.stopped ? "stop" : r.finishReason,
        tool_calls: r.toolCalls,
        reasoning: r.reasoning,
        prompt_tokens: r.promptTokens,
        completion_tokens: r.completionTokens,
      };
      return { idx: w.idx, round: w.round, ok: true, best: cut ? cut.text : r.best, reward: r.reward, rewards: r.rewards, ...cost, detail };
    } catch (e) {
      if (!isUpstream(e)) throw e;
      return { idx: w.idx, round: w.round, ok: false, failure: { retryable: e.retryable, rejected: e instanceof UpstreamRefused, reason: e.reason, retryAfterMs: e.retryAfterMs } };
    }
  });
}

/** Shard k of batch `id`. */
export const shardOf = (env: Env, id: string, k: number) => env.BATCH_SHARDS.get(env.BATCH_SHARDS.idFromName(`${id}:shard:${k}`));
