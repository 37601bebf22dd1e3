/** A tenant's online settings (target units per request, bounds) and its price controller's state. */
import { type PriceState, currentPrice, defaultPriceConfig, initialPriceState, observeSpend } from "../allocation/price.js";
import type { Online } from "../contracts/tenants.js";

const DEFAULT = { target: 4, min: 1, max: 16, rounds: 4 };

export class OnlineSettings {
  constructor(private readonly sql: SqlStorage) {}

  private row(): { target: number; min: number; max: number; rounds: number; state: PriceState } {
    const r = this.sql.exec<{ target: number; min: number; max: number; max_rounds: number; state: string }>("SELECT target, min, max, max_rounds, state FROM online").toArray()[0];
    if (r) return { target: r.target, min: r.min, max: r.max, rounds: r.max_rounds, state: JSON.parse(r.state) as PriceState };
    return { ...DEFAULT, state: initialPriceState(defaultPriceConfig(DEFAULT.target)) };
  }

  private write(r: { target: number; min: number; max: number; rounds: number; state: PriceState }): void {
    this.sql.exec(
      `INSERT INTO online (k, target, min, max, max_rounds, state) VALUES (0, ?, ?, ?, ?, ?) ON CONFLICT(k) DO UPDATE SET
         target = excluded.target, min = excluded.min, max = excluded.max, max_rounds = excluded.max_rounds, state = excluded.state`,
      r.target,
      r.min,
      r.max,
      r.rounds,
      JSON.stringify(r.state),
    );
  }

  /** New settings; the price starts afresh. */
  set(o: Online): void {
    this.write({ target: o.target_units, min: o.min_units, max: o.max_units, rounds: o.max_rounds, state: initialPriceState(defaultPriceConfig(o.target_units)) });
  }

  view(): Online & { price: number; requests: number; mean_units: number } {
    const r = this.row();
    return { target_units: r.target, min_units: r.min, max_units: r.max, max_rounds: r.rounds, price: currentPrice(r.state), requests: r.state.requests, mean_units: r.state.meanUnits };
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
