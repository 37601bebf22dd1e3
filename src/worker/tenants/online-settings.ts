/** A tenant's online settings (target units per request, bounds) and its price controller's state. */
import { type PriceState, currentPrice, defaultPriceConfig, initialPriceState, observeSpend } from "../../core/allocation/price.js";
import type { RequestRecord } from "../../core/contracts/metrics.js";
import type { Online } from "../../core/contracts/tenants.js";
import type { Refusal } from "./budget.js";
import type { Applied } from "../../core/audit/recalibration.js";

/**
 * The online settings as serving reads them: with the price and the audit rate now in
 * force, and (added by the ledger: refits.ts) the tenant's refits per predictor name when
 * its calibration is "audited", so a request's begin carries them to planning.
 */
export type OnlineView = Omit<Online, "audit_rate" | "calibration"> & {
  audit_rate: number;
  calibration: Calibration;
  price: number;
  requests: number;
  mean_units: number;
  refits?: Readonly<Record<string, Applied>>;
};

/** Whether the tenant serves its predictors refitted on its audits, or as shipped. */
export type Calibration = NonNullable<Online["calibration"]>;

/** What an online request tells its ledger (or budget shard) before any LM work. */
export type BeginRequest = {
  /** The request's own key: a begin repeated with it (a retry after a lost answer) returns the same reservation. */
  key: string;
  prompts: number;
  pinned: number | null;
  rounds: number | null;
  greedy: boolean;
  unitCost: number;
  /** Units each prompt's prefill costs (its hidden state: PREFILL_UNITS). */
  prefill: number;
  route?: RequestRecord["route"];
};

/** A refusal as the request learns it: the window is spent, or units are held by requests in flight (retry after `retryAfterMs`). */
export type BeginRefusal = Refusal & { retryAfterMs: number };

/**
 * The tenant's tightest budget window when a request began (its reservation counted as
 * reserved): what the x-ratelimit-* headers report, without another ledger call. Null
 * when the tenant has no limit, or when a budget shard answered (it does not know).
 */
export type BudgetView = { limit: number; remaining: number; resetsAt: number } | null;

/** The answer: the settings and price, and a reservation (null when the request is invalid for this tenant). */
export type Begun = OnlineView & { invalid: "units" | "rounds" | null; reservation: { ok: true; id: string; units: number } | BeginRefusal | null; budget?: BudgetView };

/** A pinned units or rounds value above the tenant's maximum. */
export const invalidFor = (o: Online, req: BeginRequest): "units" | "rounds" | null =>
  req.pinned !== null && req.pinned > o.max_units ? "units" : req.rounds !== null && req.rounds > o.max_rounds ? "rounds" : null;

/**
 * Units per prompt a request holds when it begins (least, which is also what its first
 * round needs: one sample, or its pinned units, or the cheapest sample's `unitCost`,
 * after its prefill) and could spend at most (most: its pinned units, else the tenant's
 * max_units; 1 under greedy decoding without routing). A request holds only what its
 * next round draws and tops up before each round (TenantLedger.step), so requests in
 * flight hold about what they spend, never their caps: a budget is refused only when
 * what is used and truly in flight leaves no room.
 */
export function boundsFor(o: Online, req: BeginRequest): { least: number; want: number; most: number } {
  const least = req.pinned ?? Math.max(req.greedy ? 1 : o.min_units, req.unitCost);
  const most = req.pinned ?? (req.greedy && req.unitCost === 1 ? 1 : Math.max(least, o.max_units));
  return { least: req.prefill + least, want: req.prefill + least, most: req.prefill + most };
}

/** What a request refused before any work records. */
export const refusalOf = (req: BeginRequest, status: number): RequestRecord => nothingDrawn(req.route ?? "completions", status, req.prompts);

/** The record of a request that ended with nothing drawn: its route, status and prompts. */
export const nothingDrawn = (route: RequestRecord["route"], status: number, prompts: number): RequestRecord => ({
  route,
  status,
  prompts,
  samples: 0,
  rounds: 0,
  priced: false,
  total_ms: 0,
  lm_ms: 0,
  lm_retries: 0,
  lm_errors: 0,
  earned: null,
  calibration: null,
});

const DEFAULT = { target: 4, min: 1, max: 16, rounds: 4, shards: 0, auditRate: null, calibration: null };

/** `auditRate` null: the deployment's AUDIT_RATE. */
/** `calibration` null: "audited". */
type Row = { target: number; min: number; max: number; rounds: number; shards: number; auditRate: number | null; calibration: Calibration | null; state: PriceState };

export class OnlineSettings {
  /** `defaultAuditRate`: the deployment's AUDIT_RATE, for a tenant that does not set its own. */
  constructor(
    private readonly sql: SqlStorage,
    private readonly defaultAuditRate: () => number,
  ) {}

  private row(): Row {
    const r = this.sql
      .exec<{ target: number; min: number; max: number; max_rounds: number; shards: number; audit_rate: number | null; calibration: Calibration | null; state: string }>(
        "SELECT target, min, max, max_rounds, shards, audit_rate, calibration, state FROM online",
      )
      .toArray()[0];
    if (r) return { target: r.target, min: r.min, max: r.max, rounds: r.max_rounds, shards: r.shards, auditRate: r.audit_rate, calibration: r.calibration, state: JSON.parse(r.state) as PriceState };
    return { ...DEFAULT, state: initialPriceState(defaultPriceConfig(DEFAULT.target)) };
  }

  private write(r: Row): void {
    this.sql.exec(
      `INSERT INTO online (k, target, min, max, max_rounds, shards, audit_rate, calibration, state) VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(k) DO UPDATE SET
         target = excluded.target, min = excluded.min, max = excluded.max, max_rounds = excluded.max_rounds, shards = excluded.shards,
         audit_rate = excluded.audit_rate, calibration = excluded.calibration, state = excluded.state`,
      r.target,
      r.min,
      r.max,
      r.rounds,
      r.shards,
      r.auditRate,
      r.calibration,
      JSON.stringify(r.state),
    );
  }

  /** New settings; the price starts afresh. */
  set(o: Online): void {
    this.write({
      target: o.target_units,
      min: o.min_units,
      max: o.max_units,
      rounds: o.max_rounds,
      shards: o.shards,
      auditRate: o.audit_rate ?? null,
      calibration: o.calibration ?? null,
      state: initialPriceState(defaultPriceConfig(o.target_units)),
    });
  }

  view(): OnlineView {
    const r = this.row();
    return {
      target_units: r.target,
      min_units: r.min,
      max_units: r.max,
      max_rounds: r.rounds,
      shards: r.shards,
      audit_rate: r.auditRate ?? this.defaultAuditRate(),
      calibration: r.calibration ?? "audited",
      price: currentPrice(r.state),
      requests: r.state.requests,
      mean_units: r.state.meanUnits,
    };
  }

  /** Requests spent `units` (one entry each): move the price so that the average spend tracks the target. */
  observe(units: readonly number[]): number {
    const r = this.row();
    const config = defaultPriceConfig(r.target);
    const state = units.reduce((s, u) => observeSpend(s, u, config), r.state);
    this.write({ ...r, state });
    return currentPrice(state);
  }
}
