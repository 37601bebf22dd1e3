/**
 * Quality-vs-cost of routing policies on prompts collected from every model on the menu.
 * Pure. Quality of a choice (model j, k samples) is the unbiased best-of-k estimate from
 * that model's own samples of the prompt, so every policy is scored on the same samples.
 *
 * Policies:
 * - always <model>: every prompt gets k samples of that model (k = 1..kMax);
 * - random mix: a random share of prompts goes to the costliest model, the rest to the
 *   cheapest, one sample each (the random router baseline);
 * - allot: the menu solver on the router's predicted values, at each average budget;
 * - allot, one model: the same with that model only (adaptive best-of-k without
 *   routing), which separates what routing adds from what adaptive k adds;
 * - oracle: the menu solver on the prompts' empirical values.
 *
 * Sequential ones, replayed on the recorded samples (cascades):
 * - cascade: allot's (core/sequential, one sample a round) on the router's p with a Beta prior, at a
 *   sweep of prices;
 * - fixed cascade: a samples of the cheapest model, then b of the dearest (no predictor);
 * - cascade oracle: allot's rule with each prompt's true p per model known.
 */
import { solveMenu } from "../../core/allocation/menu.js";
import { mulberry32, shuffleInPlace } from "../../core/allocation/select.js";
import type { BinaryBelief } from "../../core/allocation/waves.js";
import { afterRound, drawAtPrice, startState } from "../../core/sequential/index.js";
import { type RouteChoice, type RouteOption, bestOfBernoulli, routeMenu } from "../../core/allocation/route.js";
import { passAt } from "../../core/predictor/estimators.js";

export interface RoutePrompt {
  /** Per option: successes out of samples. */
  readonly successes: readonly number[];
  readonly samples: readonly number[];
  /** Per option: the router's p. */
  readonly predicted: readonly number[];
}

export type RoutePoint = { readonly cost: number; readonly quality: number };

export interface RouteCurves {
  /** One curve per option: always that model, k = 1..kMax. */
  readonly always: Record<string, RoutePoint[]>;
  readonly random: RoutePoint[];
  readonly allot: RoutePoint[];
  /** Per option: allot's adaptive best-of-k with that model only. */
  readonly allotOnly: Record<string, RoutePoint[]>;
  readonly oracle: RoutePoint[];
  /** Share of prompts the allot policy sends to each model, per budget point. */
  readonly allotShare: Record<string, number>[];
}

const empirical = (p: RoutePrompt, j: number, k: number) => passAt(p.samples[j], p.successes[j], Math.min(k, p.samples[j]));

/** Mean quality and cost of the menu solver's answer at average budget `budget`. */
function solved(prompts: readonly RoutePrompt[], menus: readonly RouteChoice[][], budget: number) {
  const sol = solveMenu(menus, budget * prompts.length);
  let q = 0;
  const counts = new Map<number, number>();
  menus.forEach((menu, i) => {
    const c = menu[sol.choice[i]];
    q += empirical(prompts[i], c.option, c.k);
    counts.set(c.option, (counts.get(c.option) ?? 0) + 1);
  });
  return { cost: sol.cost / prompts.length, quality: q / prompts.length, counts };
}

export function routeCurves(prompts: readonly RoutePrompt[], options: readonly RouteOption[], kMax: number, budgets: readonly number[]): RouteCurves {
  const n = prompts.length;
  const always: Record<string, RoutePoint[]> = {};
  options.forEach((o, j) => {
    always[o.model] = Array.from({ length: kMax }, (_, i) => ({ cost: (i + 1) * o.cost, quality: prompts.reduce((s, p) => s + empirical(p, j, i + 1), 0) / n }));
  });
  const cheap = options.reduce((a, o, j) => (o.cost < options[a].cost ? j : a), 0);
  const dear = options.reduce((a, o, j) => (o.cost > options[a].cost ? j : a), 0);
  const q1 = (j: number) => always[options[j].model][0].quality;
  const random = Array.from({ length: 11 }, (_, s) => {
    const share = s / 10;
    return { cost: (1 - share) * options[cheap].cost + share * options[dear].cost, quality: (1 - share) * q1(cheap) + share * q1(dear) };
  });
  const predictedMenus = prompts.map((p) => routeMenu(options, kMax, (j, k) => bestOfBernoulli(p.predicted[j], k)));
  const oracleMenus = prompts.map((p) => routeMenu(options, kMax, (j, k) => empirical(p, j, k)));
  const allot: RoutePoint[] = [];
  const oracle: RoutePoint[] = [];
  const allotShare: Record<string, number>[] = [];
  const allotOnly: Record<string, RoutePoint[]> = {};
  options.forEach((o, j) => {
    const menus = predictedMenus.map((menu) => menu.filter((c) => c.option === j));
    allotOnly[o.model] = budgets.filter((b) => b >= o.cost).map((b) => {
      const a = solved(prompts, menus, b);
      return { cost: a.cost, quality: a.quality };
    });
  });
  for (const b of budgets) {
    const a = solved(prompts, predictedMenus, b);
    allot.push({ cost: a.cost, quality: a.quality });
    allotShare.push(Object.fromEntries(options.map((o, j) => [o.model, (a.counts.get(j) ?? 0) / n])));
    const o = solved(prompts, oracleMenus, b);
    oracle.push({ cost: o.cost, quality: o.quality });
  }
  return { always, random, allot, allotOnly, oracle, allotShare };
}

/**
 * The least average cost at which a curve reaches `quality` (linear between its points),
 * or null if it never does. Points need not be sorted.
 */
export function costToReach(curve: readonly RoutePoint[], quality: number): number | null {
  const pts = [...curve].sort((a, b) => a.cost - b.cost);
  if (pts.length === 0) return null;
  const eps = 1e-9; // equal quality up to float rounding counts as reached
  if (pts[0].quality >= quality - eps) return pts[0].cost;
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1];
    const b = pts[i];
    if (b.quality >= quality - eps) return b.quality <= a.quality ? b.cost : a.cost + ((quality - a.quality) / (b.quality - a.quality)) * (b.cost - a.cost);
  }
  return null;
}

/** A routed prompt with every model's recorded rewards (1 or 0), for the sequential replays. */
export interface CascadePrompt extends RoutePrompt {
  readonly outcomes: readonly (readonly number[])[];
}

/** Each prompt's per-model outcomes in a seeded random order, one set per order. */
function orderings(prompts: readonly CascadePrompt[], orders: number, seed: number): number[][][][] {
  const rand = mulberry32(seed);
  return Array.from({ length: orders }, () =>
    prompts.map((p) => p.outcomes.map((o) => shuffleInPlace([...o], rand))),
  );
}

/**
 * allot's cascade at price λ (core/sequential), replayed on the recorded samples one sample
 * at a time: every sample looked at is paid for; at most kMax samples of each model.
 */
export function replayCascade(prompts: readonly CascadePrompt[], options: readonly RouteOption[], belief: (i: number, j: number) => BinaryBelief, price: number, kMax: number, orders = 8, seed = 1): RoutePoint {
  let cost = 0;
  let solved = 0;
  for (const order of orderings(prompts, orders, seed)) {
    order.forEach((outcomes, i) => {
      const arms = options.map((o, j) => ({ cost: o.cost, belief: belief(i, j), max: Math.min(kMax, outcomes[j].length) }));
      // Rounds stay at 0: each decision is one sample, taken only when it is worth its price.
      let state = startState(arms.length);
      for (;;) {
        const next = drawAtPrice({ arms, state: { ...state, rounds: 0 }, min: 0, max: Infinity }, price);
        if (!next) break;
        cost += options[next.arm].cost;
        state = afterRound(arms, state, next.arm, [outcomes[next.arm][state.drawn[next.arm]]]);
        if (state.solved) {
          solved++;
          break;
        }
      }
    });
  }
  return { cost: cost / (prompts.length * orders), quality: solved / (prompts.length * orders) };
}

/** Prices swept to trace a cascade's cost-quality curve (high to low). */
export const CASCADE_PRICES = Array.from({ length: 48 }, (_, i) => Math.exp(Math.log(2) - (i * Math.log(2000)) / 47));

/**
 * The fixed cascade (FrugalGPT-style, no predictor): up to a samples of the cheapest model,
 * then up to b of the dearest, stopping at the first pass, for every (a, b) with
 * a, b ≤ kMax; the curve is the frontier of those policies (the best any fixed cascade does
 * at each cost, chosen on these very prompts, which flatters it).
 */
export function fixedCascade(prompts: readonly CascadePrompt[], options: readonly RouteOption[], kMax: number, orders = 8, seed = 1): RoutePoint[] {
  const cheap = options.reduce((a, o, j) => (o.cost < options[a].cost ? j : a), 0);
  const dear = options.reduce((a, o, j) => (o.cost > options[a].cost ? j : a), 0);
  const all = orderings(prompts, orders, seed);
  const points: RoutePoint[] = [];
  for (let a = 0; a <= kMax; a++) {
    for (let b = 0; b <= kMax; b++) {
      if (a + b === 0) continue;
      let cost = 0;
      let solved = 0;
      for (const order of all) {
        for (const outcomes of order) {
          const plan = [...Array(Math.min(a, outcomes[cheap].length)).fill(cheap), ...Array(Math.min(b, outcomes[dear].length)).fill(dear)] as number[];
          const seen = options.map(() => 0);
          for (const j of plan) {
            cost += options[j].cost;
            if (outcomes[j][seen[j]++] === 1) {
              solved++;
              break;
            }
          }
        }
      }
      points.push({ cost: cost / (prompts.length * orders), quality: solved / (prompts.length * orders) });
    }
  }
  return frontier(points);
}

/** The points no cheaper point beats in quality, by cost. */
export function frontier(points: readonly RoutePoint[]): RoutePoint[] {
  const sorted = [...points].sort((x, y) => x.cost - y.cost || y.quality - x.quality);
  const out: RoutePoint[] = [];
  for (const p of sorted) if (out.length === 0 || p.quality > out[out.length - 1].quality + 1e-12) out.push(p);
  return out;
}
