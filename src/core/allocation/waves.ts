/**
 * Sequential allocation ("waves"): samples are drawn in rounds, a query stops at its first
 * passing sample (or, for real-valued rewards, when its best is good enough: pandora.ts),
 * and the budget left after each round is re-allocated on what the samples taught. Pure.
 *
 * The model. A query's single-sample success p is uncertain: the predictor's p̂ is the
 * mean of a Beta(a, b) prior with a = s·p̂, b = s·(1 − p̂), where the strength s (how much
 * the predictor is trusted) is fitted on validation data (fitStrength). After r failures
 * the posterior is Beta(a, b + r), whose mean a / (a + b + r) falls with every failure.
 *
 * One query at a price λ per sample (the online rule). Drawing one more sample and
 * stopping at success is an optimal-stopping problem with value
 *   V(r) = max(0, −λ + m(r) + (1 − m(r))·V(r + 1)),   m(r) = a / (a + b + r).
 * Because m(r) only falls, the set of states where one more sample does not pay for
 * itself (m(r) < λ) is closed under failure: this is the "monotone case" of optimal
 * stopping (Chow, Robbins & Siegmund, Great Expectations, 1971, ch. 3), where the
 * one-stage look-ahead rule is optimal: sample again iff m(r) ≥ λ. With a known p
 * (s → ∞) it is "sample until success while p ≥ λ". `samplesAtPrice` is this rule;
 * the tests check it against value iteration.
 *
 * A batch under a total budget (the batch rule). The gain of a query's j-th further
 * sample, given r failures so far, is the posterior predictive
 *   Δ(j) = E[p(1 − p)^(j−1) | Beta(a, b + r)] = B(a + 1, b + r + j − 1) / B(a, b + r),
 * non-increasing in j; the exact batch solver allocates the budget left over these curves,
 * and each round draws a slice of every query's share. The rounds themselves, for online
 * requests, batches and eval alike, are core/sequential's: this module holds the beliefs.
 */
import { type Sketch, improvementGains, posteriorSketch, reservationValue, sketchOf } from "./pandora.js";

export interface BetaPrior {
  readonly a: number;
  readonly b: number;
}

/** The prior of a query whose predicted success is p, trusted with strength s (a known p is a Belief of its own). */
export function priorOf(p: number, strength: number): BetaPrior {
  const q = Math.min(1 - 1e-9, Math.max(1e-9, p));
  return { a: strength * q, b: strength * (1 - q) };
}

/** The posterior mean of p after `failures` failures (and no success). */
export function posteriorMean(prior: BetaPrior, failures: number): number {
  return prior.a / (prior.a + prior.b + failures);
}

/**
 * Δ(1..count): the expected gain of each further sample after `failures` failures, the
 * probability that it is the first to pass.
 *
 * @example posteriorGains({ a: 1, b: 1 }, 0, 2) // [0.5, 1/6]: E[p] and E[p(1 − p)] under Beta(1, 1)
 */
export function posteriorGains(prior: BetaPrior, failures: number, count: number): Float64Array {
  const out = new Float64Array(Math.max(0, count));
  const a = prior.a;
  const b = prior.b + failures;
  let g = a / (a + b);
  for (let j = 1; j <= count; j++) {
    out[j - 1] = g;
    g *= (b + j - 1) / (a + b + j);
  }
  return out;
}

/**
 * What is believed of a query: for binary rewards, its p as a Beta prior, or p itself (the
 * oracle's, or s → ∞); for real-valued rewards, its one-sample reward distribution as
 * equally likely atoms (pandora.ts), known, or the base of a Dirichlet-process prior of
 * strength s that the prompt's own samples update.
 */
export type Belief = BinaryBelief | RewardBelief;
export type RewardBelief = { readonly atoms: Float64Array; readonly strength?: number };
export type BinaryBelief = { readonly known: number } | { readonly prior: BetaPrior };

/** A query's state: samples drawn (all failed, for binary rewards, unless solved) and the best reward so far (0 before any). */
export interface Drawn {
  readonly drawn: number;
  readonly best: number;
  /** The rewards drawn so far, for real-valued beliefs that learn from them. */
  readonly seen?: readonly number[];
}

/** What a real-valued belief expects of the next sample, given what was drawn. */
export const predictive = (belief: RewardBelief, state: Drawn): Sketch =>
  belief.strength !== undefined && state.seen && state.seen.length > 0 ? posteriorSketch(belief.atoms, belief.strength, state.seen) : sketchOf(belief.atoms);

/** Δ(1..count): the expected gain of each further sample from this state. */
export function gainsOf(belief: Belief, state: Drawn, count: number): Float64Array {
  if ("atoms" in belief) return improvementGains(predictive(belief, state), state.best, count);
  if ("known" in belief) return Float64Array.from({ length: count }, (_, j) => belief.known * Math.pow(1 - belief.known, j));
  return posteriorGains(belief.prior, state.drawn, count);
}

/** The chance the next sample passes after `failures` failures: p itself, or the posterior mean. */
export const meanOf = (belief: BinaryBelief, failures: number): number => ("known" in belief ? belief.known : posteriorMean(belief.prior, failures));

/**
 * The online rule: after `failures` failures, draw another sample iff its posterior
 * success probability is at least the price (and the query has samples left). Returns
 * how many more samples the rule would draw if they all failed, up to `left`: the
 * length of the next round can be cut from it.
 */
export function samplesAtPrice(belief: BinaryBelief, failures: number, price: number, left: number): number {
  let k = 0;
  while (k < left && meanOf(belief, failures + k) >= price) k++;
  return k;
}

/**
 * The online rule for any belief: how many more samples to draw if none of them ends the
 * query, up to `left`. Binary: `samplesAtPrice`. Real-valued: Pandora's rule, all that
 * are left while the best so far is below the reservation value at this price, else none.
 */
export function wantedAtPrice(belief: Belief, state: Drawn, price: number, left: number): number {
  if ("atoms" in belief) return state.best < reservationValue(predictive(belief, state), price) ? left : 0;
  return samplesAtPrice(belief, state.drawn, price, left);
}

/** A reward at least this is a pass (binary rewards are 0 or 1): the query is done. */
export const PASSING_REWARD = 1 - 1e-9;

/**
 * The seed of a query's round `round` from the caller's seed: rounds must not repeat
 * each other's samples (a server seeds each sample from the request's seed and its index).
 */
export const roundSeed = (seed: number | undefined, round: number): number | undefined => (seed === undefined ? undefined : (seed + round * 7919) >>> 0);

/** log Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-13). */
export function logGamma(x: number): number {
  const c = [0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406, 12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

const logBeta = (a: number, b: number) => logGamma(a) + logGamma(b) - logGamma(a + b);

/**
 * The strength s that makes Beta(s·p̂, s·(1 − p̂)) priors best explain what was observed:
 * the maximum of the beta-binomial likelihood of each prompt's successes out of its
 * samples, over log s in [log 0.1, log 10⁴] (golden-section search; the likelihood is
 * unimodal in practice). A calibrated predictor that ranks perfectly has s → ∞; one that
 * knows nothing, s → the spread of p in the traffic.
 */
export function fitStrength(data: readonly { p: number; successes: number; samples: number }[]): number {
  const logLik = (logS: number) => {
    const s = Math.exp(logS);
    let ll = 0;
    for (const d of data) {
      const { a, b } = priorOf(d.p, s);
      ll += logBeta(d.successes + a, d.samples - d.successes + b) - logBeta(a, b);
    }
    return ll;
  };
  let lo = Math.log(0.1);
  let hi = Math.log(1e4);
  const phi = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - phi * (hi - lo);
  let x2 = lo + phi * (hi - lo);
  let f1 = logLik(x1);
  let f2 = logLik(x2);
  for (let it = 0; it < 80; it++) {
    if (f1 < f2) {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = logLik(x2);
    } else {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = logLik(x1);
    }
  }
  return Math.exp((lo + hi) / 2);
}
