import { type BatchProblem, freeUnitsAbove, prepareBatch } from "./problem.js";

/**
 * Units a single query gets when one unit of compute costs `price`: its first `min`
 * units, then every further unit whose (projected, non-increasing) gain is at least the
 * price and positive. This is the batch solver's rule seen from one query: at the batch
 * solution's `price`, each query's count agrees with the batch allocation (up to ties).
 * O(1) for Bernoulli curves, O(log max) otherwise.
 *
 * @example unitsAtPrice(singleQuery({ p: 0.5, max: 8 }), 0.1) // 3: gains 0.5, 0.25, 0.125
 */
export function unitsAtPrice(query: BatchProblem, price: number): number {
  prepareBatch(query);
  const free = price > 0 ? freeUnitsAbove(query, 0, price, false) : freeUnitsAbove(query, 0, 0, true);
  return query.min[0] + free;
}

/** A one-query problem, for the online path. */
export function singleQuery(q: { p?: number; marginals?: ArrayLike<number>; min?: number; max?: number }): BatchProblem {
  const gains = q.marginals ? Float64Array.from(q.marginals) : new Float64Array(0);
  const max = q.max ?? gains.length;
  return {
    n: 1,
    min: Int32Array.of(q.min ?? 0),
    max: Int32Array.of(q.marginals ? Math.min(max, gains.length) : max),
    p: Float64Array.of(q.p ?? NaN),
    offsets: Int32Array.of(0, gains.length),
    gains,
  };
}

/** Persistent state of one tenant's price controller (plain data: store it as JSON). */
export interface PriceState {
  /** ln λ: the controller moves in log space, since useful prices span decades. */
  readonly logPrice: number;
  /** Requests observed so far. */
  readonly requests: number;
  /** Exponential moving average of units per request, for reporting. */
  readonly meanUnits: number;
}

export interface PriceControllerConfig {
  /** Target average units per request (the tenant's B). */
  readonly target: number;
  readonly initialPrice: number;
  readonly minPrice: number;
  readonly maxPrice: number;
  /** Initial step size of the log-price update. */
  readonly step: number;
  /** The step decays as step / (1 + requests / decay)^0.6 ... */
  readonly decay: number;
  /** ... but never below this, so the price keeps tracking traffic that drifts. */
  readonly minStep: number;
  /** Window (in requests) of the moving average reported as meanUnits. */
  readonly window: number;
}

export const defaultPriceConfig = (target: number): PriceControllerConfig => ({
  target,
  initialPrice: 0.05,
  minPrice: 1e-6,
  maxPrice: 1,
  step: 0.5,
  decay: 50,
  minStep: 0.02,
  window: 200,
});

export function initialPriceState(config: PriceControllerConfig): PriceState {
  return { logPrice: Math.log(config.initialPrice), requests: 0, meanUnits: config.target };
}

export function currentPrice(state: PriceState): number {
  return Math.exp(state.logPrice);
}

/**
 * Updates the price after a request spent `units`.
 *
 * Stochastic approximation (Robbins–Monro) on ln λ: spend above target raises the price,
 * spend below lowers it, in proportion to the relative error. Expected spend is a
 * decreasing function of λ, so the fixed point is the price at which the average spend
 * equals the target. The step shrinks as requests accumulate (so the price settles
 * instead of oscillating with per-request noise) down to a floor (so it still follows a
 * shift in the traffic's difficulty).
 *
 * @example
 * const c = defaultPriceConfig(4);
 * observeSpend(initialPriceState(c), 8, c).logPrice > initialPriceState(c).logPrice // true
 */
/** The most one request's spend can count above the target, in multiples of it (spends of up to 9× the target count in full). */
export const MAX_RELATIVE_ERROR = 8;

export function observeSpend(state: PriceState, units: number, config: PriceControllerConfig): PriceState {
  const step = Math.max(config.minStep, config.step / Math.pow(1 + state.requests / config.decay, 0.6));
  // Relative error, bounded: one request that spends far above the target (up to 1,000
  // units against a target of 1) moves log λ by at most 8 steps, not 999.
  const error = Math.min(MAX_RELATIVE_ERROR, (units - config.target) / Math.max(config.target, 1));
  const logPrice = Math.min(
    Math.log(config.maxPrice),
    Math.max(Math.log(config.minPrice), state.logPrice + step * error),
  );
  const alpha = 1 / Math.min(state.requests + 1, config.window);
  return { logPrice, requests: state.requests + 1, meanUnits: state.meanUnits + alpha * (units - state.meanUnits) };
}
