/**
 * Serving fewer units than planned, optimally: when a request planned more than its
 * tenant's budget has left, each query keeps one of the options no dearer than its plan
 * (fewer samples, or a cheaper model), chosen by the menu solver for the units there are.
 * Pure.
 */
import { solveMenu, type MenuOption } from "./menu.js";

/**
 * Indexes into each menu, the planned ones when they fit in `budget`, else the best
 * choice among options costing no more than each plan. Every menu must have an option
 * the budget can pay for alongside the others' cheapest (the caller reserved that much).
 *
 * @example fitToBudget([[{ cost: 1, value: 0.5 }, { cost: 4, value: 0.9 }]], [1], 2) // [0]
 */
export function fitToBudget(menus: readonly (readonly MenuOption[])[], planned: readonly number[], budget: number): number[] {
  const total = planned.reduce((s, k, i) => s + menus[i][k].cost, 0);
  if (total <= budget) return [...planned];
  const allowed = menus.map((menu, i) => menu.map((o, k) => ({ o, k })).filter(({ o }) => o.cost <= menu[planned[i]].cost));
  const { choice } = solveMenu(allowed.map((a) => a.map(({ o }) => o)), budget);
  return allowed.map((a, i) => a[choice[i]].k);
}
