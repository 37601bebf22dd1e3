import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AllocationError,
  allocate,
  bernoulliCount,
  bernoulliCountLogs,
  bernoulliGain,
  bernoulliValue,
  buildBatch,
  currentPrice,
  defaultPriceConfig,
  initialPriceState,
  isNonIncreasing,
  observeSpend,
  projectNonIncreasing,
  singleQuery,
  solveBatch,
  solveMenu,
  unitsAtPrice,
  type BatchProblem,
} from "../../src/core/allocation/index.js";
import { bestOfBernoulli, chooseAtPrice, predictedMenu, routeMenu } from "../../src/core/allocation/route.js";
import { mulberry32 } from "../../src/core/allocation/select.js";
import { type SmallQuery, bestMenu, bestObjective } from "../support/brute.js";

// Gains on a coarse grid (multiples of 1/8, some negative) so that ties are common.
const gain = fc.integer({ min: -2, max: 8 }).map((k) => k / 8);
const smallQuery = fc
  .record({ gains: fc.array(gain, { minLength: 1, maxLength: 6 }), min: fc.nat(3), extra: fc.nat(6) })
  .map(({ gains, min, extra }) => {
    const max = Math.min(gains.length, min + extra);
    return { gains, min: Math.min(min, max), max };
  });

function problemOf(queries: SmallQuery[]): BatchProblem {
  const offsets = new Int32Array(queries.length + 1);
  queries.forEach((q, i) => (offsets[i + 1] = offsets[i] + q.gains.length));
  return {
    n: queries.length,
    min: Int32Array.from(queries, (q) => q.min),
    max: Int32Array.from(queries, (q) => q.max),
    p: new Float64Array(queries.length).fill(NaN),
    offsets,
    gains: Float64Array.from(queries.flatMap((q) => q.gains)),
  };
}

/** The curve the solver optimises: the free part projected, the forced part as given. */
function projected(q: SmallQuery): SmallQuery {
  const g = Float64Array.from(q.gains);
  projectNonIncreasing(g, q.min, q.max);
  return { ...q, gains: Array.from(g) };
}

const sum = (xs: ArrayLike<number>, n = xs.length) => Array.from(xs).slice(0, n).reduce((a, b) => a + b, 0);

function checkFeasible(queries: SmallQuery[], units: Int32Array, budget: number) {
  expect(sum(units)).toBeLessThanOrEqual(budget);
  queries.forEach((q, i) => {
    expect(units[i]).toBeGreaterThanOrEqual(q.min);
    expect(units[i]).toBeLessThanOrEqual(q.max);
  });
}

const solverPaths = [
  { name: "default", options: {} },
  { name: "bisection (tiny candidate limit)", options: { maxCandidates: 1 } },
  { name: "one-element sample", options: { sampleSize: 1 } },
];

describe("batch solver against dynamic programming", () => {
  for (const { name, options } of solverPaths) {
    it(`is optimal on non-increasing curves, ${name}`, () => {
      fc.assert(
        fc.property(fc.array(smallQuery, { minLength: 1, maxLength: 6 }), fc.nat(12), (raw, slack) => {
          const queries = raw.map((q) => ({ ...q, gains: [...q.gains].sort((a, b) => b - a) }));
          const budget = sum(queries.map((q) => q.min)) + slack;
          const sol = solveBatch(problemOf(queries), budget, options);
          checkFeasible(queries, sol.units, budget);
          expect(sol.projected).toEqual([]);
          expect(sol.objective).toBeCloseTo(bestObjective(queries, budget), 9);
          expect(sol.used).toBe(sum(sol.units));
          expect(sol.objective).toBeCloseTo(sum(queries.map((q, i) => sum(q.gains, sol.units[i]))), 9);
        }),
        { numRuns: 400 },
      );
    });
  }

  it("projects curves that increase, and is optimal for the projected curves", () => {
    fc.assert(
      fc.property(fc.array(smallQuery, { minLength: 1, maxLength: 5 }), fc.nat(10), (queries, slack) => {
        const budget = sum(queries.map((q) => q.min)) + slack;
        const sol = solveBatch(problemOf(queries), budget);
        checkFeasible(queries, sol.units, budget);
        const expected = queries.flatMap((q, i) => (isNonIncreasing(q.gains, q.min, q.max) ? [] : [i]));
        expect(sol.projected).toEqual(expected);
        const proj = queries.map(projected);
        const projectedValue = sum(proj.map((q, i) => sum(q.gains, sol.units[i])));
        expect(projectedValue).toBeCloseTo(bestObjective(proj, budget), 9);
        // The reported objective is in the caller's own (unprojected) gains.
        expect(sol.objective).toBeCloseTo(sum(queries.map((q, i) => sum(q.gains, sol.units[i]))), 9);
      }),
      { numRuns: 400 },
    );
  });

  it("is optimal on Bernoulli curves, p = 0 and p = 1 included", () => {
    const p = fc.oneof(fc.constantFrom(0, 1, 0.5), fc.double({ min: 0, max: 1, noNaN: true }));
    fc.assert(
      fc.property(
        fc.array(fc.record({ p, min: fc.nat(2), extra: fc.nat(5) }), { minLength: 1, maxLength: 6 }),
        fc.nat(15),
        (qs, slack) => {
          const small = qs.map((q) => ({
            min: q.min,
            max: q.min + q.extra,
            gains: Array.from({ length: q.min + q.extra }, (_, j) => bernoulliGain(q.p, j + 1)),
          }));
          const budget = sum(small.map((q) => q.min)) + slack;
          const req = { budget, min: 0, queries: qs.map((q, i) => ({ id: `q${i}`, p: q.p, min: q.min, max: q.min + q.extra })) };
          const res = allocate(req);
          const units = Int32Array.from(res.allocation, (a) => a.units);
          checkFeasible(small, units, budget);
          expect(res.objective).toBeCloseTo(bestObjective(small, budget), 9);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("is deterministic, and breaks ties toward earlier queries", () => {
    const queries = [0, 1, 2, 3].map(() => ({ gains: [0.5, 0.5, 0.5], min: 0, max: 3 }));
    const sol = solveBatch(problemOf(queries), 5);
    expect(Array.from(sol.units)).toEqual([3, 2, 0, 0]);
    expect(Array.from(solveBatch(problemOf(queries), 5).units)).toEqual([3, 2, 0, 0]);
  });
});

describe("batch solver edge cases", () => {
  const q = (p: number) => ({ id: `p${p}`, p });

  it("budget exactly n·min gives every query min", () => {
    const res = allocate({ budget: 6, min: 2, max: 5, queries: [q(0.1), q(0.5), q(0.9)] });
    expect(res.allocation.map((a) => a.units)).toEqual([2, 2, 2]);
    expect(res.used).toBe(6);
  });

  it("budget above Σ max gives every unit with a positive gain, and no more", () => {
    const res = allocate({ budget: 100, min: 1, max: 4, queries: [q(0.3), q(1), q(0)] });
    expect(res.allocation.map((a) => a.units)).toEqual([4, 1, 1]);
    expect(res.used).toBe(6);
    expect(res.objective).toBeCloseTo(bernoulliValue(0.3, 4) + 1 + 0, 12);
  });

  it("never takes a unit with zero or negative gain beyond min", () => {
    const res = allocate({
      budget: 10,
      min: 1,
      queries: [{ id: "a", marginals: [0.2, 0, -0.1] }, { id: "b", marginals: [-0.3, -0.1] }],
    });
    expect(res.allocation).toEqual([{ id: "a", units: 1 }, { id: "b", units: 1 }]);
    expect(res.objective).toBeCloseTo(0.2 - 0.3, 12);
  });

  it("one query takes units in order up to the budget", () => {
    const res = allocate({ budget: 3, min: 0, max: 8, queries: [q(0.4)] });
    expect(res.allocation[0].units).toBe(3);
    expect(res.objective).toBeCloseTo(bernoulliValue(0.4, 3), 12);
  });

  it("rejects a budget below n·min, naming the budget", () => {
    expect(() => allocate({ budget: 5, min: 2, max: 4, queries: [q(0.1), q(0.2), q(0.3)] })).toThrowError(
      expect.objectContaining({ name: "AllocationError", param: "budget" }) as unknown as Error,
    );
  });

  it("rejects NaN and infinite gains in the typed core too", () => {
    const problem = problemOf([{ gains: [0.5, NaN], min: 0, max: 2 }]);
    expect(() => solveBatch(problem, 2)).toThrowError(AllocationError);
    const inf = problemOf([{ gains: [Infinity], min: 0, max: 1 }]);
    expect(() => solveBatch(inf, 1)).toThrowError(AllocationError);
  });

  it("caps a query at its curve's length under a longer global max", () => {
    const problem = buildBatch({ budget: 10, min: 0, max: 8, queries: [{ id: "a", marginals: [0.5, 0.4] }] });
    expect(problem.max[0]).toBe(2);
  });

  it("rejects a query max longer than its own curve", () => {
    expect(() => buildBatch({ budget: 10, min: 0, queries: [{ id: "a", marginals: [0.5], max: 3 }] })).toThrowError(
      expect.objectContaining({ param: "queries[0].max" }) as unknown as Error,
    );
  });
});

describe("curves", () => {
  it("bernoulliCount agrees with counting the gains one by one", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })),
        fc.oneof(fc.constantFrom(0, -1, Infinity), fc.double({ min: 1e-12, max: 1, noNaN: true })),
        fc.integer({ min: 0, max: 64 }),
        fc.boolean(),
        (p, price, cap, strict) => {
          let expected = 0;
          for (let j = 1; j <= cap; j++) {
            const g = bernoulliGain(p, j);
            if (strict ? g > price : g >= price) expected++;
          }
          expect(bernoulliCount(p, price, cap, strict)).toBe(expected);
          // As the solver counts: ln p and ln(1 − p) once per curve, ln(price) once per price.
          if (p > 0 && p < 1) expect(bernoulliCountLogs(p, Math.log(p), Math.log1p(-p), price, Math.log(price), cap, strict)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });

  /** Both counts, at prices on a gain of the curve or one ulp either side, agree with counting the gains one by one. */
  const exactAtGains = (ps: fc.Arbitrary<number>, maxUnits: number, numRuns: number) => {
    const nextUp = (x: number) => x + Math.max(Number.MIN_VALUE, Math.abs(x) * Number.EPSILON);
    const nextDown = (x: number) => x - Math.max(Number.MIN_VALUE, Math.abs(x) * Number.EPSILON);
    fc.assert(
      fc.property(
        ps,
        fc.integer({ min: 1, max: maxUnits }),
        fc.integer({ min: 1, max: maxUnits }),
        fc.constantFrom(nextDown, (x: number) => x, nextUp),
        fc.boolean(),
        (p, j, cap, nudge, strict) => {
          const price = nudge(bernoulliGain(p, j));
          let expected = 0;
          for (let u = 1; u <= cap; u++) if (strict ? bernoulliGain(p, u) > price : bernoulliGain(p, u) >= price) expected++;
          expect(bernoulliCount(p, price, cap, strict)).toBe(expected);
          // As the solver counts: ln p and ln(1 − p) once per curve, ln(price) once per price.
          expect(bernoulliCountLogs(p, Math.log(p), Math.log1p(-p), price, Math.log(price), cap, strict)).toBe(expected);
        },
      ),
      { numRuns },
    );
  };

  it("bernoulliCount is exact when the price is one of the gains, or one ulp either side", () => {
    exactAtGains(fc.double({ min: 1e-9, max: 1 - 1e-9, noNaN: true }), 64, 3000);
  });

  it("bernoulliCountLogs too, for tiny and near-certain p", () => {
    exactAtGains(fc.oneof(fc.double({ min: 1e-200, max: 1e-6, noNaN: true }), fc.double({ min: 1 - 1e-6, max: 1 - 1e-16, noNaN: true })), 1_000, 3000);
  });

  it("projection is non-increasing, keeps the sum, and leaves monotone curves alone", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { maxLength: 20 }), (xs) => {
        const g = Float64Array.from(xs);
        projectNonIncreasing(g, 0, g.length);
        expect(isNonIncreasing(g, 0, g.length)).toBe(true);
        expect(sum(g)).toBeCloseTo(sum(xs), 9);
        const again = Float64Array.from(g);
        projectNonIncreasing(again, 0, again.length);
        expect(Array.from(again)).toEqual(Array.from(g));
      }),
    );
  });

  it("projection is the least-squares non-increasing fit", () => {
    // Any other non-increasing sequence (here: the projection nudged at one block) is farther.
    const xs = [0.1, 0.5, 0.2, 0.4, 0.0];
    const g = Float64Array.from(xs);
    projectNonIncreasing(g, 0, xs.length);
    expect(Array.from(g).map((v) => +v.toFixed(12))).toEqual([0.3, 0.3, 0.3, 0.3, 0]);
    const dist = (ys: number[]) => ys.reduce((s, y, i) => s + (y - xs[i]) ** 2, 0);
    for (const d of [-0.01, 0.01]) {
      const other = [0.3 + d, 0.3 + d, 0.3 + d, 0.3 + d, 0];
      expect(dist(other)).toBeGreaterThan(dist(Array.from(g)));
    }
  });
});

describe("online price", () => {
  it("a query at the batch's price gets what the batch gave it, up to ties", () => {
    fc.assert(
      fc.property(fc.array(smallQuery, { minLength: 1, maxLength: 6 }), fc.nat(12), (raw, slack) => {
        const queries = raw.map((q) => ({ ...q, gains: [...q.gains].sort((a, b) => b - a) }));
        const budget = sum(queries.map((q) => q.min)) + slack;
        const sol = solveBatch(problemOf(queries), budget);
        queries.forEach((q, i) => {
          const atPrice = unitsAtPrice(singleQuery({ marginals: q.gains, min: q.min, max: q.max }), sol.price);
          const strictlyAbove = q.min + q.gains.slice(q.min, q.max).filter((g) => g > sol.price && g > 0).length;
          expect(sol.units[i]).toBeGreaterThanOrEqual(strictlyAbove);
          expect(sol.units[i]).toBeLessThanOrEqual(atPrice);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("unitsAtPrice uses the Bernoulli closed form", () => {
    expect(unitsAtPrice(singleQuery({ p: 0.5, max: 8 }), 0.1)).toBe(3);
    expect(unitsAtPrice(singleQuery({ p: 0.5, max: 8, min: 5 }), 0.1)).toBe(5);
    expect(unitsAtPrice(singleQuery({ p: 1, max: 8 }), 0.1)).toBe(1);
    expect(unitsAtPrice(singleQuery({ p: 0, max: 8, min: 1 }), 0.1)).toBe(1);
    expect(unitsAtPrice(singleQuery({ p: 0.5, max: 8 }), 0)).toBe(8);
  });

  it("the controller settles the mean spend within ±10% of the target and beats uniform", () => {
    // Difficulty p ~ Beta(½, ½) (the paper's oracle study): sin²θ with θ uniform on [0, π/2].
    const rand = mulberry32(7);
    const config = defaultPriceConfig(4);
    let state = initialPriceState(config);
    const spent: number[] = [];
    let adaptive = 0;
    let uniform = 0;
    for (let t = 0; t < 2000; t++) {
      const p = Math.sin((rand() * Math.PI) / 2) ** 2;
      const units = unitsAtPrice(singleQuery({ p, min: 1, max: 16 }), currentPrice(state));
      state = observeSpend(state, units, config);
      spent.push(units);
      if (t >= 500) {
        adaptive += bernoulliValue(p, units);
        uniform += bernoulliValue(p, 4);
      }
    }
    for (const from of [300, 1000, 1500]) {
      const window = spent.slice(from, from + 500);
      expect(Math.abs(sum(window) / window.length - 4) / 4).toBeLessThan(0.1);
    }
    expect(adaptive).toBeGreaterThan(uniform);
  });

  it("bounds the step one request can make: a spend 1,000× the target moves the price as 9× would", () => {
    const config = defaultPriceConfig(1);
    // A settled controller (its step at the floor), so that the price's own bounds do not bind.
    const start = { ...initialPriceState(config), requests: 1_000_000 };
    const huge = observeSpend(start, 1_000, config);
    const nine = observeSpend(start, 9, config);
    expect(huge.logPrice).toBe(nine.logPrice);
    expect(huge.logPrice).toBeGreaterThan(start.logPrice);
    expect(observeSpend(start, 8, config).logPrice).toBeLessThan(nine.logPrice); // below the bound, spends still count in full
  });
});

describe("menu solver", () => {
  const option = fc.record({ cost: fc.integer({ min: 0, max: 8 }), value: fc.integer({ min: -2, max: 10 }).map((v) => v / 10) });
  const menus = fc.array(fc.array(option, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 });

  it("is feasible, never beats the brute-force optimum, and brackets it with its LP bound", () => {
    fc.assert(
      fc.property(menus, fc.nat(20), (ms, slack) => {
        const budget = sum(ms.map((m) => Math.min(...m.map((o) => o.cost)))) + slack;
        const sol = solveMenu(ms, budget);
        const opt = bestMenu(ms, budget);
        expect(sol.cost).toBeLessThanOrEqual(budget);
        expect(sol.objective).toBeCloseTo(sum(ms.map((m, q) => m[sol.choice[q]].value)), 9);
        expect(sol.cost).toBeCloseTo(sum(ms.map((m, q) => m[sol.choice[q]].cost)), 9);
        expect(sol.objective).toBeLessThanOrEqual(opt + 1e-9);
        expect(sol.bound).toBeGreaterThanOrEqual(opt - 1e-9);
        expect(sol.gap).toBeCloseTo(sol.bound - sol.objective, 9);
        if (sol.gap === 0) expect(sol.objective).toBeCloseTo(opt, 9);
      }),
      { numRuns: 1000 },
    );
  });

  it("routes the queries that gain most to the strong model", () => {
    // weak costs 1, strong costs 5; budget for one strong call among three queries.
    const m = (weak: number, strong: number) => [{ cost: 1, value: weak }, { cost: 5, value: strong }];
    const sol = solveMenu([m(0.9, 0.95), m(0.2, 0.9), m(0.5, 0.6)], 7);
    expect(Array.from(sol.choice)).toEqual([0, 1, 0]);
    expect(sol.gap).toBe(0);
  });

  it("rejects a budget below the cheapest options and an empty menu", () => {
    expect(() => solveMenu([[{ cost: 2, value: 1 }]], 1)).toThrowError(AllocationError);
    expect(() => solveMenu([[]], 1)).toThrowError(AllocationError);
  });
});

describe("routing menus", () => {
  const OPTIONS = [
    { model: "weak", cost: 1 },
    { model: "strong", cost: 3 },
  ];
  const ps = fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 12 });

  it("builds every (model, k) within the cost cap, valued best-of-k", () => {
    const menu = routeMenu(OPTIONS, 4, (j, k) => bestOfBernoulli([0.2, 0.6][j], k), { max: 6 });
    expect(menu.map((c) => `${c.option}:${c.k}:${c.cost}`)).toEqual(["0:1:1", "0:2:2", "0:3:3", "0:4:4", "1:1:3", "1:2:6"]);
    expect(menu[5].value).toBeCloseTo(1 - 0.4 ** 2, 12);
    // A router's menu: k up to the max cost, costs within [min, max].
    expect(predictedMenu(OPTIONS, [0.2, 0.6], 3, 6).map((c) => `${c.option}:${c.k}:${c.cost}`)).toEqual(["0:3:3", "0:4:4", "0:5:5", "0:6:6", "1:1:3", "1:2:6"]);
  });

  it("at price 0 takes the most valuable option, the cheapest among equals", () => {
    const menu = routeMenu(OPTIONS, 3, (j) => [0.5, 0.5][j]);
    expect(chooseAtPrice(menu, 0)).toMatchObject({ option: 0, k: 1 });
  });

  it("the online rule at any price is what the batch solver does at the budget it spends (Lagrangian optimality)", () => {
    fc.assert(
      fc.property(ps, fc.double({ min: 1e-4, max: 0.5, noNaN: true }), (pairs, price) => {
        const menus = pairs.map(([pw, pstrong]) => routeMenu(OPTIONS, 8, (j, k) => bestOfBernoulli(j === 0 ? pw : pstrong, k)));
        const online = menus.map((m) => chooseAtPrice(m, price));
        const cost = online.reduce((a, c) => a + c.cost, 0);
        const value = online.reduce((a, c) => a + c.value, 0);
        const batch = solveMenu(menus, cost);
        // No allocation within that budget beats the price rule, and the solver finds one as good.
        expect(batch.bound).toBeLessThanOrEqual(value + 1e-9);
        expect(batch.objective).toBeGreaterThanOrEqual(value - 1e-9);
      }),
      { numRuns: 300 },
    );
  });
});
