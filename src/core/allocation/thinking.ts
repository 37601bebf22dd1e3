/**
 * Thinking budgets as options: one prompt's levels (at most levels[ℓ] thinking tokens per
 * sample) priced in units of the tenant's budget, for the sequential core (one arm per
 * level: a failed short think may be followed by a longer one or by another sample) and
 * for the menu solver ((level, k) options, one chosen per prompt). Pure.
 *
 * Compute is tokens generated: a sample at level ℓ is expected to cost tokens[ℓ] (the
 * predictor's, per prompt) and is charged what it generated; a unit is `tokensPerUnit`
 * tokens. What a sample can cost at most, its ceiling, is what a request reserves before
 * drawing it: its thinking budget, plus the answer's allowance (twice the longest mean
 * answer the manifest measured, markers and end-of-sequence included), within the
 * client's max_tokens, which servers count over thinking and answer together.
 */
import { type Belief, priorOf } from "./waves.js";
import { type RouteChoice, bestOfBernoulli, routeMenu } from "./route.js";
import type { Arm } from "../sequential/query.js";

/** A prompt's thinking levels, each a way to draw one sample. */
export interface Levels {
  /** Thinking budget per level, in tokens (what is sent: thinking_token_budget). */
  readonly budgets: readonly number[];
  /** Predicted chance that one sample passes at each level (non-decreasing). */
  readonly p: readonly number[];
  /** Expected units one sample costs at each level: the predicted tokens / tokensPerUnit. */
  readonly cost: readonly number[];
  /** The most units one sample can cost at each level: what is reserved before drawing it. */
  readonly ceiling: readonly number[];
  readonly tokensPerUnit: number;
}

/** What the manifest says of a thinking predictor's levels (manifest.thinking). */
export interface LevelsManifest {
  readonly levels: readonly number[];
  readonly expected_tokens: readonly number[];
  readonly expected_reasoning_tokens: readonly number[];
}

/**
 * Tokens a sample's answer may take after its thinking: half as much again as the longest
 * mean answer (tokens outside the thinking: markers, answer, end-of-sequence) the training
 * prompts showed at any level, at least 4. Kept tight because allot sends it as part of
 * max_tokens when the client sets none, and a server refuses a max_tokens the context
 * cannot hold.
 *
 * @example answerAllowance({ levels: [0, 64], expected_tokens: [5.9, 24.1], expected_reasoning_tokens: [0, 18.2] }) // 9
 */
export function answerAllowance(m: LevelsManifest): number {
  const longest = Math.max(...m.expected_tokens.map((t, l) => t - (m.expected_reasoning_tokens[l] ?? 0)));
  return Math.max(4, Math.ceil(1.5 * longest));
}

/**
 * A prompt's levels from its prediction. `maxTokens`, the client's cap on a sample's
 * tokens, bounds each ceiling (and each expected cost).
 */
export function levelsOf(m: LevelsManifest, pred: { readonly p: readonly number[]; readonly tokens: readonly number[] }, tokensPerUnit: number, maxTokens?: number): Levels {
  const allowance = answerAllowance(m);
  const cap = (t: number) => (maxTokens === undefined ? t : Math.min(t, maxTokens));
  return {
    budgets: m.levels,
    p: pred.p,
    cost: pred.tokens.map((t) => Math.max(1, cap(t)) / tokensPerUnit),
    ceiling: m.levels.map((b) => cap(b + allowance) / tokensPerUnit),
    tokensPerUnit,
  };
}

/** Samples one arm may draw at most: what max units buy of it, and never more than `perArm`. */
const armMax = (cost: number, maxUnits: number, perArm: number) => Math.max(0, Math.min(perArm, Math.floor(maxUnits / cost + 1e-9)));

/**
 * The sequential core's arms: one per level, at its expected cost, believed as a Beta
 * prior of `strength` around its p (or known, without a strength).
 */
export function thinkingArms(l: Levels, strength: number | undefined, maxUnits: number, perArm = 16): Arm[] {
  return l.p.map((p, j) => {
    const belief: Belief = strength === undefined ? { known: p } : { prior: priorOf(p, strength) };
    return { cost: l.cost[j], belief, max: armMax(l.cost[j], maxUnits, perArm) };
  });
}

/**
 * The menu of one prompt: every (level, k) of at least `minK` samples whose expected cost
 * is at most `maxUnits`, valued best-of-k at the level's p. Option = the level's index.
 */
export function thinkingMenu(l: Levels, maxUnits: number, opts: { minK?: number; kMax?: number } = {}): RouteChoice[] {
  const minK = opts.minK ?? 1;
  const options = l.cost.map((cost, j) => ({ model: String(l.budgets[j]), cost }));
  return routeMenu(options, opts.kMax ?? 16, (j, k) => bestOfBernoulli(l.p[j], k), { max: maxUnits }).filter((o) => o.k >= minK);
}
