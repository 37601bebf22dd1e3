/** A tenant's online settings (target units per request, bounds) and its price controller's state. */
import { type PriceState, currentPrice, defaultPriceConfig, initialPriceState, observeSpend } from "../allocation/price.js";
import type { Online } from "../contracts/tenants.js";

const DEFAULT = { target: 4, min: 1, max: 16 };

export class OnlineSettings {
  constructor(private readonly sql: SqlStorage) {}

  private row(): { target: number; min: number; max: number; state: PriceState } {
    const r = this.sql.exec<{ target: number; min: number; max: number; state: string }>("SELECT target, min, max, state FROM online").toArray()[0];
    if (r) return { target: r.target, min: r.min, max: r.max, state: JSON.parse(r.state) as PriceState };
    return { ...DEFAULT, state: initialPriceState(defaultPriceConfig(DEFAULT.target)) };
  }

  private write(target: number, min: number, max: number, state: PriceState): void {
    this.sql.exec(
      "INSERT INTO online VALUES (0, ?, ?, ?, ?) ON CONFLICT(k) DO UPDATE SET target = excluded.target, min = excluded.min, max = excluded.max, state = excluded.state",
      target,
      min,
      max,
      JSON.stringify(state),
    );
  }

  /** New settings; the price starts afresh. */
  set(o: Online): void {
    this.write(o.target_units, o.min_units, o.max_units, initialPriceState(defaultPriceConfig(o.target_units)));
  }

  view(): Online & { price: number; requests: number; mean_units: number } {
    const r = this.row();
    return { target_units: r.target, min_units: r.min, max_units: r.max, price: currentPrice(r.state), requests: r.state.requests, mean_units: r.state.meanUnits };
  }

  /** Requests spent `units` (one entry each): move the price so that the average spend tracks the target. */
  observe(units: readonly number[]): number {
    const r = this.row();
    const config = defaultPriceConfig(r.target);
    const state = units.reduce((s, u) => observeSpend(s, u, config), r.state);
    this.write(r.target, r.min, r.max, state);
    return currentPrice(state);
  }
}
