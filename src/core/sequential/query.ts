/**
 * A query under sequential sampling: the ways it can draw one sample (its arms), and what
 * it has drawn so far. Pure; the state is plain data, so a batch keeps it in a row and an
 * online request in memory, and both hand it to the same rule (rule.ts).
 *
 * An arm is one way to draw a sample: best-of-k has one (the request's model); a router's
 * menu has one per model, each at its cost in units; a thinking-budget menu has one per
 * (model, budget) at its cost in tokens. What is believed of an arm's reward is a Belief
 * (allocation/waves.ts): a Beta prior around a predicted p (binary rewards), a known p,
 * or a reward distribution as atoms (real-valued rewards, allocation/pandora.ts).
 * A failure of one arm updates only that arm's belief: each arm's samples are i.i.d.
 * draws of its own reward.
 */
import { type Belief, type BinaryBelief, PASSING_REWARD } from "../allocation/waves.js";

export interface Arm {
  /** Units one sample of this arm costs (1 for best-of-k; the model's cost when routing). */
  readonly cost: number;
  readonly belief: Belief;
  /** Samples of this arm the query may draw. */
  readonly max: number;
}

export interface QueryState {
  /** Samples drawn of each arm (for binary rewards, all failures while the query is open). */
  readonly drawn: readonly number[];
  /** Units spent. */
  readonly units: number;
  /** Rounds drawn (a round is one call to the LM for this query). */
  readonly rounds: number;
  /** The best reward so far (0 before any sample). */
  readonly best: number;
  /** The arm whose sample is the best so far (null before any). */
  readonly bestArm: number | null;
  /** Rewards drawn of each arm, for real-valued beliefs that learn from them. */
  readonly seen: readonly (readonly number[])[];
  /** A passing sample was drawn (or the best reward possible): nothing more is worth drawing. */
  readonly solved: boolean;
}

/** A query as the rule sees it: its arms, its state, and the units it must get (min) and may get (max). */
export interface Query {
  readonly arms: readonly Arm[];
  readonly state: QueryState;
  /** Units owed: drawn even when the price says otherwise (a tenant's min_units, a batch's min). */
  readonly min: number;
  /** Units at most. */
  readonly max: number;
}

/** Nothing drawn yet. */
export const startState = (arms: number): QueryState => ({
  drawn: Array.from({ length: arms }, () => 0),
  units: 0,
  rounds: 0,
  best: 0,
  bestArm: null,
  seen: Array.from({ length: arms }, () => []),
  solved: false,
});

/**
 * The state after a round drew `rewards` from `arm` (one per sample). `units` is what the
 * round cost when that is known only after drawing (tokens generated); by default the
 * samples × the arm's cost. Real-valued rewards are kept for the beliefs that learn from them.
 *
 * @example
 * afterRound([{ cost: 1, belief: { known: 0.5 }, max: 4 }], startState(1), 0, [0, 1]).solved // true
 */
export function afterRound(arms: readonly Arm[], state: QueryState, arm: number, rewards: readonly number[], units = rewards.length * arms[arm].cost): QueryState {
  const top = rewards.reduce((m, r) => Math.max(m, r), -Infinity);
  const better = top > state.best || state.bestArm === null;
  const learns = "atoms" in arms[arm].belief;
  return {
    drawn: state.drawn.map((d, j) => (j === arm ? d + rewards.length : d)),
    units: state.units + units,
    rounds: state.rounds + 1,
    best: better ? Math.max(top, 0) : state.best,
    bestArm: better && rewards.length > 0 ? arm : state.bestArm,
    seen: learns ? state.seen.map((s, j) => (j === arm ? [...s, ...rewards] : s)) : state.seen,
    solved: state.solved || top >= PASSING_REWARD,
  };
}

/** An arm whose reward is binary (pass or fail). */
export type BinaryArm = Arm & { readonly belief: BinaryBelief };

/** Whether every arm's belief is binary (a Beta prior or a known p): what a menu of several arms needs. */
export const allBinary = (arms: readonly Arm[]): arms is readonly BinaryArm[] => arms.every((a) => !("atoms" in a.belief));
