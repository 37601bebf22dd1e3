/**
 * Independent reference solvers for small instances, written for obviousness rather
 * than speed: the tests compare the fast solvers against these.
 */

/** A small query: its gains per unit (already the curve the solver should see), min, max. */
export interface SmallQuery {
  gains: number[];
  min: number;
  max: number;
}

/**
 * max Σ_i Σ_{j≤u_i} gains_i[j−1] over min_i ≤ u_i ≤ max_i, Σ u_i ≤ budget, by dynamic
 * programming over queries and units used. -Infinity when infeasible.
 */
export function bestObjective(queries: SmallQuery[], budget: number): number {
  let best = new Array<number>(budget + 1).fill(-Infinity);
  best[0] = 0;
  for (const q of queries) {
    const next = new Array<number>(budget + 1).fill(-Infinity);
    for (let used = 0; used <= budget; used++) {
      if (best[used] === -Infinity) continue;
      let value = 0;
      for (let u = 0; u <= q.max && used + u <= budget; u++) {
        if (u > 0) value += q.gains[u - 1];
        if (u >= q.min) next[used + u] = Math.max(next[used + u], best[used] + value);
      }
    }
    best = next;
  }
  return Math.max(...best);
}

/** max Σ value over one option per query with Σ cost ≤ budget, by enumeration. */
export function bestMenu(menus: { cost: number; value: number }[][], budget: number): number {
  let best = -Infinity;
  const walk = (q: number, cost: number, value: number) => {
    if (cost > budget + 1e-12) return;
    if (q === menus.length) {
      best = Math.max(best, value);
      return;
    }
    for (const o of menus[q]) walk(q + 1, cost + o.cost, value + o.value);
  };
  walk(0, 0, 0);
  return best;
}
