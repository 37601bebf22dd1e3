// Sequential allocation for binary rewards (src/allocation/waves.ts) against independent
// references: exact Beta integrals, value iteration for the one-query price rule, and an
// exhaustive dynamic program over every adaptive policy for small batches.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { solveBatch } from "../../src/core/allocation/batch.js";
import { mulberry32 } from "../../src/core/allocation/select.js";
import {
  type BinaryBelief,
  type BetaPrior,
  type WaveQuery,
  fitStrength,
  logGamma,
  planRound,
  posteriorGains,
  posteriorMean,
  priorOf,
  samplesAtPrice,
} from "../../src/core/allocation/waves.js";

const logBeta = (a: number, b: number) => logGamma(a) + logGamma(b) - logGamma(a + b);
const prior = fc.record({ a: fc.double({ min: 0.05, max: 20, noNaN: true }), b: fc.double({ min: 0.05, max: 20, noNaN: true }) });

describe("posterior gains", () => {
  it("are B(a + 1, b + r + j − 1) / B(a, b + r), non-increasing, and sum to at most 1", () => {
    fc.assert(
      fc.property(prior, fc.nat(10), (pr, r) => {
        const g = posteriorGains(pr, r, 12);
        g.forEach((x, k) => {
          const want = Math.exp(logBeta(pr.a + 1, pr.b + r + k) - logBeta(pr.a, pr.b + r));
          expect(Math.abs(x - want)).toBeLessThan(1e-10 * Math.max(1, want));
          if (k > 0) expect(x).toBeLessThanOrEqual(g[k - 1] + 1e-15);
        });
        expect(g.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-12);
      }),
    );
  });

  it("logGamma agrees with factorials", () => {
    for (let n = 1; n < 30; n++) {
      let f = 0;
      for (let k = 2; k < n; k++) f += Math.log(k);
      expect(Math.abs(logGamma(n) - f)).toBeLessThan(1e-10 * Math.max(1, f));
    }
    expect(Math.abs(logGamma(0.5) - 0.5 * Math.log(Math.PI))).toBeLessThan(1e-12);
  });
});

describe("the online rule: sample again iff the posterior mean is at least the price", () => {
  /** Value iteration over failures 0..H: how many samples the optimal policy draws if every one fails. */
  function optimalSamples(pr: BetaPrior, price: number, horizon: number): number {
    const V = new Array<number>(horizon + 1).fill(0);
    const go = new Array<boolean>(horizon).fill(false);
    for (let r = horizon - 1; r >= 0; r--) {
      const m = posteriorMean(pr, r);
      const cont = -price + m + (1 - m) * V[r + 1];
      go[r] = cont > 0;
      V[r] = Math.max(0, cont);
    }
    let k = 0;
    while (k < horizon && go[k]) k++;
    return k;
  }

  it("is what value iteration finds optimal (away from ties)", () => {
    fc.assert(
      fc.property(prior, fc.double({ min: 0.001, max: 0.9, noNaN: true }), fc.integer({ min: 1, max: 40 }), (pr, price, horizon) => {
        const ola = samplesAtPrice({ prior: pr }, 0, price, horizon);
        // Skip instances where a posterior mean sits on the price: either choice is optimal there.
        for (let r = 0; r <= horizon; r++) fc.pre(Math.abs(posteriorMean(pr, r) - price) > 1e-9);
        expect(ola).toBe(optimalSamples(pr, price, horizon));
      }),
    );
  });

  it("with a known p, samples until success while p ≥ price", () => {
    expect(samplesAtPrice({ known: 0.3 }, 0, 0.2, 16)).toBe(16);
    expect(samplesAtPrice({ known: 0.3 }, 5, 0.4, 16)).toBe(0);
  });
});

describe("waves for a batch: re-solving on the posteriors after every round", () => {
  type Q = { belief: BinaryBelief; min: number; max: number };

  /** P(first success at t) for t = 1..d after `failures`, and P(all d fail). */
  function outcomes(b: BinaryBelief, failures: number, d: number): { t: number; prob: number }[] {
    const g = "known" in b ? Array.from({ length: d }, (_, j) => b.known * (1 - b.known) ** j) : Array.from(posteriorGains(b.prior, failures, d));
    return [...g.map((prob, k) => ({ t: k + 1, prob })), { t: 0, prob: 1 - g.reduce((a, x) => a + x, 0) }];
  }

  /** Expected number solved by the waves policy, by enumerating every outcome of every round. */
  function wavesValue(qs: Q[], budget: number): number {
    const go = (state: WaveQuery[], left: number): number => {
      const draw = planRound(state, left);
      if (draw.every((d) => d === 0)) return 0;
      let total = 0;
      const rec = (i: number, next: WaveQuery[], prob: number, gained: number, spent: number) => {
        if (prob === 0) return;
        if (i === state.length) {
          total += prob * (gained + go(next, left - spent));
          return;
        }
        const q = state[i];
        if (draw[i] === 0) return rec(i + 1, [...next, q], prob, gained, spent);
        for (const o of outcomes(q.belief as BinaryBelief, q.drawn, draw[i])) {
          const after = { ...q, drawn: q.drawn + draw[i], best: o.t > 0 ? 1 : 0, solved: o.t > 0, rounds: q.rounds + 1 };
          rec(i + 1, [...next, after], prob * o.prob, gained + (o.t > 0 ? 1 : 0), spent + draw[i]);
        }
      };
      rec(0, [], 1, 0, 0);
      return total;
    };
    return go(qs.map((q) => ({ ...q, drawn: 0, best: 0, solved: false, rounds: 0 })), budget);
  }

  /** The best any adaptive policy can do, one sample at a time (an upper bound for rounds). */
  function optimalValue(qs: Q[], budget: number): number {
    const memo = new Map<string, number>();
    const V = (drawn: number[], solved: boolean[], left: number): number => {
      const key = `${drawn}|${solved}|${left}`;
      const hit = memo.get(key);
      if (hit !== undefined) return hit;
      // Every query's min must be met: if the budget left only just covers them, forced.
      const owed = qs.reduce((s, q, i) => s + (solved[i] ? 0 : Math.max(0, q.min - drawn[i])), 0);
      let best = owed > 0 ? -Infinity : 0;
      qs.forEach((q, i) => {
        if (solved[i] || drawn[i] >= q.max || left === 0) return;
        // The budget left must still cover every other query's minimum.
        if (left - 1 < owed - (drawn[i] < q.min ? 1 : 0)) return;
        const m = "known" in q.belief ? q.belief.known : posteriorMean(q.belief.prior, drawn[i]);
        const d = [...drawn];
        d[i]++;
        const win = [...solved];
        win[i] = true;
        const v = m * (1 + V(d, win, left - 1)) + (1 - m) * V(d, solved, left - 1);
        best = Math.max(best, v);
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
    const max = Int32Array.from(qs, (q) => q.max);
    const offsets = new Int32Array(n + 1);
    qs.forEach((q, i) => (offsets[i + 1] = offsets[i] + q.max));
    const gains = new Float64Array(offsets[n]);
    qs.forEach((q, i) => gains.set("known" in q.belief ? Array.from({ length: q.max }, (_, j) => (q.belief as { known: number }).known * (1 - (q.belief as { known: number }).known) ** j) : posteriorGains(q.belief.prior, 0, q.max), offsets[i]));
    return solveBatch({ n, min: Int32Array.from(qs, (q) => q.min), max, p: new Float64Array(n).fill(NaN), offsets, gains }, budget).objective;
  }

  const instance = fc.record({
    qs: fc.array(
      fc.record({ p: fc.double({ min: 0.02, max: 0.9, noNaN: true }), s: fc.double({ min: 0.5, max: 20, noNaN: true }), max: fc.integer({ min: 1, max: 4 }) }),
      { minLength: 1, maxLength: 3 },
    ),
    extra: fc.integer({ min: 0, max: 5 }),
  });

  it("is within 3% of the best adaptive policy and never worse than the best one-shot allocation", () => {
    fc.assert(
      fc.property(instance, ({ qs, extra }) => {
        const queries: Q[] = qs.map((q) => ({ belief: { prior: priorOf(q.p, q.s) }, min: 1, max: q.max }));
        const budget = queries.length + extra;
        const waves = wavesValue(queries, budget);
        const best = optimalValue(queries, budget);
        const oneShot = oneShotValue(queries, budget);
        expect(waves).toBeLessThanOrEqual(best + 1e-9);
        expect(waves).toBeGreaterThanOrEqual(0.97 * best - 1e-9);
        expect(waves).toBeGreaterThanOrEqual(oneShot - 1e-9);
      }),
      { numRuns: 150 },
    );
  });

  it("spends nothing more on a solved query, and what it saves goes to the others", () => {
    const qs: WaveQuery[] = [
      { belief: { prior: priorOf(0.5, 4) }, drawn: 1, best: 1, solved: true, rounds: 1, min: 1, max: 8 },
      { belief: { prior: priorOf(0.2, 4) }, drawn: 1, best: 0, solved: false, rounds: 1, min: 1, max: 8 },
    ];
    const draw = planRound(qs, 6);
    expect(draw[0]).toBe(0);
    expect(draw[1]).toBe(1); // its second round: one sample; later rounds grow 2, 4, …
    expect(planRound([{ ...qs[1], rounds: 3, drawn: 4 }], 6)[0]).toBe(4);
  });
});

describe("fitting the prior's strength", () => {
  it("recovers the strength that generated the data, within a factor of 1.5", () => {
    for (const s0 of [2, 10, 50]) {
      const rand = mulberry32(s0);
      // A Beta(a, b) draw as the ratio of gamma draws (Marsaglia-Tsang, shape ≥ 1 via boosting).
      const gamma = (k: number): number => {
        if (k < 1) return gamma(k + 1) * Math.pow(rand(), 1 / k);
        const d = k - 1 / 3;
        const c = 1 / Math.sqrt(9 * d);
        for (;;) {
          const u1 = rand();
          const u2 = rand();
          const x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
          const v = (1 + c * x) ** 3;
          if (v > 0 && Math.log(rand()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
        }
      };
      const data = Array.from({ length: 3000 }, () => {
        const p = 0.05 + 0.9 * rand();
        const { a, b } = priorOf(p, s0);
        const x = gamma(a);
        const truth = x / (x + gamma(b));
        let successes = 0;
        for (let k = 0; k < 32; k++) if (rand() < truth) successes++;
        return { p, successes, samples: 32 };
      });
      const s = fitStrength(data);
      expect(s / s0).toBeGreaterThan(1 / 1.5);
      expect(s / s0).toBeLessThan(1.5);
    }
  });
});
