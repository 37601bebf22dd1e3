/**
 * The online controller on recorded traffic, for `allot eval`: per target B, where the
 * mean spend settles, how far a trailing window strays, and quality vs uniform best-of-B
 * on the same requests. Pure (the SVG is a string).
 */
import { type TracePrompt, meanOf, simulateController, trailingMeans, uniformQuality } from "../../core/allocation/simulate.js";
import { lineChart } from "./plot.js";

export interface OnlineEval {
  readonly target: number;
  readonly requests: number;
  /** Requests before the spend is judged to have settled. */
  readonly warmup: number;
  /** Mean units per request after the warm-up. */
  readonly meanUnits: number;
  /** Range of the trailing mean over `window` requests, after the warm-up. */
  readonly window: number;
  readonly trailing: readonly [number, number];
  /**
   * The standard deviation of a `window`-request mean that the traffic alone causes
   * (std of units per request / √window): a trailing mean strays this much even at a
   * perfectly steady price.
   */
  readonly windowNoise: number;
  /** Mean best-of-k quality after the warm-up: allot's, and uniform best-of-(its mean spend) on the same requests. */
  readonly quality: number;
  readonly uniformQuality: number;
}

export const ONLINE_SETTINGS = { requests: 2000, warmup: 300, window: 200, seed: 1, min: 1 } as const;

export function evaluateOnline(trace: readonly TracePrompt[], targets: readonly number[], max: number): { results: OnlineEval[]; svg: string } {
  const { requests, warmup, window, seed, min } = ONLINE_SETTINGS;
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
  const results: OnlineEval[] = [];
  const series = targets.flatMap((target, i) => {
    const sim = simulateController(trace, { target, min, max, requests, seed });
    const meanUnits = meanOf(sim.units, warmup);
    const means = trailingMeans(sim.units, window);
    const settled = means.filter(([r]) => r > warmup + window).map(([, m]) => m);
    const variance = meanOf(Array.from(sim.units.subarray(warmup), (u) => (u - meanUnits) ** 2));
    results.push({
      target,
      requests,
      warmup,
      meanUnits,
      window,
      trailing: [Math.min(...settled), Math.max(...settled)],
      windowNoise: Math.sqrt(variance / window),
      quality: meanOf(sim.quality, warmup),
      uniformQuality: uniformQuality(trace, sim, meanUnits, warmup),
    });
    const color = colors[i % colors.length];
    return [
      { name: `B = ${target}`, color, points: means.filter(([r]) => r < 50 || r % 5 === 0) },
      { name: `B ± 10%`, color, dashed: true, points: [[1, target * 1.1], [requests, target * 1.1]] as [number, number][] },
      { name: "", color, dashed: true, points: [[1, target * 0.9], [requests, target * 0.9]] as [number, number][] },
    ];
  });
  const top = Math.ceil((Math.max(...targets) * 1.25) / 5) * 5;
  const svg = lineChart(`Online controller: mean units of the last ${window} requests`, "requests", "units per request", series, { y: [0, top] });
  return { results, svg };
}
