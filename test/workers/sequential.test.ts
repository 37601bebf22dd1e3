// The sequential core (src/core/sequential/): one rule for online requests, batches and
// eval's replays. Checked against dynamic programming over every adaptive policy, and
// against itself across its two doors: a batch planned at a price decides, round after
// round, exactly what each of its queries decides alone online at that price.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { solveBatch } from "../../src/core/allocation/batch.js";
import { sketchOf } from "../../src/core/allocation/pandora.js";
import { mulberry32 } from "../../src/core/allocation/select.js";
import { type Belief, type BinaryBelief, posteriorGains, posteriorMean, priorOf } from "../../src/core/allocation/waves.js";
import { type Arm, type Query, afterRound, capAtPrice, drawAtPrice, pathOf, planRound, startState } from "../../src/core/sequential/index.js";

const queryOf = (arms: Arm[], min = 1, max = Infinity): Query => ({ arms, state: startState(arms.length), min, max });
const mean = (b: BinaryBelief, r: number) => ("known" in b ? b.known : posteriorMean(b.prior, r));

const binaryBelief = fc.oneof(
  fc.double({ min: 0.02, max: 0.95, noNaN: true }).map((known): Belief => ({ known })),
  fc.tuple(fc.double({ min: 0.02, max: 0.95, noNaN: true }), fc.double({ min: 0.3, max: 20, noNaN: true })).map(([p, s]): Belief => ({ prior: priorOf(p, s) })),
);
const realBelief = fc
  .array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 8 })
  .chain((xs) => fc.option(fc.double({ min: 0.5, max: 16, noNaN: true }), { nil: undefined }).map((strength): Belief => ({ atoms: Float64Array.from(xs).sort(), ...(strength ? { strength } : {}) })));

/** A query of one arm (binary or real-valued rewards) or of several binary arms at costs 1–4 (a router's models, thinking budgets). */
const queryArb = fc.oneof(
  fc.tuple(fc.oneof(binaryBelief, realBelief), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 2 })).map(([belief, max, min]) => queryOf([{ cost: 1, belief, max }], min, max)),
  fc
    .tuple(fc.array(fc.tuple(binaryBelief, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 })), { minLength: 2, maxLength: 3 }), fc.integer({ min: 4, max: 20 }), fc.integer({ min: 0, max: 1 }))
    .map(([arms, max, min]) => queryOf(arms.map(([belief, cost, m]) => ({ cost, belief, max: m })), min, max)),
);

/** Each query's rewards per arm, in the order they would be drawn: binary arms pass with their (mean) p, real ones draw an atom. */
function outcomesFor(q: Query, rand: () => number): number[][] {
  return q.arms.map((a) =>
    Array.from({ length: a.max }, () => {
      if ("atoms" in a.belief) return a.belief.atoms[Math.floor(rand() * a.belief.atoms.length)];
      const p = "known" in a.belief ? a.belief.known : a.belief.prior.a / (a.belief.prior.a + a.belief.prior.b);
      return rand() < p ? 1 : 0;
    }),
  );
}

/** Applies a round's draw from the recorded outcomes. */
function drawFrom(q: Query, draw: { arm: number; count: number }, outcomes: number[][]): Query {
  const from = q.state.drawn[draw.arm];
  return { ...q, state: afterRound(q.arms, q.state, draw.arm, outcomes[draw.arm].slice(from, from + draw.count)) };
}

describe("one rule, two doors", () => {
  it("a batch planned at a price decides, every round, what each query decides alone online at that price", () => {
    fc.assert(
      fc.property(fc.array(queryArb, { minLength: 1, maxLength: 5 }), fc.double({ min: 0.005, max: 0.6, noNaN: true }), fc.integer({ min: 1, max: 1e6 }), (queries, price, seed) => {
        const rand = mulberry32(seed);
        const outcomes = queries.map((q) => outcomesFor(q, rand));
        // Online: each query on its own, round after round.
        const online = queries.map((q0, i) => {
          const draws: string[] = [];
          let q = q0;
          for (let d = drawAtPrice(q, price); d; d = drawAtPrice(q, price)) {
            draws.push(`${q.state.rounds}:${d.arm}x${d.count}`);
            q = drawFrom(q, d, outcomes[i]);
          }
          return draws;
        });
        // The batch: every open query planned together each round, at the same price.
        let qs = queries;
        const batch = queries.map((): string[] => []);
        for (let plan = planRound(qs, { price }); plan.some((d) => d); plan = planRound(qs, { price })) {
          qs = qs.map((q, i) => {
            const d = plan[i];
            if (!d) return q;
            batch[i].push(`${q.state.rounds}:${d.arm}x${d.count}`);
            return drawFrom(q, d, outcomes[i]);
          });
        }
        expect(batch).toEqual(online);
      }),
      { numRuns: 300 },
    );
  });

  it("an online request never spends more than the cap it reserved at the start, whatever it draws", () => {
    fc.assert(
      fc.property(queryArb, fc.double({ min: 0.005, max: 0.6, noNaN: true }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 1e6 }), (q0, price, maxRounds, seed) => {
        const outcomes = outcomesFor(q0, mulberry32(seed));
        const cap = capAtPrice(q0, price);
        let q = q0;
        for (let round = 0; round < maxRounds; round++) {
          const d = drawAtPrice(q, price, { last: round === maxRounds - 1 });
          if (!d) break;
          q = drawFrom(q, d, outcomes);
        }
        expect(q.state.units).toBeLessThanOrEqual(cap);
        // And it pays what it owes: min units unless solved or out of arms.
        if (!q.state.solved && pathOf(q).length > 0 && maxRounds > 1) expect(q.state.units).toBeGreaterThanOrEqual(Math.min(q0.min, cap));
      }),
      { numRuns: 500 },
    );
  });
});

describe("the price rule against value iteration", () => {
  /** The best expected (pass − price × units) of any one-sample-at-a-time policy over failures per arm. */
  function optimal(arms: readonly Arm[], price: number): number {
    const memo = new Map<string, number>();
    const V = (f: number[]): number => {
      const key = f.join();
      if (memo.has(key)) return memo.get(key)!;
      let best = 0;
      arms.forEach((a, j) => {
        if (f[j] >= a.max) return;
        const m = mean(a.belief as BinaryBelief, f[j]);
        const g = [...f];
        g[j]++;
        best = Math.max(best, -price * a.cost + m + (1 - m) * V(g));
      });
      memo.set(key, best);
      return best;
    };
    return V(arms.map(() => 0));
  }

  /** The same objective for the core's rule, one sample a round (rounds never grow: each draw is one sample). */
  function ruleValue(arms: readonly Arm[], price: number): number {
    const go = (q: Query): number => {
      const d = drawAtPrice({ ...q, state: { ...q.state, rounds: 0 } }, price);
      if (!d) return 0;
      expect(d.count).toBe(1);
      const m = mean(arms[d.arm].belief as BinaryBelief, q.state.drawn[d.arm]);
      const failed = { ...q, state: afterRound(arms, q.state, d.arm, [0]) };
      return -price * arms[d.arm].cost + m + (1 - m) * go(failed);
    };
    return go(queryOf([...arms], 0));
  }

  const arm = (belief: fc.Arbitrary<BinaryBelief>) => fc.record({ cost: fc.integer({ min: 1, max: 4 }), belief, max: fc.integer({ min: 1, max: 4 }) });

  it("with known p, highest p per unit of cost first while p ≥ price × cost is optimal (Weitzman's rule)", () => {
    fc.assert(
      fc.property(fc.array(arm(fc.double({ min: 0.01, max: 0.99, noNaN: true }).map((known) => ({ known }))), { minLength: 1, maxLength: 3 }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), (arms, price) => {
        expect(ruleValue(arms, price)).toBeGreaterThanOrEqual(optimal(arms, price) - 1e-9);
      }),
    );
  });

  it("with Beta priors is within 3% of the best adaptive policy's value, and never negative", () => {
    let worst = 1;
    fc.assert(
      fc.property(
        fc.array(arm(fc.tuple(fc.double({ min: 0.02, max: 0.98, noNaN: true }), fc.double({ min: 0.3, max: 10, noNaN: true })).map(([p, s]) => ({ prior: priorOf(p, s) }))), { minLength: 1, maxLength: 3 }),
        fc.double({ min: 0.01, max: 0.5, noNaN: true }),
        (arms, price) => {
          const best = optimal(arms, price);
          const got = ruleValue(arms, price);
          expect(got).toBeGreaterThanOrEqual(-1e-12);
          if (best > 0.01) worst = Math.min(worst, got / best);
        },
      ),
      { numRuns: 300 },
    );
    expect(worst).toBeGreaterThanOrEqual(0.97);
  });

  it("escalates: a cheap arm first, the dear one once the cheap one's failures drop its index below", () => {
    const arms: Arm[] = [
      { cost: 1, belief: { prior: priorOf(0.4, 2) }, max: 8 },
      { cost: 3, belief: { prior: priorOf(0.9, 20) }, max: 8 },
    ];
    const q = queryOf(arms, 0);
    expect(drawAtPrice(q, 0.05)).toEqual({ arm: 0, count: 1 });
    // One failure of the cheap arm drops its posterior mean (0.8 / (2 + r)) to 0.27, below 0.9 / 3.
    expect(drawAtPrice({ ...q, state: afterRound(arms, q.state, 0, [0]) }, 0.05)?.arm).toBe(1);
    // Nothing is worth a price above every arm's index.
    expect(drawAtPrice(q, 0.5)).toBeNull();
  });

  it("takes a further compute axis as arms: a longer think after short ones fail, when it is worth more per token", () => {
    // Thinking budgets of one model as arms: 16, 64 and 256 tokens a sample, success rising with the budget.
    const arms: Arm[] = [
      { cost: 16, belief: { prior: priorOf(0.3, 4) }, max: 4 },
      { cost: 64, belief: { prior: priorOf(0.7, 4) }, max: 4 },
      { cost: 256, belief: { prior: priorOf(0.95, 4) }, max: 4 },
    ];
    const q = queryOf(arms, 0);
    const first = drawAtPrice(q, 0.001)!;
    expect(first.arm).toBe(0); // 0.3 / 16 per token beats 0.7 / 64 and 0.95 / 256
    let after = q;
    for (let k = 0; k < 3; k++) after = { ...after, state: afterRound(arms, after.state, 0, [0]) };
    expect(drawAtPrice(after, 0.001)!.arm).toBe(1); // the short think failed three times: think longer
    expect(capAtPrice(q, 0.001)).toBeGreaterThan(16);
  });
});

describe("a batch round under a budget", () => {
  type Q = { belief: BinaryBelief; min: number; max: number };

  /** P(first success at t) for t = 1..d after `failures`, and P(all d fail). */
  function outcomes(b: BinaryBelief, failures: number, d: number): { t: number; prob: number }[] {
    const g = "known" in b ? Array.from({ length: d }, (_, j) => b.known * (1 - b.known) ** j) : Array.from(posteriorGains(b.prior, failures, d));
    return [...g.map((prob, k) => ({ t: k + 1, prob })), { t: 0, prob: 1 - g.reduce((a, x) => a + x, 0) }];
  }

  /** Expected number solved by the core's rounds, enumerating every outcome of every round. */
  function wavesValue(qs: Q[], budget: number): number {
    const go = (state: Query[], left: number): number => {
      const draw = planRound(state, { budget: left });
      if (draw.every((d) => d === null)) return 0;
      let total = 0;
      const rec = (i: number, next: Query[], prob: number, gained: number, spent: number) => {
        if (prob === 0) return;
        if (i === state.length) {
          total += prob * (gained + go(next, left - spent));
          return;
        }
        const q = state[i];
        const d = draw[i];
        if (!d) return rec(i + 1, [...next, q], prob, gained, spent);
        for (const o of outcomes(q.arms[0].belief as BinaryBelief, q.state.drawn[0], d.count)) {
          const rewards = Array.from({ length: d.count }, (_, k) => (o.t === k + 1 ? 1 : 0));
          rec(i + 1, [...next, { ...q, state: afterRound(q.arms, q.state, 0, rewards) }], prob * o.prob, gained + (o.t > 0 ? 1 : 0), spent + d.count);
        }
      };
      rec(0, [], 1, 0, 0);
      return total;
    };
    return go(qs.map((q) => queryOf([{ cost: 1, belief: q.belief, max: q.max }], q.min, q.max)), budget);
  }

  /** The best any adaptive policy can do, one sample at a time (an upper bound for rounds). */
  function optimalValue(qs: Q[], budget: number): number {
    const memo = new Map<string, number>();
    const V = (drawn: number[], solved: boolean[], left: number): number => {
      const key = `${drawn}|${solved}|${left}`;
      const hit = memo.get(key);
      if (hit !== undefined) return hit;
      const owed = qs.reduce((s, q, i) => s + (solved[i] ? 0 : Math.max(0, q.min - drawn[i])), 0);
      let best = owed > 0 ? -Infinity : 0;
      qs.forEach((q, i) => {
        if (solved[i] || drawn[i] >= q.max || left === 0) return;
        if (left - 1 < owed - (drawn[i] < q.min ? 1 : 0)) return;
        const m = mean(q.belief, drawn[i]);
        const d = [...drawn];
        d[i]++;
        const win = [...solved];
        win[i] = true;
        best = Math.max(best, m * (1 + V(d, win, left - 1)) + (1 - m) * V(d, solved, left - 1));
      });
      if (best === -Infinity) best = 0;
      memo.set(key, best);
      return best;
    };
    return V(qs.map(() => 0), qs.map(() => false), budget);
  }

  /** The best one-shot allocation: units fixed up front (the paper's setting). */
  function oneShotValue(qs: Q[], budget: number): number {
    const n = qs.length;
    const offsets = new Int32Array(n + 1);
    qs.forEach((q, i) => (offsets[i + 1] = offsets[i] + q.max));
    const gains = new Float64Array(offsets[n]);
    qs.forEach((q, i) => gains.set("known" in q.belief ? Array.from({ length: q.max }, (_, j) => (q.belief as { known: number }).known * (1 - (q.belief as { known: number }).known) ** j) : posteriorGains(q.belief.prior, 0, q.max), offsets[i]));
    return solveBatch({ n, min: Int32Array.from(qs, (q) => q.min), max: Int32Array.from(qs, (q) => q.max), p: new Float64Array(n).fill(NaN), offsets, gains }, budget).objective;
  }

  it("is within 3% of the best adaptive policy and never worse than the best one-shot allocation", () => {
    fc.assert(
      fc.property(
        fc.record({
          qs: fc.array(fc.record({ p: fc.double({ min: 0.02, max: 0.9, noNaN: true }), s: fc.double({ min: 0.5, max: 20, noNaN: true }), max: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3 }),
          extra: fc.integer({ min: 0, max: 5 }),
        }),
        ({ qs, extra }) => {
          const queries: Q[] = qs.map((q) => ({ belief: { prior: priorOf(q.p, q.s) }, min: 1, max: q.max }));
          const budget = queries.length + extra;
          const waves = wavesValue(queries, budget);
          const best = optimalValue(queries, budget);
          expect(waves).toBeLessThanOrEqual(best + 1e-9);
          expect(waves).toBeGreaterThanOrEqual(0.97 * best - 1e-9);
          expect(waves).toBeGreaterThanOrEqual(oneShotValue(queries, budget) - 1e-9);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("spends nothing more on a solved query, and what it saves goes to the others; rounds grow 1, 1, 2, 4", () => {
    const arm = (p: number): Arm[] => [{ cost: 1, belief: { prior: priorOf(p, 4) }, max: 8 }];
    const solved = queryOf(arm(0.5), 1, 8);
    const open = queryOf(arm(0.2), 1, 8);
    const qs = [{ ...solved, state: afterRound(solved.arms, solved.state, 0, [1]) }, { ...open, state: afterRound(open.arms, open.state, 0, [0]) }];
    expect(planRound(qs, { budget: 6 })).toEqual([null, { arm: 0, count: 1 }]);
    let later = qs[1];
    for (let k = 0; k < 2; k++) later = { ...later, state: afterRound(later.arms, later.state, 0, [0]) };
    // Its fourth round (3 drawn, all failed): 4 samples of the 6 units left.
    expect(planRound([later], { budget: 6 })).toEqual([{ arm: 0, count: 4 }]);
  });

  it("on real-valued beliefs, spends where the expected improvement is largest and leaves finished queries alone", () => {
    const sure = sketchOf(Float64Array.from([0.9, 0.9, 0.9, 0.9])).x; // always 0.9
    const spread = Float64Array.from([0, 0.2, 0.8, 1]);
    const a = queryOf([{ cost: 1, belief: { atoms: sure }, max: 8 }], 1, 8);
    const b = queryOf([{ cost: 1, belief: { atoms: spread }, max: 8 }], 1, 8);
    const draw = planRound([{ ...a, state: afterRound(a.arms, a.state, 0, [0.9]) }, { ...b, state: afterRound(b.arms, b.state, 0, [0.2]) }], { budget: 3 });
    expect(draw[0]).toBeNull(); // nothing can improve on 0.9 from a distribution that only gives 0.9
    expect(draw[1]).toEqual({ arm: 0, count: 1 }); // the second round's slice
  });

  it("with several arms, starts every query within a budget too small for all their owed first samples, and never spends past it", () => {
    const arms: Arm[] = [
      { cost: 1, belief: { prior: priorOf(0.3, 4) }, max: 8 },
      { cost: 3, belief: { prior: priorOf(0.8, 4) }, max: 8 },
    ];
    const qs = Array.from({ length: 4 }, () => queryOf(arms, 1, 8));
    const plan = planRound(qs, { budget: 2 });
    const spent = plan.reduce((s, d) => s + (d ? d.count * arms[d.arm].cost : 0), 0);
    expect(spent).toBeLessThanOrEqual(2);
    expect(spent).toBeGreaterThan(0);
  });
});
