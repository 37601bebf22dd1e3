/**
 * Sequential policies replayed on recorded samples (binary rewards). Each prompt's K
 * samples are i.i.d., so drawing them in a random order is drawing fresh samples; a
 * policy pays for every sample it looks at, including those after a success in the same
 * round. Averaged over several seeded orders. Pure.
 *
 * - stop-first: draw until the first passing sample, at most `cap` (no predictor);
 * - waves: allot's rounds (allocation/waves.ts) on the predictor's p with a Beta prior of
 *   the fitted strength, under the batch's total budget;
 * - waves-oracle: the same with each prompt's true p (its K samples' pass rate) known.
 */
import { mulberry32 } from "../allocation/select.js";
import { type Belief, type WaveQuery, planRound, priorOf } from "../allocation/waves.js";

export interface RecordedPrompt {
  /** The predictor's single-sample success. */
  readonly p: number;
  /** The recorded rewards, 1 (pass) or 0. */
  readonly outcomes: readonly number[];
}

export interface Replay {
  /** Share of prompts solved (a passing sample was drawn). */
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
    prompts.map((p) => {
      const o = [...p.outcomes];
      for (let i = o.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [o[i], o[j]] = [o[j], o[i]];
      }
      return o;
    }),
  );
}

function summarise(solved: number, drawn: number, n: number, orders: number, rounds: number[], samples: number[]): Replay {
  return { quality: solved / (n * orders), used: drawn / (n * orders), roundsHistogram: rounds, samplesHistogram: samples };
}

/** Stop at the first pass, at most `cap` samples; a fractional cap gives ⌈cap⌉ to that share of prompts (seeded). */
export function replayStopFirst(prompts: readonly RecordedPrompt[], cap: number, orders = 8, seed = 1): Replay {
  const rand = mulberry32(seed + 7);
  let solved = 0;
  let drawn = 0;
  const samples: number[] = [];
  for (const order of shuffled(prompts, orders, seed)) {
    order.forEach((o) => {
      const c = Math.min(o.length, Math.floor(cap) + (rand() < cap - Math.floor(cap) ? 1 : 0));
      let k = 0;
      while (k < c && o[k] !== 1) k++;
      const used = Math.min(c, k + 1);
      drawn += used;
      if (k < c) solved++;
      bump(samples, used);
    });
  }
  return summarise(solved, drawn, prompts.length, orders, [], samples);
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
  let solved = 0;
  let drawn = 0;
  const rounds: number[] = [];
  const samples: number[] = [];
  for (const order of shuffled(prompts, orders, opts.seed ?? 1)) {
    let state: WaveQuery[] = prompts.map((_, i) => ({ belief: belief(i), drawn: 0, solved: false, rounds: 0, min, max: opts.max }));
    let left = Math.round(average * n);
    for (;;) {
      const draw = planRound(state, left);
      if (draw.every((d) => d === 0)) break;
      state = state.map((q, i) => {
        const d = draw[i];
        if (d === 0) return q;
        left -= d;
        const seen = order[i].slice(q.drawn, q.drawn + d);
        return { ...q, drawn: q.drawn + d, solved: seen.includes(1), rounds: q.rounds + 1 };
      });
    }
    state.forEach((q) => {
      drawn += q.drawn;
      if (q.solved) solved++;
      bump(rounds, q.rounds);
      bump(samples, q.drawn);
    });
  }
  return summarise(solved, drawn, n, orders, rounds, samples);
}

/** Beliefs for waves: the predictor's p with a Beta prior of strength s. */
export const predictedBelief = (prompts: readonly RecordedPrompt[], strength: number) => (i: number): Belief => ({ prior: priorOf(prompts[i].p, strength) });

/** Beliefs for the waves oracle: each prompt's true p, its K samples' pass rate. */
export const oracleBelief = (prompts: readonly RecordedPrompt[]) => (i: number): Belief => {
  const o = prompts[i].outcomes;
  return { known: o.reduce((a, b) => a + b, 0) / o.length };
};
