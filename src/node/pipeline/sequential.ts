/**
 * Sequential policies replayed on recorded samples. Each prompt's K samples are i.i.d.,
 * so drawing them in a random order is drawing fresh samples; a policy pays for every
 * sample it looks at, including those after a success in the same round. Averaged over
 * several seeded orders. Quality is the mean best reward drawn (for binary rewards, the
 * share of prompts solved). Pure.
 *
 * - stop-first: draw until the first passing sample, at most `cap` (no predictor); for
 *   real-valued rewards, until the best so far reaches a fixed threshold (the best one);
 * - waves: allot's rounds (core/sequential, as a batch plans them) under the total budget, on the
 *   predictor's p with a Beta prior of the fitted strength (binary), or on the reward
 *   distribution its curve implies (real-valued, allocation/pandora.ts);
 * - waves-oracle: the same with each prompt's truth known: its K samples' pass rate, or
 *   their distribution.
 */
import { atomsFromCurve, atomsFromSamples } from "../../core/allocation/pandora.js";
import { mulberry32, shuffleInPlace } from "../../core/allocation/select.js";
import { type Belief, PASSING_REWARD, priorOf } from "../../core/allocation/waves.js";
import { type Query, afterRound, planRound, startState } from "../../core/sequential/index.js";

export interface RecordedPrompt {
  /** The predictor's single-sample success (binary), or its best-of-b curve (real-valued). */
  readonly p: number;
  readonly curve?: ArrayLike<number>;
  /** The reward distribution the curve implies (pandora.ts), fitted once. */
  readonly atoms?: Float64Array;
  /** The recorded rewards: 1 (pass) or 0, or scores in [0, 1]. */
  readonly outcomes: readonly number[];
}

export interface Replay {
  /** Mean best reward drawn: for binary rewards, the share of prompts solved. */
  readonly quality: number;
  /** Samples drawn per prompt, on average. */
  readonly used: number;
  /** Rounds (waves only) and samples per prompt, counted over every order: index = count. */
  readonly roundsHistogram: number[];
  readonly samplesHistogram: number[];
}

const bump = (h: number[], k: number) => {
  while (h.length <= k) h.push(0);
  h[k]++;
};

/** Each prompt's outcomes in `orders` seeded random orders. */
function shuffled(prompts: readonly RecordedPrompt[], orders: number, seed: number): number[][][] {
  const rand = mulberry32(seed);
  return Array.from({ length: orders }, () =>
    prompts.map((p) => shuffleInPlace([...p.outcomes], rand)),
  );
}

function summarise(gained: number, drawn: number, n: number, orders: number, rounds: number[], samples: number[]): Replay {
  return { quality: gained / (n * orders), used: drawn / (n * orders), roundsHistogram: rounds, samplesHistogram: samples };
}

/**
 * Stop once the best reward reaches `threshold` (1: the first pass), at most `cap`
 * samples; a fractional cap gives ⌈cap⌉ to that share of prompts (seeded).
 */
export function replayStopFirst(prompts: readonly RecordedPrompt[], cap: number, orders = 8, seed = 1, threshold = PASSING_REWARD): Replay {
  const rand = mulberry32(seed + 7);
  let gained = 0;
  let drawn = 0;
  const samples: number[] = [];
  for (const order of shuffled(prompts, orders, seed)) {
    order.forEach((o) => {
      const c = Math.min(o.length, Math.floor(cap) + (rand() < cap - Math.floor(cap) ? 1 : 0));
      let best = 0;
      let used = 0;
      while (used < c && best < threshold) best = Math.max(best, o[used++]);
      drawn += used;
      gained += best;
      bump(samples, used);
    });
  }
  return summarise(gained, drawn, prompts.length, orders, [], samples);
}

/** Thresholds tried for stop-first on real-valued rewards. */
const THRESHOLDS = Array.from({ length: 11 }, (_, i) => 0.5 + i * 0.05);

/**
 * Stop-first for real-valued rewards: the fixed threshold on the best-so-far reward that
 * does best at this cap, chosen on the very prompts it is scored on (which flatters it).
 */
export function replayBestThreshold(prompts: readonly RecordedPrompt[], cap: number, orders = 8, seed = 1): Replay & { threshold: number } {
  let best: Replay & { threshold: number } = { ...replayStopFirst(prompts, cap, orders, seed, THRESHOLDS[0]), threshold: THRESHOLDS[0] };
  for (const t of THRESHOLDS.slice(1)) {
    const r = replayStopFirst(prompts, cap, orders, seed, t);
    if (r.quality > best.quality + 1e-12) best = { ...r, threshold: t };
  }
  return best;
}

/**
 * allot's waves under a total budget of `average` samples per prompt (at least `min`
 * each, at most `max`): plan a round, draw it, update, until the plan draws nothing.
 * `belief(i)` is what is believed of prompt i's p.
 */
export function replayWaves(prompts: readonly RecordedPrompt[], belief: (i: number) => Belief, average: number, opts: { min?: number; max: number; orders?: number; seed?: number }): Replay {
  const orders = opts.orders ?? 8;
  const min = opts.min ?? 1;
  const n = prompts.length;
  let gained = 0;
  let drawn = 0;
  const rounds: number[] = [];
  const samples: number[] = [];
  for (const order of shuffled(prompts, orders, opts.seed ?? 1)) {
    let state: Query[] = prompts.map((_, i) => ({ arms: [{ cost: 1, belief: belief(i), max: opts.max }], state: startState(1), min, max: opts.max }));
    let left = Math.round(average * n);
    for (;;) {
      const draw = planRound(state, { budget: left });
      if (draw.every((d) => d === null)) break;
      state = state.map((q, i) => {
        const d = draw[i];
        if (d === null) return q;
        left -= d.count;
        const from = q.state.drawn[0];
        return { ...q, state: afterRound(q.arms, q.state, 0, order[i].slice(from, from + d.count)) };
      });
    }
    state.forEach(({ state: s }) => {
      drawn += s.drawn[0];
      gained += s.best;
      bump(rounds, s.rounds);
      bump(samples, s.drawn[0]);
    });
  }
  return summarise(gained, drawn, n, orders, rounds, samples);
}

/** Beliefs for waves: the predictor's p with a Beta prior of strength s. */
export const predictedBelief = (prompts: readonly RecordedPrompt[], strength: number) => (i: number): Belief => ({ prior: priorOf(prompts[i].p, strength) });

/** Beliefs for the waves oracle: each prompt's true p, its K samples' pass rate. */
export const oracleBelief = (prompts: readonly RecordedPrompt[]) => (i: number): Belief => {
  const o = prompts[i].outcomes;
  return { known: o.reduce((a, b) => a + b, 0) / o.length };
};

/** Beliefs for real-valued waves: the reward distribution each prompt's predicted curve implies (fitted once per prompt), updated with strength s when given. */
export function curveBelief(prompts: readonly RecordedPrompt[], strength?: number): (i: number) => Belief {
  const atoms = prompts.map((p) => p.atoms ?? atomsFromCurve(p.curve!));
  return (i) => ({ atoms: atoms[i], strength });
}

/** Beliefs for the real-valued waves oracle: each prompt's recorded rewards as its distribution. */
export const distributionOracle = (prompts: readonly RecordedPrompt[]) => (i: number): Belief => ({ atoms: atomsFromSamples(prompts[i].outcomes) });

/** Strengths tried for real-valued waves' Dirichlet-process prior (Infinity: the prediction is never revised). */
export const REWARD_STRENGTHS = [0.5, 1, 2, 4, 8, 16, 32, 64, Infinity];

/**
 * The Dirichlet-process strength for a curve predictor's waves, fitted on validation
 * prompts: the one whose replayed waves reach the best mean quality at B = 2, 4 and 8
 * (8 orders each). Unlike the binary prior there is no tractable likelihood to maximise
 * (continuous rewards rarely repeat an atom), so the fit is on the objective itself;
 * ties go to the smaller strength, which lets a prompt's own samples count for more.
 */
export function fitRewardStrength(prompts: readonly RecordedPrompt[], bMax: number): number {
  let best = { s: Infinity, q: -Infinity };
  for (const s of REWARD_STRENGTHS) {
    const belief = curveBelief(prompts, Number.isFinite(s) ? s : undefined);
    const q = [2, 4, 8].filter((B) => B <= bMax).reduce((acc, B) => acc + replayWaves(prompts, belief, B, { max: bMax, orders: 8 }).quality, 0);
    if (q > best.q + 1e-9) best = { s, q };
  }
  return best.s;
}
