/**
 * A tenant's traffic, rolled up where it is written (the ledger's SQLite): one row per
 * minute (kept MINUTE_RETENTION), one per hour (HOUR_RETENTION), and one for all time
 * (Prometheus counters must never go down). A request adds to all three; old rows are
 * dropped at most once a minute, so the table stays under ~3,700 rows of ~1 KB.
 * Storage only: the Durable Object serialises the calls.
 */
import type { RequestRecord, Served, Step } from "../../core/contracts/metrics.js";
import { COUNTERS, type Counter, STEPS } from "../../core/contracts/metrics.js";
import { type EarnedSums, addEarned, calibrationBin, emptyCalibration, emptyEarned, type CalibrationBins } from "../../core/metrics/earned.js";
import { type Histogram, addHistograms, emptyHistogram, observe } from "../../core/metrics/histogram.js";

export const MINUTE_RETENTION_MS = 86_400_000;
export const HOUR_RETENTION_MS = 92 * 86_400_000;

/** A rollup: every counter of the one table (contracts/metrics.ts COUNTERS), and what does not sum (the target in force, histograms, what allot earned). */
export type Rollup = Record<Counter, number> & {
  target: number | null;
  added: Histogram;
  lm: Histogram;
  earned: EarnedSums;
};

/**
 * The all-time row also counts requests per route and status, the live calibration per
 * predictor, the online prompts each predictor or router decided per model (`served`), and
 * batches' prompts per predictor (or "uniform") and model (`batch_served`), apart.
 */
export interface Lifetime extends Rollup {
  by_status: Record<string, number>;
  calibration: Record<string, CalibrationBins>;
  served: Served;
  batch_served: Served;
}

const COUNTER_NAMES = Object.keys(COUNTERS) as Counter[];

export const emptyRollup = (): Rollup => ({
  ...(Object.fromEntries(COUNTER_NAMES.map((k) => [k, 0])) as Record<Counter, number>),
  target: null,
  added: emptyHistogram(),
  lm: emptyHistogram(),
  earned: emptyEarned(),
});

/** a + b; the target is b's (the later) where it has one. */
export function addRollups(a: Rollup, b: Rollup): Rollup {
  return {
    ...(Object.fromEntries(COUNTER_NAMES.map((k) => [k, a[k] + b[k]])) as Record<Counter, number>),
    target: b.target ?? a.target,
    added: addHistograms(a.added, b.added),
    lm: addHistograms(a.lm, b.lm),
    earned: addEarned(a.earned, b.earned),
  };
}

/** One request as a rollup of one. */
export function rollupOf(r: RequestRecord, units: number, price: number, target: number): Rollup {
  const ok = r.status < 400;
  const added = Math.max(0, r.total_ms - r.lm_ms);
  return {
    ...emptyRollup(),
    requests: 1,
    ok: ok ? 1 : 0,
    refused: r.status === 429 ? 1 : 0,
    rejected: r.status >= 400 && r.status < 500 && r.status !== 429 ? 1 : 0,
    failed: r.status >= 500 ? 1 : 0,
    prompts: r.prompts,
    units,
    samples: r.samples,
    rounds: r.rounds,
    priced: ok && r.priced ? 1 : 0,
    price_sum: ok && r.priced ? price : 0,
    decided_prompts: ok ? (r.decided?.length ?? 0) : 0,
    decided_units: ok ? (r.decided ?? []).reduce((s, u) => s + u, 0) : 0,
    target,
    lm_retries: r.lm_retries,
    lm_errors: r.lm_errors,
    added: ok ? observe(emptyHistogram(), added) : emptyHistogram(),
    lm: ok ? observe(emptyHistogram(), r.lm_ms) : emptyHistogram(),
    added_sum: ok ? added : 0,
    lm_sum: ok ? r.lm_ms : 0,
    earned: r.earned ?? emptyEarned(),
  };
}

/** What only the all-time row keeps: requests per "route status", calibration bins per predictor, prompts per predictor and model. */
export type Extras = Pick<Lifetime, "by_status" | "calibration" | "served"> & Partial<Pick<Lifetime, "batch_served">>;

export const emptyExtras = (): Extras => ({ by_status: {}, calibration: {}, served: {} });

/** a + b, as a new object. */
export function addServed(a: Served, b: Served): Served {
  const out: Served = {};
  for (const s of [a, b])
    for (const [p, models] of Object.entries(s))
      for (const [m, x] of Object.entries(models)) {
        const into = ((out[p] ??= {})[m] ??= { prompts: 0, samples: 0, units: 0 });
        into.prompts += x.prompts;
        into.samples += x.samples;
        into.units += x.units;
      }
  return out;
}

/** One request's extras: its route and status, its calibration points binned, and what it served per model. */
export function extrasOf(r: RequestRecord): Extras {
  const out: Extras = { by_status: { [`${r.route} ${r.status}`]: 1 }, calibration: {}, served: r.served ?? {} };
  const cal = r.calibration;
  if (cal && cal.points.length > 0) {
    const bins = (out.calibration[cal.predictor] = emptyCalibration());
    for (const p of cal.points) {
      const b = bins[calibrationBin(p.predicted)];
      b.n++;
      b.predicted += p.predicted;
      b.observed += p.observed;
    }
  }
  return out;
}

/** a + b, as new objects. */
export function addExtras(a: Extras, b: Extras): Extras {
  const by_status = { ...a.by_status };
  for (const [k, n] of Object.entries(b.by_status)) by_status[k] = (by_status[k] ?? 0) + n;
  const calibration: Record<string, CalibrationBins> = {};
  for (const [p, bins] of Object.entries(a.calibration)) calibration[p] = bins.map((x) => ({ ...x }));
  for (const [p, bins] of Object.entries(b.calibration)) {
    const into = (calibration[p] ??= emptyCalibration());
    bins.forEach((x, i) => {
      into[i].n += x.n;
      into[i].predicted += x.predicted;
      into[i].observed += x.observed;
    });
  }
  return { by_status, calibration, served: addServed(a.served ?? {}, b.served ?? {}), batch_served: addServed(a.batch_served ?? {}, b.batch_served ?? {}) };
}

const RES = { minute: "m", hour: "h", all: "all" } as const;

export class Rollups {
  private prunedAt = 0;
  constructor(private readonly sql: SqlStorage) {}

  private read(res: string, t: number): Rollup | null {
    const row = this.sql.exec<{ data: string }>("SELECT data FROM rollup WHERE res = ? AND t = ?", res, t).toArray()[0];
    return row ? { ...emptyRollup(), ...(JSON.parse(row.data) as Rollup) } : null;
  }

  private write(res: string, t: number, r: Rollup): void {
    this.sql.exec("INSERT INTO rollup (res, t, data) VALUES (?, ?, ?) ON CONFLICT(res, t) DO UPDATE SET data = excluded.data", res, t, JSON.stringify(r));
  }

  lifetime(): Lifetime {
    const r = this.read(RES.all, 0) as Partial<Lifetime> | null;
    return { ...emptyRollup(), by_status: {}, calibration: {}, served: {}, batch_served: {}, ...r } as Lifetime;
  }

  /** Adds `delta` to the minute, the hour and all time containing `now`, and `extras` to all time. */
  add(delta: Rollup, now: number, extras: Extras = emptyExtras()): void {
    const minute = now - (now % STEPS.minute);
    const hour = now - (now % STEPS.hour);
    const m = this.read(RES.minute, minute);
    this.write(RES.minute, minute, m ? addRollups(m, delta) : delta);
    const h = this.read(RES.hour, hour);
    this.write(RES.hour, hour, h ? addRollups(h, delta) : delta);
    const all = this.lifetime();
    const sum = addExtras({ by_status: all.by_status, calibration: all.calibration, served: all.served, batch_served: all.batch_served }, extras);
    this.write(RES.all, 0, { ...addRollups(all, delta), ...sum });
    if (!m && now - this.prunedAt >= STEPS.minute) this.prune(now);
  }

  /** Drops rows past their retention. */
  prune(now: number): void {
    this.prunedAt = now;
    this.sql.exec("DELETE FROM rollup WHERE (res = ? AND t < ?) OR (res = ? AND t < ?)", RES.minute, now - MINUTE_RETENTION_MS, RES.hour, now - HOUR_RETENTION_MS);
  }

  /** Buckets of `step` from `from` (aligned down) to `to` (exclusive), each the sum of the rows within it; empty buckets are empty rollups. */
  series(from: number, to: number, step: Step): { t: number; r: Rollup }[] {
    const width = STEPS[step];
    const res = step === "minute" ? RES.minute : RES.hour;
    const start = from - (from % width);
    const out = new Map<number, Rollup>();
    for (let t = start; t < to; t += width) out.set(t, emptyRollup());
    const rows = this.sql.exec<{ t: number; data: string }>("SELECT t, data FROM rollup WHERE res = ? AND t >= ? AND t < ? ORDER BY t", res, start, to).toArray();
    for (const row of rows) {
      const t = row.t - (row.t % width);
      const r = { ...emptyRollup(), ...(JSON.parse(row.data) as Rollup) };
      out.set(t, addRollups(out.get(t) ?? emptyRollup(), r));
    }
    return [...out].map(([t, r]) => ({ t, r }));
  }
}
