// The cascade rule (src/allocation/cascade.ts) against dynamic programming over every
// adaptive policy: which model to sample next, or stop, after every failure.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CascadeArm, nextArm } from "../../src/core/allocation/cascade.js";
import { type BinaryBelief, posteriorMean, priorOf } from "../../src/core/allocation/waves.js";

const mean = (b: BinaryBelief, r: number) => ("known" in b ? b.known : posteriorMean(b.prior, r));

/** The best expected (pass − price × units) of any policy, by value iteration over failures per model. */
function optimal(arms: readonly CascadeArm[], price: number): number {
  const memo = new Map<string, number>();
  const V = (f: number[]): number => {
    const key = f.join();
    if (memo.has(key)) return memo.get(key)!;
    let best = 0;
    arms.forEach((a, j) => {
      if (f[j] >= a.max) return;
      const m = mean(a.belief, f[j]);
      const g = [...f];
      g[j]++;
      best = Math.max(best, -price * a.cost + m + (1 - m) * V(g));
    });
    memo.set(key, best);
    return best;
  };
  return V(arms.map(() => 0));
}

/** The same objective for allot's rule. */
function ruleValue(arms: readonly CascadeArm[], price: number): number {
  const go = (f: number[]): number => {
    const next = nextArm(arms, f, price);
    if (!next) return 0;
    const a = arms[next.arm];
    const m = mean(a.belief, f[next.arm]);
    const g = [...f];
    g[next.arm]++;
    return -price * a.cost + m + (1 - m) * go(g);
  };
  return go(arms.map(() => 0));
}

const arm = (belief: fc.Arbitrary<BinaryBelief>) => fc.record({ cost: fc.integer({ min: 1, max: 4 }), belief, max: fc.integer({ min: 1, max: 4 }) });

describe("the cascade rule", () => {
  it("with known p is optimal: highest p per unit of cost first, while p ≥ price × cost", () => {
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

  it("escalates: a cheap model first, the dear one once the cheap one's failures drop its index below", () => {
    const arms: CascadeArm[] = [
      { cost: 1, belief: { prior: priorOf(0.4, 2) }, max: 8 },
      { cost: 3, belief: { prior: priorOf(0.9, 20) }, max: 8 },
    ];
    expect(nextArm(arms, [0, 0], 0.05)!.arm).toBe(0);
    // One failure of the cheap model drops its posterior mean (0.8 / (2 + r)) to 0.27, below 0.9 / 3.
    expect(nextArm(arms, [1, 0], 0.05)!.arm).toBe(1);
    // The first choice's run: the cheap model would be sampled once, then the dear one takes over.
    expect(nextArm(arms, [0, 0], 0.05)!.run).toBe(1);
    // Nothing is worth a price above every model's index.
    expect(nextArm(arms, [0, 0], 0.5)).toBeNull();
  });
});
