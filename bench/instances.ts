import type { BatchProblem } from "../src/core/allocation/index.js";
import { mulberry32 } from "../src/core/allocation/select.js";

/**
 * A deterministic benchmark instance of n queries with units 1..max: half Bernoulli
 * curves with p ~ Beta(½, ½) (the paper's spread of difficulties), half explicit
 * real-valued curves (geometric decay with noise, sorted so they are non-increasing and
 * both solvers see the same problem).
 */
export function makeInstance(n: number, max: number, seed = 1): BatchProblem {
  const rand = mulberry32(seed);
  const explicit = Math.floor(n / 2);
  const p = new Float64Array(n);
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    offsets[i + 1] = offsets[i] + (i < explicit ? max : 0);
    p[i] = i < explicit ? NaN : Math.sin((rand() * Math.PI) / 2) ** 2;
  }
  const gains = new Float64Array(offsets[n]);
  const curve = new Float64Array(max);
  for (let i = 0; i < explicit; i++) {
    const scale = rand();
    const decay = 0.5 + 0.49 * rand();
    for (let j = 0; j < max; j++) curve[j] = scale * decay ** j * (0.9 + 0.2 * rand());
    curve.sort().reverse();
    gains.set(curve, offsets[i]);
  }
  return { n, min: new Int32Array(n).fill(1), max: new Int32Array(n).fill(max), p, offsets, gains };
}

/** A copy whose gains the solver may project in place without touching the original. */
export function cloneInstance(b: BatchProblem): BatchProblem {
  return { ...b, gains: b.gains.slice() };
}
