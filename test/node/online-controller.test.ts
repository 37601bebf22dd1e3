// The online price controller replayed on recorded traffic: the shipped strong-binary
// predictor's outputs on the 1,000 held-out test prompts, with each prompt's 32 recorded
// samples (reports/strong-binary/trace.json, written by `allot eval`).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type TracePrompt, meanOf, simulateController, uniformQuality } from "../../src/core/allocation/simulate.js";

const trace = JSON.parse(readFileSync(new URL("../../reports/strong-binary/trace.json", import.meta.url), "utf8")) as TracePrompt[];

describe("the online price controller on recorded predictor outputs", () => {
  it("replays a real trace", () => {
    expect(trace).toHaveLength(1000);
    expect(trace.every((t) => t.p >= 0 && t.p <= 1 && t.samples === 32 && t.successes >= 0 && t.successes <= 32)).toBe(true);
  });

  for (const target of [2, 4, 8]) {
    for (const seed of [1, 2, 3]) {
      it(`B = ${target}, seed ${seed}: the mean spend settles within ±10% after 300 requests, and beats uniform at that spend`, () => {
        const sim = simulateController(trace, { target, min: 1, max: 16, requests: 2000, seed });
        const mean = meanOf(sim.units, 300);
        expect(Math.abs(mean - target) / target).toBeLessThan(0.1);
        // Each stretch of 500 requests after the warm-up also stays within ±10%.
        for (let from = 300; from + 500 <= 2000; from += 500) {
          expect(Math.abs(meanOf(sim.units, from, from + 500) - target) / target).toBeLessThan(0.1);
        }
        const allot = meanOf(sim.quality, 300);
        const uniform = uniformQuality(trace, sim, mean, 300);
        expect(allot).toBeGreaterThan(uniform + 0.005);
        expect(allot).toBeGreaterThan(uniformQuality(trace, sim, target, 300));
      });
    }
  }

  it("never gives a request fewer than min or more than max units", () => {
    const sim = simulateController(trace, { target: 3, min: 2, max: 6, requests: 1000, seed: 9 });
    expect(Math.min(...sim.units)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...sim.units)).toBeLessThanOrEqual(6);
  });
});
