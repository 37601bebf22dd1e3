/**
 * Routing in waves (a cascade) for binary rewards: after each round, sample the same
 * model again, escalate to another, or stop. Pure.
 *
 * Each model j on the router's menu costs c_j units a sample and has an uncertain
 * success p_j, believed Beta around the router's prediction (waves.ts). Searching for a
 * first success among boxes of known success p_j and cost c_j, the cost-optimal order
 * opens the box of highest p_j / c_j first (the classic search rule: an exchange argument,
 * e.g. Kadane & Simon, "Optimal strategies for a class of constrained sequential
 * problems", Ann. Statist. 1977); at a price λ per unit a sample is worth drawing while
 * p_j ≥ λ·c_j. With posteriors that only fall under failure, allot applies the same rule
 * to posterior means (the one-step look-ahead of the monotone case): draw the model with
 * the highest m_j / c_j while m_j ≥ λ·c_j. A model's failures update only its own
 * posterior, so escalation happens when a cheap model's failures drop its index below
 * a dearer one's.
 */
import { type BinaryBelief, posteriorMean } from "./waves.js";

export interface CascadeArm {
  readonly cost: number;
  readonly belief: BinaryBelief;
  /** Samples of this model allowed for one query. */
  readonly max: number;
}

const mean = (b: BinaryBelief, failures: number) => ("known" in b ? b.known : posteriorMean(b.prior, failures));

/**
 * The model to sample next at price λ after `failures[j]` failures of each, and how many
 * samples in a row the rule would draw from it if they all failed (so a round can take a
 * slice of them); null when no sample is worth its price.
 */
export function nextArm(arms: readonly CascadeArm[], failures: readonly number[], price: number): { arm: number; run: number } | null {
  const index = (j: number, r: number) => (r >= arms[j].max ? -Infinity : mean(arms[j].belief, r) / arms[j].cost);
  let arm = -1;
  for (let j = 0; j < arms.length; j++) {
    if (index(j, failures[j]) > (arm < 0 ? -Infinity : index(arm, failures[arm])) + 1e-15) arm = j;
  }
  if (arm < 0 || mean(arms[arm].belief, failures[arm]) < price * arms[arm].cost || failures[arm] >= arms[arm].max) return null;
  // It stays the choice while its index stays highest and worth the price.
  const others = Math.max(-Infinity, ...arms.map((_, j) => (j === arm ? -Infinity : index(j, failures[j]))));
  let run = 0;
  for (let r = failures[arm]; r < arms[arm].max; r++) {
    const m = mean(arms[arm].belief, r);
    if (m < price * arms[arm].cost || (run > 0 && m / arms[arm].cost < others)) break;
    run++;
  }
  return { arm, run: Math.max(1, run) };
}
