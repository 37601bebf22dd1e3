// Audits (src/core/audit): what allot earned measured on prompts whose full sample set was
// drawn, and calibration learned from them. Checked against exhaustive enumeration (best of
// B without replacement), against simulated traffic whose truth is known (the interval
// covers it), and against a predictor miscalibrated on purpose (the refit finds it).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/core/allocation/select.js";
import { type Audit, MIN_AUDITS, auditedEarned, bestOf } from "../../src/core/audit/earned.js";
import { ece, refit, reliability, scaled } from "../../src/core/audit/calibration.js";

/** Every b-subset of the rewards, enumerated: the mean of each subset's best. */
function bestOfByEnumeration(r: readonly number[], b: number): number {
  let total = 0;
  let count = 0;
  const pick = (from: number, chosen: number[]) => {
    if (chosen.length === b) {
      total += Math.max(...chosen);
      count++;
      return;
    }
    for (let i = from; i < r.length; i++) pick(i + 1, [...chosen, r[i]]);
  };
  pick(0, []);
  return total / count;
}

describe("best of B from a sample set", () => {
  it("is the mean best over every B-subset (unbiased for best-of-B), binary and real-valued", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 8 }), fc.nat(7), (r, k) => {
        const b = 1 + (k % r.length);
        expect(bestOf(r, b)).toBeCloseTo(bestOfByEnumeration(r, b), 10);
      }),
    );
  });
});

/** Traffic whose truth is known: each prompt passes with its own p; allot's policy draws until a pass, at most `cap`. */
function simulate(n: number, seed: number, K = 16): { audits: Audit[] } {
  const rand = mulberry32(seed);
  const audits: Audit[] = [];
  for (let i = 0; i < n; i++) {
    const p = rand() < 0.5 ? rand() * 0.2 : 0.6 + rand() * 0.4; // easy and hard prompts
    const rewards = Array.from({ length: K }, () => (rand() < p ? 1 : 0));
    // The policy: stop at the first pass, at most 6 samples.
    let drawn = 0;
    let reward = 0;
    while (drawn < 6 && reward < 1) reward = Math.max(reward, rewards[drawn++]);
    audits.push({ rewards, units: drawn, reward });
  }
  return { audits };
}

describe("what allot earned, on audited prompts", () => {
  it("measures allot and uniform on the same samples: a stop-at-first-pass policy beats uniform at its own mean spend", () => {
    const { audits } = simulate(400, 1);
    const e = auditedEarned(audits)!;
    expect(e.prompts).toBe(400);
    expect(e.gain).toBeGreaterThan(0);
    expect(e.gain_ci95[0]).toBeLessThanOrEqual(e.gain);
    expect(e.gain_ci95[1]).toBeGreaterThanOrEqual(e.gain);
    expect(e.saved!).toBeGreaterThan(0);
    expect(e.saved_ci95![0]).toBeLessThanOrEqual(e.saved!);
    // Identical to evaluating uniform by hand at the policy's mean spend.
    const m = e.mean_units;
    const lo = Math.floor(m);
    const byHand = audits.reduce((s, a) => s + (lo + 1 - m) * bestOf(a.rewards, lo) + (m - lo) * bestOf(a.rewards, lo + 1), 0) / audits.length;
    expect(e.uniform_quality).toBeCloseTo(byHand, 10);
  });

  it("covers the truth: over independent samples of audits, the 95% interval holds the true gain about 95% of the time", () => {
    // The truth: the same policy and uniform on a very large sample of the same traffic.
    const big = auditedEarned(simulate(20_000, 99).audits, 10)!;
    let covered = 0;
    const trials = 40;
    for (let t = 0; t < trials; t++) {
      const e = auditedEarned(simulate(200, 1000 + t).audits, 300, t)!;
      if (e.gain_ci95[0] <= big.gain && big.gain <= e.gain_ci95[1]) covered++;
    }
    expect(covered / trials).toBeGreaterThanOrEqual(0.85);
  });

  it("says nothing about savings with too few audits, and gives the same figures for the same audits", () => {
    const few = auditedEarned(simulate(MIN_AUDITS - 1, 3).audits)!;
    expect(few.saved).toBeNull();
    expect(few.saved_ci95).toBeNull();
    const a = simulate(100, 4).audits;
    expect(auditedEarned(a)).toEqual(auditedEarned(a));
    expect(auditedEarned([])).toBeNull();
  });
});

describe("calibration from audits", () => {
  /** Prompts with true p, predicted by a predictor overconfident by temperature T0 (its logit × 1/T0). */
  function labelled(n: number, T0: number, seed: number) {
    const rand = mulberry32(seed);
    return Array.from({ length: n }, () => {
      const truth = 0.05 + 0.9 * rand();
      let successes = 0;
      for (let k = 0; k < 16; k++) if (rand() < truth) successes++;
      return { p: scaled(truth, T0), successes, samples: 16 };
    });
  }

  it("finds the temperature that undoes a miscalibration, and the ECE falls", () => {
    const data = labelled(2_000, 0.5, 7); // logits twice the truth's: overconfident
    const r = refit(data);
    // T = 2 halves them back.
    expect(r.temperature).toBeGreaterThan(1.8);
    expect(r.temperature).toBeLessThan(2.2);
    expect(r.ece_after).toBeLessThan(r.ece_before / 2);
    expect(r.strength).toBeGreaterThan(0);
  });

  it("leaves a calibrated predictor as it is (T near 1)", () => {
    const r = refit(labelled(2_000, 1, 8));
    expect(Math.abs(r.temperature - 1)).toBeLessThan(0.15);
    expect(ece(labelled(2_000, 1, 8))).toBeLessThan(0.05);
  });

  it("bins with counts and Wilson intervals that contain the observed rate", () => {
    const bins = reliability(labelled(500, 1, 9));
    expect(bins).toHaveLength(10);
    expect(bins.reduce((s, b) => s + b.n, 0)).toBe(500);
    for (const b of bins.filter((x) => x.n > 0)) {
      expect(b.ci95[0]).toBeLessThanOrEqual(b.ci95[1]);
      expect(b.predicted).toBeGreaterThanOrEqual(0);
    }
  });
});
