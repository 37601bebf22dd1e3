/**
 * The next draw of a query sampled in rounds, for every caller: an online request (one
 * query at the tenant's price), a batch (every open query at once, under the units left),
 * and `allot eval`'s replays. Pure.
 *
 * The rule. From a query's state, the *path* is the sequence of samples it would draw if
 * none of them ended it, each with what it is expected to add (its gain, unconditional
 * from the state) and its cost:
 *   - one arm (best-of-k): the arm's further samples; their gains are the posterior gains
 *     Δ(1), Δ(2), … (binary, waves.ts) or the expected improvements of the best so far
 *     (real-valued, pandora.ts), non-increasing either way;
 *   - several arms (a router's models, thinking budgets), binary rewards: at each step the
 *     arm of highest posterior success per unit of cost m_j / c_j (the classic search rule,
 *     a first success among boxes of success p_j and cost c_j is found at least cost by opening
 *     the highest p_j / c_j first, e.g. Kadane & Simon, Ann. Statist. 1977), its gain the
 *     chance that this sample is the first pass. A failure lowers only its own arm's index, so
 *     the path escalates to a dearer arm once the cheap one's failures drop it below.
 * A round draws a prefix of the path, cut to the leading run of one arm (a round is one
 * call to one model) and to the round's size (1, 1, 2, 4, …: roundSize), except that the
 * query's last allowed round takes the whole prefix.
 *   - At a price λ per unit (online), the prefix is the leading steps whose gain is worth
 *     their cost, g ≥ λ·c. A one-sample round therefore draws iff m ≥ λ·c (for one arm,
 *     E[(X − best)⁺] ≥ λ: Pandora's rule), the one-step look-ahead that is optimal in the
 *     monotone case (waves.ts); a round of several samples, drawn at once and all paid for,
 *     takes only those whose gain, counting that an earlier one may pass, is worth it.
 *   - Under a budget (a batch), the prefixes are the exact solver's shares of the units
 *     left (batch.ts when every path is one arm at unit cost, whose gains are then
 *     non-increasing; else the menu solver over each query's prefixes, menu.ts).
 * Either way a query first gets the units it owes (its min), whatever they are worth.
 * Re-deciding after every round, on the updated beliefs, is what makes it sequential.
 * `planRound` with a price decides exactly what `drawAtPrice` decides for each query on
 * its own: the tests hold the two to it.
 */
import { solveBatch } from "../allocation/batch.js";
import { solveMenu } from "../allocation/menu.js";
import type { BatchProblem } from "../allocation/problem.js";
import { gainsOf, meanOf, wantedAtPrice } from "../allocation/waves.js";
import { type BinaryArm, type Query, type QueryState, allBinary } from "./query.js";

/** One sample on a query's path: its arm, its cost, and what it adds in expectation. */
export interface Step {
  readonly arm: number;
  readonly cost: number;
  readonly gain: number;
}

/** A round's draw: `count` samples of arm `arm`. */
export interface Draw {
  readonly arm: number;
  readonly count: number;
}

/** Samples per round for a query's 1st, 2nd, … round (then doubling): few rounds for a query that needs many samples. */
export function roundSize(rounds: number): number {
  return rounds < 2 ? 1 : 2 ** (rounds - 1);
}

/** What a single arm's belief is given, from the state. */
const armState = (s: QueryState, j: number) => ({ drawn: s.drawn[j], best: s.best, seen: s.seen[j] });

/**
 * The arm of highest posterior success per unit of cost among those that can still draw
 * (ties to the first), or -1. `failures[j]` is the arm's draws so far; `room(j)` how many
 * more it may draw.
 */
function indexArm(arms: readonly BinaryArm[], failures: readonly number[], room: (j: number) => number): number {
  let best = -1;
  let bestIndex = -Infinity;
  arms.forEach((a, j) => {
    if (room(j) <= 0) return;
    const index = meanOf(a.belief, failures[j]) / a.cost;
    if (index > bestIndex + 1e-15) {
      best = j;
      bestIndex = index;
    }
  });
  return best;
}

/**
 * The path from the query's state if no sample ends it, within `unitsLeft` (and the
 * query's own max). Empty for a solved query.
 *
 * @example
 * pathOf({ arms: [{ cost: 1, belief: { known: 0.5 }, max: 3 }], state: startState(1), min: 1, max: 3 }, 10).map((s) => s.gain) // [0.5, 0.25, 0.125]
 */
export function pathOf(q: Query, unitsLeft = Infinity): Step[] {
  const s = q.state;
  if (s.solved) return [];
  const left = Math.min(unitsLeft, q.max - s.units);
  if (q.arms.length === 1) {
    const a = q.arms[0];
    const count = Math.max(0, Math.min(a.max - s.drawn[0], Math.floor(left / a.cost)));
    return Array.from(gainsOf(a.belief, armState(s, 0), count), (gain) => ({ arm: 0, cost: a.cost, gain }));
  }
  const arms = binaryArms(q);
  const f = [...s.drawn];
  const path: Step[] = [];
  let spent = 0;
  let miss = 1;
  for (;;) {
    const j = indexArm(arms, f, (k) => Math.min(arms[k].max - f[k], Math.floor((left - spent) / arms[k].cost)));
    if (j < 0) break;
    const m = meanOf(arms[j].belief, f[j]);
    path.push({ arm: j, cost: arms[j].cost, gain: miss * m });
    miss *= 1 - m;
    f[j]++;
    spent += arms[j].cost;
  }
  return path;
}

/** A query's arms when it has several: each must be binary. */
function binaryArms(q: Query): readonly BinaryArm[] {
  if (!allBinary(q.arms)) throw new Error("a query with several arms needs binary rewards on each (a Beta prior or a known p)");
  return q.arms;
}

/** Steps of the path the query owes: those that bring its units to its min. */
function owedSteps(q: Query, path: readonly Step[]): number {
  let units = q.state.units;
  let k = 0;
  while (k < path.length && units < q.min) units += path[k++].cost;
  return k;
}

/** The leading steps worth their cost at `price` (g ≥ price·c), and never fewer than owed. */
export function shareAtPrice(q: Query, path: readonly Step[], price: number): number {
  let k = 0;
  while (k < path.length && path[k].gain >= price * path[k].cost) k++;
  return Math.max(k, owedSteps(q, path));
}

/**
 * The round a query draws from the first `share` steps of its path: their leading run of one
 * arm, cut to the round's size (but never below what it owes) unless this is its last round.
 * Null when the share is nothing.
 */
export function drawOf(q: Query, path: readonly Step[], share: number, last = false): Draw | null {
  if (share <= 0 || path.length === 0) return null;
  let run = 0;
  while (run < share && path[run].arm === path[0].arm) run++;
  const owed = Math.min(run, owedSteps(q, path));
  const count = last ? run : Math.min(run, Math.max(owed, roundSize(q.state.rounds)));
  return { arm: path[0].arm, count };
}

/**
 * An online query's next round at the tenant's price: null when nothing more is worth its
 * price (or it is solved, or out of units). `last`: the request allows no round after this one.
 *
 * @example
 * drawAtPrice({ arms: [{ cost: 1, belief: { known: 0.5 }, max: 8 }], state: startState(1), min: 1, max: 8 }, 0.1) // { arm: 0, count: 1 }
 */
export function drawAtPrice(q: Query, price: number, opts: { last?: boolean; unitsLeft?: number } = {}): Draw | null {
  const path = pathOf(q, opts.unitsLeft);
  return drawOf(q, path, shareAtPrice(q, path, price), opts.last);
}

/**
 * The units a query could still spend at this price if nothing it draws ends it: the most
 * an online request must be able to pay for. One arm: the samples the rule keeps drawing
 * through failures (waves.ts wantedAtPrice); several arms: the index rule's path while each
 * next sample is worth its price. Never below what the query owes.
 */
export function capAtPrice(q: Query, price: number, unitsLeft = Infinity): number {
  const s = q.state;
  if (s.solved) return 0;
  const left = Math.min(unitsLeft, q.max - s.units);
  const owed = Math.max(0, Math.min(left, q.min - s.units));
  if (q.arms.length === 1) {
    const a = q.arms[0];
    const room = Math.max(0, Math.min(a.max - s.drawn[0], Math.floor(left / a.cost)));
    return Math.max(owed, wantedAtPrice(a.belief, armState(s, 0), price, room) * a.cost);
  }
  const arms = binaryArms(q);
  const f = [...s.drawn];
  let spent = 0;
  for (;;) {
    const j = indexArm(arms, f, (k) => Math.min(arms[k].max - f[k], Math.floor((left - spent) / arms[k].cost)));
    if (j < 0) break;
    if (spent >= owed && meanOf(arms[j].belief, f[j]) < price * arms[j].cost) break;
    f[j]++;
    spent += arms[j].cost;
  }
  return Math.max(owed, spent);
}

/** How a batch's round is limited: by the units left in its budget, or by a price per unit. */
export type Limit = { readonly budget: number } | { readonly price: number };

/**
 * The next round for every query of a batch: each query's draw, or null. All null: the
 * batch is finished. A query with nothing drawn may also start with one sample of any
 * arm (so a tight budget can start it cheaply on a cheap model).
 */
export function planRound(queries: readonly Query[], limit: Limit): (Draw | null)[] {
  const paths = queries.map((q) => pathOf(q));
  if ("price" in limit) return queries.map((q, i) => drawOf(q, paths[i], shareAtPrice(q, paths[i], limit.price)));
  const unitCost = queries.every((q) => q.arms.length === 1 && q.arms[0].cost === 1);
  return unitCost ? planUnitRound(queries, paths, limit.budget) : planMenuRound(queries, paths, limit.budget);
}

/** One arm at unit cost each: the exact solver over the paths' non-increasing gains. */
function planUnitRound(queries: readonly Query[], paths: readonly Step[][], budgetLeft: number): (Draw | null)[] {
  const n = queries.length;
  const min = new Int32Array(n);
  const max = new Int32Array(n);
  const offsets = new Int32Array(n + 1);
  paths.forEach((path, i) => {
    max[i] = path.length;
    min[i] = owedSteps(queries[i], path);
    offsets[i + 1] = offsets[i] + path.length;
  });
  const gains = new Float64Array(offsets[n]);
  paths.forEach((path, i) => path.forEach((s, k) => (gains[offsets[i] + k] = s.gain)));
  const forced = min.reduce((s, x) => s + x, 0);
  const problem: BatchProblem = { n, min, max, p: new Float64Array(n).fill(NaN), offsets, gains };
  const share = n === 0 ? new Int32Array(0) : solveBatch(problem, Math.max(forced, Math.floor(budgetLeft))).units;
  return queries.map((q, i) => drawOf(q, paths[i], share[i]));
}

/** Any arms and costs: the menu solver over each query's path prefixes (and single-sample starts). */
function planMenuRound(queries: readonly Query[], paths: readonly Step[][], budgetLeft: number): (Draw | null)[] {
  type Option = { cost: number; value: number; draw: Draw | null };
  const menus = queries.map((q, i): Option[] => {
    const path = paths[i];
    const owed = owedSteps(q, path);
    const menu: Option[] = owed === 0 ? [{ cost: 0, value: 0, draw: null }] : [];
    let cost = 0;
    let value = 0;
    path.forEach((s, k) => {
      cost += s.cost;
      value += s.gain;
      if (k + 1 >= owed) menu.push({ cost, value, draw: drawOf(q, path, k + 1) });
    });
    if (q.arms.length > 1 && q.state.drawn.every((d) => d === 0) && path.length > 0) {
      binaryArms(q).forEach((a, j) => {
        if (j === path[0].arm || a.max <= 0 || a.cost > q.max - q.state.units) return;
        menu.push({ cost: a.cost, value: meanOf(a.belief, 0), draw: { arm: j, count: 1 } });
      });
    }
    return menu.length > 0 ? menu : [{ cost: 0, value: 0, draw: null }];
  });
  if (menus.length === 0) return [];
  // Units too few for what the open queries owe (a dear model's first sample near the end
  // of the budget): they may then draw nothing, and the solver spends what is left by value.
  const forced = menus.reduce((s, m) => s + Math.min(...m.map((o) => o.cost)), 0);
  if (forced > budgetLeft) menus.forEach((m) => m.every((o) => o.cost > 0) && m.unshift({ cost: 0, value: 0, draw: null }));
  const { choice } = solveMenu(menus, Math.max(0, budgetLeft));
  return menus.map((m, i) => m[choice[i]].draw);
}
