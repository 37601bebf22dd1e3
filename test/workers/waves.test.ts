// Beliefs for binary rewards (src/core/allocation/waves.ts) against independent references:
// exact Beta integrals, value iteration for the one-query price rule, and the prior's fitted
// strength. The rounds built on them are tested in sequential.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/core/allocation/select.js";
import {
  type BetaPrior,
  fitStrength,
  logGamma,
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
