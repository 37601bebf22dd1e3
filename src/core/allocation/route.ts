/**
 * Routing as a menu: each query may be answered by any (model, k samples) pair, at cost
 * k × the model's cost per sample, with value = its expected best-of-k reward. Batches
 * take the multiple-choice knapsack (menu.ts) over these menus; an online request takes
 * the option that is best at the tenant's price. Pure.
 */
import type { MenuOption } from "./menu.js";

export interface RouteOption {
  readonly model: string;
  /** Units one sample of this model costs. */
  readonly cost: number;
}

export interface RouteChoice extends MenuOption {
  /** Index into the route's options (the model). */
  readonly option: number;
  readonly k: number;
}

/**
 * The menu of one query: (option j, k) for k = 1..kMax, costing between cost.min and
 * cost.max, with value(j, k). Ordered by option, then k.
 */
export function routeMenu(
  options: readonly RouteOption[],
  kMax: number,
  value: (j: number, k: number) => number,
  cost: { readonly min?: number; readonly max?: number } = {},
): RouteChoice[] {
  const { min = 0, max = Infinity } = cost;
  const menu: RouteChoice[] = [];
  options.forEach((o, j) => {
    for (let k = 1; k <= kMax && k * o.cost <= max; k++) if (k * o.cost >= min) menu.push({ option: j, k, cost: k * o.cost, value: value(j, k) });
  });
  return menu;
}

/** Best-of-k success of Bernoulli(p) samples: 1 − (1 − p)^k. */
export const bestOfBernoulli = (p: number, k: number): number => 1 - Math.pow(1 - p, k);

/**
 * A router's menu for one query with p[j] = its predicted success for option j: every
 * (model, k) costing between min and max units, valued best-of-k. (k ≤ max, since a
 * sample costs at least one unit.)
 */
export function predictedMenu(options: readonly RouteOption[], p: readonly number[], min: number, max: number): RouteChoice[] {
  return routeMenu(options, max, (j, k) => bestOfBernoulli(p[j], k), { min, max });
}

/**
 * The option maximising value − price × cost: the online rule, the same Lagrangian the
 * batch solver applies with its shadow price. Ties go to the cheaper option, then the
 * earlier one.
 */
export function chooseAtPrice(menu: readonly RouteChoice[], price: number): RouteChoice {
  if (menu.length === 0) throw new RangeError("an empty menu");
  let best = menu[0];
  let bestScore = best.value - price * best.cost;
  for (const o of menu) {
    const score = o.value - price * o.cost;
    if (score > bestScore + 1e-12 || (Math.abs(score - bestScore) <= 1e-12 && o.cost < best.cost)) {
      best = o;
      bestScore = score;
    }
  }
  return best;
}
