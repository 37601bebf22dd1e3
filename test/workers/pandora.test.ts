// Waves for real-valued rewards (src/allocation/pandora.ts) against independent references:
// brute-force expectations over every outcome, the reservation value's defining equation,
// value iteration for the one-query stopping rule, and the curve a distribution implies.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  atomsFromCurve,
  exceedance,
  expectedBestWith,
  expectedExcess,
  improvementGains,
  posteriorSketch,
  reservationValue,
  sketchOf,
} from "../../src/core/allocation/pandora.js";
import { wantedAtPrice } from "../../src/core/allocation/waves.js";
import { bestOfCurve } from "../../src/core/predictor/estimators.js";

const rewards = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 });

/** E[max(best, X₁..X_j)] by enumerating all n^j equally likely draws. */
function bruteBest(xs: readonly number[], best: number, j: number): number {
  let total = 0;
  let count = 0;
  const go = (depth: number, m: number) => {
    if (depth === j) {
      total += m;
      count++;
      return;
    }
    for (const x of xs) go(depth + 1, Math.max(m, x));
  };
  go(0, best);
  return total / count;
}

describe("expected best and improvement gains", () => {
  it("E[max(best, X₁..X_j)] matches enumeration; gains are its non-increasing increments", () => {
    fc.assert(
      fc.property(rewards, fc.double({ min: 0, max: 1, noNaN: true }), (xs, best) => {
        const d = sketchOf(Float64Array.from(xs));
        for (let j = 0; j <= 3; j++) expect(expectedBestWith(d, best, j)).toBeCloseTo(bruteBest(xs, best, j), 10);
        const g = improvementGains(d, best, 4);
        g.forEach((x, k) => {
          expect(x).toBeCloseTo(bruteBest(xs, best, k + 1) - bruteBest(xs, best, k), 10);
          if (k > 0) expect(x).toBeLessThanOrEqual(g[k - 1] + 1e-12);
        });
      }),
    );
  });
});

describe("Pandora's reservation value", () => {
  it("solves E[(X − σ)⁺] = price, and σ falls as the price rises", () => {
    fc.assert(
      fc.property(rewards, fc.double({ min: 0.001, max: 2, noNaN: true }), (xs, price) => {
        const d = sketchOf(Float64Array.from(xs));
        const sigma = reservationValue(d, price);
        // Below the smallest atom the excess is E[X] − σ (σ may be negative there).
        const excess = sigma < d.x[0] ? xs.reduce((a, b) => a + b, 0) / xs.length - sigma : expectedExcess(d, sigma);
        expect(excess).toBeCloseTo(price, 9);
        expect(reservationValue(d, price * 1.5)).toBeLessThanOrEqual(sigma + 1e-12);
      }),
    );
  });

  it("the rule (draw while the best is below σ) is what value iteration finds optimal", () => {
    // One query, i.i.d. draws from a few reward levels, a price per draw, at most H draws:
    // V(h, y) = max(y, −λ + E[V(h − 1, max(y, X))]). The rule should draw exactly where drawing beats stopping.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 2, maxLength: 5 }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), (levels, price) => {
        const xs = levels.map((l) => l / 4);
        const d = sketchOf(Float64Array.from(xs));
        const H = 6;
        const memo = new Map<string, number>();
        const V = (h: number, y: number): number => {
          if (h === 0) return y;
          const key = `${h}|${y}`;
          if (memo.has(key)) return memo.get(key)!;
          const v = Math.max(y, -price + xs.reduce((s, x) => s + V(h - 1, Math.max(y, x)), 0) / xs.length);
          memo.set(key, v);
          return v;
        };
        for (const y of [0, 0.25, 0.5, 0.75, 1]) {
          const draw = -price + xs.reduce((s, x) => s + V(H - 1, Math.max(y, x)), 0) / xs.length;
          const wants = wantedAtPrice({ atoms: d.x }, { drawn: 0, best: y }, price, H) > 0;
          // Where the two differ by less than rounding, either choice is optimal.
          if (Math.abs(draw - y) > 1e-9) expect(wants).toBe(draw > y);
        }
      }),
    );
  });
});

describe("the distribution a curve implies", () => {
  it("reproduces the best-of-b curve of a known distribution", () => {
    // Rewards: 0 w.p. 0.3, 0.5 w.p. 0.4, 1 w.p. 0.3; the curve from many samples of it.
    const xs = [...Array(30).fill(0), ...Array(40).fill(0.5), ...Array(30).fill(1)];
    const curve = bestOfCurve(xs, 16);
    const atoms = atomsFromCurve(curve);
    const d = sketchOf(atoms);
    // To within 0.02 at every b. (The curve pins the distribution's moments, not its exact
    // atoms: the fit is a smoother distribution with the same curve, so tails are not asserted.)
    for (let b = 1; b <= 16; b++) expect(Math.abs(expectedBestWith(d, 0, b) - curve[b - 1])).toBeLessThan(0.02);
    expect(atoms.every((x, k) => x >= 0 && x <= 1 && (k === 0 || x >= atoms[k - 1]))).toBe(true);
  });
});

describe("the Dirichlet-process update", () => {
  it("weighs the prediction by s and each sample by 1; with binary rewards it is the Beta posterior mean", () => {
    const atoms = Float64Array.from({ length: 10 }, (_, k) => (k < 3 ? 1 : 0)); // p̂ = 0.3
    const post = posteriorSketch(atoms, 4, [0, 0]);
    expect(post.w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // Beta(1.2, 2.8) after 2 failures: mean 1.2 / 6 = 0.2.
    expect(exceedance(post, 1)).toBeCloseTo(0.2, 12);
  });
});
