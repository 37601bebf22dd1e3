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
import { type BinaryBelief, meanOf } from "./waves.js";

export interface CascadeArm {
  readonly cost: number;
  readonly belief: BinaryBelief;
  /** Samples of this model allowed for one query. */
  readonly max: number;
}

/**
 * The model to sample next at price λ after `failures[j]` failures of each, and how many
 * samples in a row the rule would draw from it if they all failed (so a round can take a
 * slice of them); null when no sample is worth its price.
 */
export function nextArm(arms: readonly CascadeArm[], failures: readonly number[], price: number): { arm: number; run: number } | null {
  const index = (j: number, r: number) => (r >= arms[j].max ? -Infinity : meanOf(arms[j].belief, r) / arms[j].cost);
  let arm = -1;
  for (let j = 0; j < arms.length; j++) {
    if (index(j, failures[j]) > (arm < 0 ? -Infinity : index(arm, failures[arm])) + 1e-15) arm = j;
  }
  if (arm < 0 || meanOf(arms[arm].belief, failures[arm]) < price * arms[arm].cost || failures[arm] >= arms[arm].max) return null;
  // It stays the choice while its index stays highest and worth the price.
  const others = Math.max(-Infinity, ...arms.map((_, j) => (j === arm ? -Infinity : index(j, failures[j]))));
  let run = 0;
  for (let r = failures[arm]; r < arms[arm].max; r++) {
    const m = meanOf(arms[arm].belief, r);
    if (m < price * arms[arm].cost || (run > 0 && m / arms[arm].cost < others)) break;
    run++;
  }
  return { arm, run: Math.max(1, run) };
}

/** One option of a routed prompt's round: draw `run` samples of `arm` now, on a path worth `value` for `cost` units in all. */
export interface CascadeStep {
  readonly cost: number;
  readonly value: number;
  readonly arm: number;
  readonly run: number;
}

/**
 * A routed prompt's menu for the batch solver, after `failures[j]` failures of each model
 * (within `unitsLeft` of its max): drawing nothing, or the cascade's path if every sample
 * fails, cut after 1, 2, … samples (its value the chance of a pass within it, its cost
 * the units); a prompt with no sample yet may also take one sample of any model (so a
 * tight budget can always start it cheaply). Each option says what to draw this round: its
 * first model and how many in a row (at most `slice`).
 */
export function cascadeMenu(arms: readonly CascadeArm[], failures: readonly number[], unitsLeft: number, slice: number, optional: boolean): CascadeStep[] {
  const menu: CascadeStep[] = optional ? [{ cost: 0, value: 0, arm: -1, run: 0 }] : [];
  // The path the rule takes if every sample fails, within the units left.
  const f = [...failures];
  const path: number[] = [];
  let cost = 0;
  let miss = 1;
  for (;;) {
    const within = arms.map((a, j) => ({ ...a, max: Math.min(a.max, f[j] + Math.floor((unitsLeft - cost) / a.cost)) }));
    const next = nextArm(within, f, 0);
    if (!next) break;
    miss *= 1 - meanOf(arms[next.arm].belief, f[next.arm]);
    f[next.arm]++;
    cost += arms[next.arm].cost;
    path.push(next.arm);
    // This round draws the path's leading run of its first model, within the prefix and the slice.
    let run = 0;
    while (run < path.length && run < slice && path[run] === path[0]) run++;
    menu.push({ cost, value: 1 - miss, arm: path[0], run });
  }
  if (failures.every((x) => x === 0)) {
    arms.forEach((a, j) => {
      if (j !== path[0] && a.cost <= unitsLeft && a.max > 0) menu.push({ cost: a.cost, value: meanOf(a.belief, 0), arm: j, run: 1 });
    });
  }
  return menu;
}
