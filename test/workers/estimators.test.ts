import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bestOfCurve, expectedBestOf, passAt } from "../../src/core/predictor/estimators.js";

/** The definition: the average over every b-subset of the K samples of its best reward. */
function bruteBestOf(rewards: number[], b: number): number {
  let total = 0;
  let count = 0;
  const walk = (start: number, left: number, best: number) => {
    if (left === 0) {
      total += best;
      count++;
      return;
    }
    for (let i = start; i <= rewards.length - left; i++) walk(i + 1, left - 1, Math.max(best, rewards[i]));
  };
  walk(0, b, -Infinity);
  return total / count;
}

describe("best-of-b estimators", () => {
  it("equal the average over all b-subsets (brute force, K ≤ 10)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 10 }),
        fc.nat(),
        (rewards, pick) => {
          const b = 1 + (pick % rewards.length);
          expect(expectedBestOf(rewards, b)).toBeCloseTo(bruteBestOf(rewards, b), 10);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("pass@b agrees with the general estimator on 0/1 rewards", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0, 1), { minLength: 1, maxLength: 12 }), fc.nat(), (rewards, pick) => {
        const b = 1 + (pick % rewards.length);
        const s = rewards.filter((r) => r === 1).length;
        expect(passAt(rewards.length, s, b)).toBeCloseTo(bruteBestOf(rewards, b), 10);
      }),
      { numRuns: 500 },
    );
  });

  it("curves are non-decreasing and reach the maximum at b = K", () => {
    const rewards = [0.1, 0.7, 0.3, 0.3, 0.9, 0];
    const curve = bestOfCurve(rewards, rewards.length);
    for (let j = 1; j < curve.length; j++) expect(curve[j]).toBeGreaterThanOrEqual(curve[j - 1] - 1e-12);
    expect(curve[0]).toBeCloseTo(rewards.reduce((a, b) => a + b) / rewards.length, 12);
    expect(curve[curve.length - 1]).toBeCloseTo(0.9, 12);
    expect(passAt(32, 0, 8)).toBe(0);
    expect(passAt(32, 32, 1)).toBe(1);
  });

  it("rejects b outside 1..K", () => {
    expect(() => expectedBestOf([1, 0], 3)).toThrow(RangeError);
    expect(() => expectedBestOf([1, 0], 0)).toThrow(RangeError);
  });
});
