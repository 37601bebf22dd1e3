import { AllocationError } from "./errors.js";

/** One way to answer a query: e.g. (weak model, k = 4) with its cost and predicted value. */
export interface MenuOption {
  readonly cost: number;
  readonly value: number;
}

export interface MenuSolution {
  /** Index of the chosen option per query (into that query's own option list). */
  readonly choice: Int32Array;
  /** Σ value of the chosen options. */
  readonly objective: number;
  /** Σ cost of the chosen options; at most the budget. */
  readonly cost: number;
  /** The LP relaxation's optimum: no integral choice can beat it. */
  readonly bound: number;
  /** bound − objective: how far from optimal the answer can be, at most. */
  readonly gap: number;
}

interface Step {
  query: number;
  from: number; // option index on the hull the step leaves
  to: number; // option index it moves to
  dCost: number;
  dValue: number;
}

/**
 * Multiple-choice knapsack: each query takes exactly one of its options; maximise the
 * total value with total cost ≤ budget.
 *
 * The LP relaxation is solved exactly by the classic greedy over each query's upper
 * convex hull of (cost, value) points (Sinha & Zoltners 1979): start every query at its
 * cheapest option, then take hull steps in order of value gained per unit cost. The first
 * step that does not fit is taken fractionally in the LP, which gives `bound`; the
 * integral answer skips it, keeps taking the later steps that still fit, and finally lets
 * each query jump to any better option the leftover budget affords. The answer is within
 * one hull step of the optimum, and `gap` says how close it is on this instance.
 *
 * Deterministic: ties in efficiency go to the earlier query. O(m log m) for m options.
 *
 * @example
 * solveMenu([[{ cost: 1, value: 0.2 }, { cost: 4, value: 0.9 }]], 4).choice // [1]
 */
export function solveMenu(menus: readonly (readonly MenuOption[])[], budget: number): MenuSolution {
  if (!Number.isFinite(budget) || budget < 0) {
    throw new AllocationError({ message: `budget must be a non-negative number, got ${budget}`, param: "budget" });
  }
  const choice = new Int32Array(menus.length);
  const steps: Step[] = [];
  let cost = 0;
  let value = 0;
  menus.forEach((options, q) => {
    if (options.length === 0) throw new AllocationError({ message: `query ${q} has no options`, param: `queries[${q}].options` });
    options.forEach((o, k) => {
      if (!Number.isFinite(o.cost) || o.cost < 0 || !Number.isFinite(o.value)) {
        throw new AllocationError({ message: `option ${k} of query ${q} needs a finite cost ≥ 0 and a finite value`, param: `queries[${q}].options[${k}]` });
      }
    });
    const hull = upperHull(options);
    choice[q] = hull[0];
    cost += options[hull[0]].cost;
    value += options[hull[0]].value;
    for (let h = 1; h < hull.length; h++) {
      const a = options[hull[h - 1]];
      const b = options[hull[h]];
      steps.push({ query: q, from: hull[h - 1], to: hull[h], dCost: b.cost - a.cost, dValue: b.value - a.value });
    }
  });
  if (cost > budget) {
    throw new AllocationError({ message: `budget ${budget} is below ${cost}, the cost of the cheapest option of every query`, param: "budget" });
  }
  // Steps of one query have strictly decreasing efficiency, so this order is also a
  // valid order within each query; ties across queries break by query index.
  steps.sort((s, t) => t.dValue * s.dCost - s.dValue * t.dCost || s.query - t.query);

  let bound = NaN;
  for (const s of steps) {
    if (choice[s.query] !== s.from) continue; // an earlier step of this query was skipped
    if (s.dCost <= budget - cost) {
      choice[s.query] = s.to;
      cost += s.dCost;
      value += s.dValue;
    } else if (Number.isNaN(bound)) {
      bound = value + (s.dValue * (budget - cost)) / s.dCost;
    }
  }
  // Leftover budget: let each query move to the best option it can now afford
  // (options off the hull included), improving on the rounded-down LP answer.
  menus.forEach((options, q) => {
    const current = options[choice[q]];
    let best = choice[q];
    options.forEach((o, k) => {
      if (o.value > options[best].value && o.cost - current.cost <= budget - cost) best = k;
    });
    if (best !== choice[q]) {
      cost += options[best].cost - current.cost;
      value += options[best].value - current.value;
      choice[q] = best;
    }
  });
  if (Number.isNaN(bound)) bound = value; // every hull step fitted: the LP optimum is integral
  return { choice, objective: value, cost, bound, gap: Math.max(0, bound - value) };
}

/**
 * Indices of the options on the upper concave hull of (cost, value), from the cheapest
 * (highest value among the cheapest) upward, with costs and values strictly increasing
 * and efficiencies strictly decreasing. Dominated options (costlier and no better) and
 * options under the hull (never optimal in the LP) are dropped.
 */
function upperHull(options: readonly MenuOption[]): number[] {
  const order = options.map((_, k) => k);
  order.sort((a, b) => options[a].cost - options[b].cost || options[b].value - options[a].value || a - b);
  const hull: number[] = [];
  for (const k of order) {
    const o = options[k];
    if (hull.length > 0) {
      const last = options[hull[hull.length - 1]];
      if (o.cost === last.cost || o.value <= last.value) continue; // dominated
    }
    // Pop while the last point lies on or under the segment from its predecessor to o.
    while (hull.length >= 2) {
      const a = options[hull[hull.length - 2]];
      const b = options[hull[hull.length - 1]];
      if ((b.value - a.value) * (o.cost - a.cost) <= (o.value - a.value) * (b.cost - a.cost)) hull.pop();
      else break;
    }
    hull.push(k);
  }
  return hull;
}
