/**
 * Accuracy against compute of allocating thinking budgets (and samples) per prompt, on
 * prompts collected with K samples at each thinking budget level. Pure.
 *
 * Compute is tokens: what a sample generates (thinking, the two markers, the answer and
 * the end-of-sequence token), as the server counts them in usage. A choice (level ℓ, k
 * samples) for prompt i costs k × the prompt's own mean tokens per sample at ℓ (what those
 * k samples generate in expectation) and is worth pass@k at ℓ, the unbiased estimate from
 * its K recorded samples there, so every policy is scored on the same samples. Its
 * thinking tokens are counted the same way (k × the prompt's mean at ℓ).
 *
 * Policies, each a cost-accuracy curve:
 * - thinking-uniform: every prompt at the same level, one sample (the usual reasoning-effort knob);
 * - best-fixed: every prompt the same (level, k), the best such policy at each cost chosen
 *   on these very prompts (the upper concave hull of all of them: a random mix of two
 *   fixed policies lies on the segment between them), which flatters it;
 * - samples: allot's best-of-k at one fixed level (k per prompt from the predicted p there,
 *   the menu solver), the best level at each cost, chosen on these prompts (samples
 *   without budgets);
 * - thinking: allot's level per prompt, one sample (budgets without samples);
 * - joint: allot's (level, k) per prompt, the menu solver over every option;
 * - thinking-oracle, joint-oracle: the same with each prompt's recorded accuracy and
 *   tokens in place of the predictions and the expected tokens;
 * - sequential, sequential-oracle: the sequential core (core/sequential) replayed on the
 *   recorded samples: arms = levels, each at its expected tokens per sample, a Beta prior
 *   around the predicted p at each level (or the recorded p, known); each round planned by
 *   the menu solver under the tokens left, each sample paid for at what it generated.
 * allot plans with the predictor's p and its expected tokens per sample for the prompt at
 * each level (without that output, the manifest's mean tokens per level, the same for
 * every prompt); it is scored on what its choices generate.
 */
import { solveMenu } from "../../core/allocation/menu.js";
import { mulberry32, shuffleInPlace } from "../../core/allocation/select.js";
import { type BinaryBelief, posteriorGains, priorOf } from "../../core/allocation/waves.js";
import { passAt } from "../../core/predictor/estimators.js";
import { type Query, afterRound, planRound, startState } from "../../core/sequential/index.js";
import { type RoutePoint, costToReach } from "./evaluate-route.js";

export interface ThinkingPrompt {
  /** Per level: the recorded rewards (1 or 0). */
  readonly outcomes: readonly (readonly number[])[];
  /** Per level: the tokens each recorded sample generated. */
  readonly tokens: readonly (readonly number[])[];
  /** Per level: mean thinking tokens per sample. */
  readonly reasoning: readonly number[];
  /** Per level: the predictor's p. */
  readonly predicted: readonly number[];
  /** Per level: the predictor's expected tokens per sample for this prompt, when it predicts them. */
  readonly predictedTokens?: readonly number[];
}

export interface ThinkingSetup {
  /** The thinking budgets, increasing. */
  readonly levels: readonly number[];
  /** What allot believes a sample costs at each level (the manifest's expected tokens). */
  readonly expectedTokens: readonly number[];
  /** Samples per prompt at most (one-shot options k = 1..kMax). */
  readonly kMax: number;
  /** How much a predicted p is trusted: the Beta prior's strength (the manifest's prior_strength); none: p taken as known. */
  readonly strength?: number;
}

/** A point of a curve: mean tokens per prompt (cost), accuracy, and mean thinking tokens per prompt. */
export interface ThinkingPoint extends RoutePoint {
  readonly thinking: number;
}

export interface Choice {
  readonly level: number;
  readonly k: number;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => sum(xs) / xs.length;

/** pass@k at a level from the prompt's recorded samples there (k capped at K). */
export function accuracyAt(p: ThinkingPrompt, level: number, k: number): number {
  const o = p.outcomes[level];
  return passAt(o.length, sum(o), Math.min(k, o.length));
}

/** Mean tokens per sample the prompt generated at a level. */
export const tokensAt = (p: ThinkingPrompt, level: number): number => mean(p.tokens[level]);

/** What the choices cost and are worth, per prompt on average. */
export function pointOf(prompts: readonly ThinkingPrompt[], choices: readonly Choice[]): ThinkingPoint {
  let cost = 0;
  let quality = 0;
  let thinking = 0;
  prompts.forEach((p, i) => {
    const { level, k } = choices[i];
    cost += k * tokensAt(p, level);
    thinking += k * p.reasoning[level];
    quality += accuracyAt(p, level, k);
  });
  const n = prompts.length;
  return { cost: cost / n, quality: quality / n, thinking: thinking / n };
}

type Option = Choice & { readonly cost: number; readonly value: number };

/** One prompt's menu: (level, k) for the given levels and k = 1..kMax, at a cost and a value each. */
function menuOf(levels: readonly number[], kMax: number, cost: (l: number) => number, value: (l: number, k: number) => number): Option[] {
  return levels.flatMap((level) => Array.from({ length: kMax }, (_, j) => ({ level, k: j + 1, cost: (j + 1) * cost(level), value: value(level, j + 1) })));
}

/** What allot believes a sample of the prompt costs at a level: its predicted tokens, else the level's mean. */
export const plannedTokens = (p: ThinkingPrompt, s: ThinkingSetup, level: number): number => p.predictedTokens?.[level] ?? s.expectedTokens[level];

/**
 * The value of k samples at a level whose predicted p is believed with a Beta prior of
 * strength s: 1 − E[(1 − p)^k], the sum of the prior's first k posterior gains (waves.ts).
 * With a known p (no strength) it is 1 − (1 − p)^k; with a prior it is less for k > 1,
 * since 1 − (1 − p)^k is concave in p and a prompt's p is uncertain: a second sample of a
 * prompt predicted at 0.5 is worth less when the prompt is either easy or hopeless.
 */
export function bestOfValue(p: number, k: number, strength?: number): number {
  if (strength === undefined) return 1 - (1 - p) ** k;
  return posteriorGains(priorOf(p, strength), 0, k).reduce((a, b) => a + b, 0);
}

/** allot's menus: best-of-k at each level by its predicted p (believed with the prior's strength) at the planned tokens per sample. */
export function predictedMenus(prompts: readonly ThinkingPrompt[], s: ThinkingSetup, levels: readonly number[], kMax: number): Option[][] {
  return prompts.map((p) => menuOf(levels, kMax, (l) => plannedTokens(p, s, l), (l, k) => bestOfValue(p.predicted[l], k, s.strength)));
}

/** The oracle's menus: each prompt's recorded accuracy and tokens. */
export function oracleMenus(prompts: readonly ThinkingPrompt[], levels: readonly number[], kMax: number): Option[][] {
  return prompts.map((p) => menuOf(levels, kMax, (l) => tokensAt(p, l), (l, k) => accuracyAt(p, l, k)));
}

/** The menu solver's choices at each average budget (tokens per prompt, as the menus count them), scored on the recorded samples. */
export function menuCurve(prompts: readonly ThinkingPrompt[], menus: readonly Option[][], budgets: readonly number[]): ThinkingPoint[] {
  const floor = sum(menus.map((m) => Math.min(...m.map((o) => o.cost))));
  const points: ThinkingPoint[] = [];
  for (const b of budgets) {
    const total = b * prompts.length;
    if (total < floor) continue;
    const { choice } = solveMenu(menus, total);
    points.push(pointOf(prompts, menus.map((m, i) => m[choice[i]])));
  }
  return points;
}

/**
 * The upper concave hull of cost-accuracy points, cheapest first: what random mixes of the
 * policies behind them reach. Points under it, or dearer and no better, are dropped.
 */
export function concaveHull<P extends RoutePoint>(points: readonly P[]): P[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.quality - a.quality);
  const hull: P[] = [];
  for (const p of sorted) {
    if (hull.length > 0 && p.quality <= hull[hull.length - 1].quality + 1e-12) continue;
    while (hull.length >= 2) {
      const a = hull[hull.length - 2];
      const b = hull[hull.length - 1];
      if ((b.quality - a.quality) * (p.cost - a.cost) <= (p.quality - a.quality) * (b.cost - a.cost)) hull.pop();
      else break;
    }
    hull.push(p);
  }
  return hull;
}

/** Every prompt at the same level, one sample: one point per level. */
export function uniformPoints(prompts: readonly ThinkingPrompt[], levels: number): ThinkingPoint[] {
  return Array.from({ length: levels }, (_, l) => pointOf(prompts, prompts.map(() => ({ level: l, k: 1 }))));
}

/** Every fixed (level, k), for the best-fixed hull. */
export function fixedPoints(prompts: readonly ThinkingPrompt[], levels: number, kMax: number): ThinkingPoint[] {
  const out: ThinkingPoint[] = [];
  for (let l = 0; l < levels; l++) for (let k = 1; k <= kMax; k++) out.push(pointOf(prompts, prompts.map(() => ({ level: l, k }))));
  return out;
}

/** Each prompt's recorded samples per level, in `orders` seeded random orders. */
function orderings(prompts: readonly ThinkingPrompt[], orders: number, seed: number): { outcome: number; tokens: number }[][][][] {
  const rand = mulberry32(seed);
  return Array.from({ length: orders }, () =>
    prompts.map((p) => p.outcomes.map((o, l) => shuffleInPlace(o.map((outcome, j) => ({ outcome, tokens: p.tokens[l][j] })), rand))),
  );
}

/**
 * The sequential core replayed: a batch with `average` tokens per prompt to spend, rounds
 * planned by planRound (arms = levels at their planned tokens per sample; `belief(i, l)` what is
 * believed of prompt i's p at level l), each round's samples taken from the recorded ones
 * in a random order and paid for at the tokens they generated, until a round draws
 * nothing. Every prompt gets at least one sample. Averaged over `orders` orders.
 */
export function replaySequential(
  prompts: readonly ThinkingPrompt[],
  s: ThinkingSetup,
  belief: (i: number, level: number) => BinaryBelief,
  average: number,
  opts: { orders?: number; seed?: number } = {},
): ThinkingPoint & { rounds: number } {
  const orders = opts.orders ?? 4;
  const n = prompts.length;
  let cost = 0;
  let solved = 0;
  let thinking = 0;
  let rounds = 0;
  for (const order of orderings(prompts, orders, opts.seed ?? 1)) {
    let queries: Query[] = prompts.map((p, i) => ({
      arms: s.levels.map((_, l) => ({ cost: plannedTokens(p, s, l), belief: belief(i, l), max: p.outcomes[l].length })),
      state: startState(s.levels.length),
      min: 1,
      max: Infinity,
    }));
    let left = average * n;
    for (;;) {
      const draws = planRound(queries, { budget: left });
      if (draws.every((d) => d === null)) break;
      queries = queries.map((q, i) => {
        const d = draws[i];
        if (d === null) return q;
        const from = q.state.drawn[d.arm];
        const drawn = order[i][d.arm].slice(from, from + d.count);
        const spent = sum(drawn.map((x) => x.tokens));
        left -= spent;
        cost += spent;
        thinking += d.count * prompts[i].reasoning[d.arm];
        return { ...q, state: afterRound(q.arms, q.state, d.arm, drawn.map((x) => x.outcome), spent) };
      });
    }
    for (const q of queries) {
      if (q.state.solved) solved++;
      rounds += q.state.rounds;
    }
  }
  return { cost: cost / (n * orders), quality: solved / (n * orders), thinking: thinking / (n * orders), rounds: rounds / (n * orders) };
}

/** Beliefs for the sequential replay: the predictor's p at each level with a Beta prior of the fitted strength. */
export const predictedBeliefs = (prompts: readonly ThinkingPrompt[], strength: number) => (i: number, l: number): BinaryBelief => ({ prior: priorOf(prompts[i].predicted[l], strength) });

/** Beliefs for the sequential oracle: each prompt's recorded pass rate at each level, known. */
export const oracleBeliefs = (prompts: readonly ThinkingPrompt[]) => (i: number, l: number): BinaryBelief => ({ known: mean(prompts[i].outcomes[l]) });

export const THINKING_METHODS = ["thinking-uniform", "best-fixed", "samples", "thinking", "thinking-oracle", "joint", "joint-oracle", "sequential", "sequential-oracle"] as const;
export type ThinkingMethod = (typeof THINKING_METHODS)[number];

export type ThinkingCurves = Record<ThinkingMethod, ThinkingPoint[]>;

/** Average budgets (tokens per prompt) the one-shot curves are traced at. */
export const ONE_SHOT_BUDGETS = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24, 26, 28, 30, 33, 36, 40, 44, 48, 54, 60, 68, 76, 86, 96, 110, 130, 150, 175, 200];
/** And the sequential replays, which cost more to run. */
export const SEQUENTIAL_BUDGETS = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64];

/** Every policy's curve. `strength`: the Beta prior's for the sequential replay (none: no sequential curves). */
export function thinkingCurves(prompts: readonly ThinkingPrompt[], s: ThinkingSetup, opts: { strength?: number; orders?: number } = {}): ThinkingCurves {
  const L = s.levels.length;
  const all = s.levels.map((_, l) => l);
  const samples = all.flatMap((l) => menuCurve(prompts, predictedMenus(prompts, s, [l], s.kMax), ONE_SHOT_BUDGETS));
  const sequential = (belief: (i: number, l: number) => BinaryBelief) =>
    SEQUENTIAL_BUDGETS.map((b) => {
      const { rounds: _, ...point } = replaySequential(prompts, s, belief, b, { orders: opts.orders });
      return point;
    });
  return {
    "thinking-uniform": uniformPoints(prompts, L),
    "best-fixed": concaveHull(fixedPoints(prompts, L, s.kMax)),
    samples: concaveHull(samples),
    thinking: menuCurve(prompts, predictedMenus(prompts, s, all, 1), ONE_SHOT_BUDGETS),
    "thinking-oracle": menuCurve(prompts, oracleMenus(prompts, all, 1), ONE_SHOT_BUDGETS),
    joint: menuCurve(prompts, predictedMenus(prompts, s, all, s.kMax), ONE_SHOT_BUDGETS),
    "joint-oracle": menuCurve(prompts, oracleMenus(prompts, all, s.kMax), ONE_SHOT_BUDGETS),
    sequential: opts.strength === undefined ? [] : sequential(predictedBeliefs(prompts, opts.strength)),
    "sequential-oracle": opts.strength === undefined ? [] : sequential(oracleBeliefs(prompts)),
  };
}

export interface ThinkingSaving {
  /** The fixed policy whose accuracy is matched: every prompt at thinking budget `budget` with `k` samples. */
  readonly budget: number;
  readonly k: number;
  readonly quality: number;
  /** Its tokens and thinking tokens per prompt. */
  readonly tokens: number;
  readonly thinking: number;
  /** Per method: 1 − tokens it needs to reach that accuracy / the uniform policy's (null: never reaches it). */
  readonly saved: Record<ThinkingMethod, number | null>;
  /** The same counting thinking tokens only. */
  readonly savedThinking: Record<ThinkingMethod, number | null>;
}

/** The thinking tokens a curve spends to reach `quality` (linear between its points, as the tokens are). */
function thinkingToReach(curve: readonly ThinkingPoint[], quality: number): number | null {
  return costToReach(curve.map((p) => ({ cost: p.thinking, quality: p.quality })), quality);
}

/**
 * Savings at the accuracy of fixed policies: the uniform budget at each level above the
 * first (one sample), then the largest budget with k = 2 and 4 samples (accuracies one
 * sample cannot reach, where only samples help).
 */
export function thinkingSavings(prompts: readonly ThinkingPrompt[], curves: ThinkingCurves, levels: readonly number[], kMax: number): ThinkingSaving[] {
  const top = levels.length - 1;
  const refs = [
    ...curves["thinking-uniform"].slice(1).map((point, j) => ({ budget: levels[j + 1], k: 1, point })),
    ...[2, 4].filter((k) => k <= kMax).map((k) => ({ budget: levels[top], k, point: pointOf(prompts, prompts.map(() => ({ level: top, k }))) })),
  ];
  return refs.map(({ budget, k, point: ref }) => {
    const saved = {} as Record<ThinkingMethod, number | null>;
    const savedThinking = {} as Record<ThinkingMethod, number | null>;
    for (const m of THINKING_METHODS) {
      const tokens = curves[m].length > 0 ? costToReach(curves[m], ref.quality) : null;
      const thought = curves[m].length > 0 ? thinkingToReach(curves[m], ref.quality) : null;
      saved[m] = tokens === null ? null : 1 - tokens / ref.cost;
      savedThinking[m] = thought === null || ref.thinking === 0 ? null : 1 - thought / ref.thinking;
    }
    return { budget, k, quality: ref.quality, tokens: ref.cost, thinking: ref.thinking, saved, savedThinking };
  });
}

/** The baselines allot is compared with at a reference accuracy. */
export const BASELINES = ["thinking-uniform", "best-fixed", "thinking", "samples"] as const;

/**
 * A method's saving against each baseline at the reference's accuracy: 1 − its tokens /
 * the baseline's tokens there (null where it does not reach it, "never" where the baseline
 * does not), and its saving as a share of its oracle's (both against the reference).
 */
export function against(s: ThinkingSaving, method: ThinkingMethod, oracle: ThinkingMethod): Record<(typeof BASELINES)[number] | "oracle-share", number | "never" | null> {
  const mine = s.saved[method];
  const out = {} as Record<(typeof BASELINES)[number] | "oracle-share", number | "never" | null>;
  for (const b of BASELINES) {
    const theirs = b === "thinking-uniform" ? 0 : s.saved[b];
    out[b] = mine === null ? null : theirs === null ? "never" : 1 - (1 - mine) / (1 - theirs);
  }
  const best = s.saved[oracle];
  out["oracle-share"] = mine === null || best === null || best <= 0 ? null : mine / best;
  return out;
}
