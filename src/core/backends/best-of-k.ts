/**
 * Best-of-k for a set of prompts: k samples each (one request with n = k per prompt),
 * scored by the reward backend, the best kept. Requests run concurrently with a bounded
 * number in flight, which also bounds one invocation's subrequests.
 */
import { runCall } from "./call.js";
import type { SamplingParams } from "./completions.js";
import type { LmConfig } from "./deployment.js";
import type { LmInput } from "../contracts/lm-protocol.js";
import { Unavailable } from "../errors.js";
import type { RetryPolicy } from "../lm/http.js";

export interface RerankItem {
  readonly input: LmInput;
  /** Samples to draw (the allocated units); 0 draws nothing. */
  readonly units: number;
  readonly seed?: number;
}

export interface RerankResult {
  readonly best: string | null;
  /** Why the kept sample ended ("stop", "length"), as the LM said. */
  readonly finishReason: string | null;
  /** The kept sample's logprobs as the LM gave them; null unless asked for. */
  readonly logprobs: unknown;
  readonly reward: number | null;
  readonly samples: readonly string[];
  readonly rewards: readonly number[];
  readonly promptTokens: number;
  readonly completionTokens: number;
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

/** Samples, scores and picks; ties go to the earliest sample. Throws UpstreamRefused or Unavailable (../errors.ts). */
export async function sampleAndRerank(
  cfg: LmConfig,
  items: readonly RerankItem[],
  params: SamplingParams,
  opts: { inFlight?: number; policy?: RetryPolicy } = {},
): Promise<RerankResult[]> {
  const { completions: c, reward } = cfg;
  const policy = opts.policy ?? cfg.policy;
  return mapBounded(items, opts.inFlight ?? 6, async (item) => {
    if (item.units === 0) return { best: null, finishReason: null, logprobs: null, reward: null, samples: [], rewards: [], promptTokens: 0, completionTokens: 0 };
    // Scoring calls are built first: a reward model that cannot be called (unset, or text
    // only for a conversation) is known before any sample is paid for.
    const scoring = (texts: readonly string[]) => reward.backend.score(reward.model, texts.map((completion) => ({ input: item.input, completion })), reward.label);
    scoring([""]);
    const sampled = await runCall({ url: cfg.urlFor(cfg.model), apiKey: cfg.apiKey, role: "sampling" }, c.sample(cfg.model, item.input, item.units, params, item.seed), policy, cfg.meter);
    const scorer = { url: reward.url, apiKey: reward.apiKey, role: "rewards" as const };
    const scores = await Promise.all(scoring(sampled.texts).map((call) => runCall(scorer, call, policy, cfg.meter)));
    const rewards = scores.flat();
    if (rewards.length !== sampled.texts.length) {
      const why = `${rewards.length} scores for ${sampled.texts.length} samples`;
      throw new Unavailable({ message: `${reward.url}: ${why}`, reason: why, upstreamStatus: 200, retryable: false });
    }
    let best = 0;
    rewards.forEach((r, k) => {
      if (r > rewards[best]) best = k;
    });
    return {
      best: sampled.texts[best],
      finishReason: sampled.finishReasons[best],
      logprobs: sampled.logprobs[best] ?? null,
      reward: rewards[best],
      samples: sampled.texts,
      rewards,
      promptTokens: sampled.promptTokens,
      completionTokens: sampled.completionTokens,
    };
  });
}
