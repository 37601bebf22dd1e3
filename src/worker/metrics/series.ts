/** Rollups (tenants/rollups.ts) as the JSON the console plots. Pure. */
import { POINT_COUNTERS, type UsagePointSchema } from "../../core/contracts/metrics.js";
import type { z } from "@hono/zod-openapi";
import type { Rollup } from "../tenants/rollups.js";
import { quantile } from "../../core/metrics/histogram.js";

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;
const ratio = (a: number, b: number) => (b > 0 ? round(a / b) : null);
const ms = (x: number | null) => (x === null ? null : round(x, 1));

export function pointOf(t: number, r: Rollup): z.infer<typeof UsagePointSchema> {
  return {
    t: new Date(t).toISOString(),
    ...(Object.fromEntries(POINT_COUNTERS.map((k) => [k, r[k]])) as Record<(typeof POINT_COUNTERS)[number], number>),
    samples_per_request: ratio(r.samples, r.ok),
    rounds_per_request: ratio(r.rounds, r.ok),
    units_per_prompt: ratio(r.decided_units, r.decided_prompts),
    price: ratio(r.price_sum, r.priced),
    target: r.target,
    added_ms: { p50: ms(quantile(r.added, 0.5)), p99: ms(quantile(r.added, 0.99)) },
    lm_ms: { p50: ms(quantile(r.lm, 0.5)), p99: ms(quantile(r.lm, 0.99)) },
  };
}
