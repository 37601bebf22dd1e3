/**
 * The online price controller replayed on recorded traffic: each request is a held-out
 * prompt with the predictor's recorded p and its K recorded samples. The controller sets
 * k from p at the current price, sees the spend, moves the price; quality is the unbiased
 * best-of-k estimate from the prompt's own samples, so no sampling noise is added. Pure:
 * the same code runs in tests, in `allot eval` and anywhere else.
 */
import { mulberry32 } from "./select.js";
import { type PriceControllerConfig, currentPrice, defaultPriceConfig, initialPriceState, observeSpend, singleQuery, unitsAtPrice } from "./price.js";
import { passAt } from "../predictor/estimators.js";

export interface TracePrompt {
  /** The predictor's single-sample success. */
  readonly p: number;
  /** Samples that passed, out of `samples`. */
  readonly successes: number;
  readonly samples: number;
}

export interface SimulationOptions {
  readonly target: number;
  readonly min: number;
  readonly max: number;
  readonly requests: number;
  readonly seed: number;
  readonly config?: PriceControllerConfig;
}

export interface Simulation {
  /** Units and price per request, in arrival order. */
  readonly units: Int32Array;
  readonly price: Float64Array;
  /** The best-of-k quality each request got (unbiased, from its recorded samples). */
  readonly quality: Float64Array;
  /** The prompt each request drew. */
  readonly prompt: Int32Array;
}

/** Requests drawn uniformly, with replacement, from the trace (seeded). */
export function simulateController(trace: readonly TracePrompt[], o: SimulationOptions): Simulation {
  const config = o.config ?? defaultPriceConfig(o.target);
  const rand = mulberry32(o.seed);
  let state = initialPriceState(config);
  const units = new Int32Array(o.requests);
  const price = new Float64Array(o.requests);
  const quality = new Float64Array(o.requests);
  const prompt = new Int32Array(o.requests);
  for (let r = 0; r < o.requests; r++) {
    const i = Math.floor(rand() * trace.length);
    const t = trace[i];
    const lambda = currentPrice(state);
    const k = Math.min(t.samples, Math.max(o.min, unitsAtPrice(singleQuery({ p: t.p, min: o.min, max: o.max }), lambda)));
    prompt[r] = i;
    price[r] = lambda;
    units[r] = k;
    quality[r] = passAt(t.samples, t.successes, k);
    state = observeSpend(state, k, config);
  }
  return { units, price, quality, prompt };
}

/** Mean of xs[from..to). */
export function meanOf(xs: ArrayLike<number>, from = 0, to = xs.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += xs[i];
  return s / (to - from);
}

/**
 * Quality of uniform best-of-b on the same requests, b possibly fractional: a b = 4.3
 * spend is best-of-4 on 70% of requests and best-of-5 on 30%, in expectation.
 */
export function uniformQuality(trace: readonly TracePrompt[], s: Simulation, b: number, from = 0, to = s.prompt.length): number {
  const lo = Math.floor(b);
  const w = b - lo;
  let q = 0;
  for (let r = from; r < to; r++) {
    const t = trace[s.prompt[r]];
    q += (1 - w) * passAt(t.samples, t.successes, Math.min(lo, t.samples)) + (w > 0 ? w * passAt(t.samples, t.successes, Math.min(lo + 1, t.samples)) : 0);
  }
  return q / (to - from);
}

/** [request number, mean of the last `window` requests (all so far, before the window fills)]. */
export function trailingMeans(xs: ArrayLike<number>, window: number): [number, number][] {
  const out: [number, number][] = [];
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    if (i >= window) s -= xs[i - window];
    out.push([i + 1, s / Math.min(i + 1, window)]);
  }
  return out;
}
