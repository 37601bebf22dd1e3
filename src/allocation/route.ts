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
 * The menu of one query: (option j, k) for k = 1..kMax, costing at most maxCost, with
 * value(j, k). Ordered by option, then k.
 */
export function routeMenu(options: readonly RouteOption[], kMax: number, value: (j: number, k: number) => number, maxCost = Infinity): RouteChoice[] {
  const menu: RouteChoice[] = [];
  options.forEach((o, j) => {
    for (let k = 1; k <= kMax && k * o.cost <= maxCost; k++) menu.push({ option: j, k, cost: k * o.cost, value: value(j, k) });
  });
  return menu;
}

/** Best-of-k success of Bernoulli(p) samples: 1 − (1 − p)^k. */
export const bestOfBernoulli = (p: number, k: number): number => 1 - Math.pow(1 - p, k);

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
