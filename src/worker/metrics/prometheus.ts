/**
 * GET /metrics in Prometheus's text exposition format (version 0.0.4): counters from each
 * tenant's all-time rollup, gauges from its budget and price now. Label values are
 * escaped as the format requires. Pure.
 */
import type { Lifetime } from "../tenants/rollups.js";
import { COUNTERS, type Counter } from "../../core/contracts/metrics.js";
import { LATENCY_BOUNDS_MS } from "../../core/metrics/histogram.js";

export interface TenantMetrics {
  readonly id: string;
  readonly lifetime: Lifetime;
  readonly price: number;
  readonly target: number;
  /** Calls to the tenant's ledger object by kind, since that object started. */
  readonly calls?: Readonly<Record<string, number>>;
  readonly windows: readonly { window: string; limit: number | null; used: number; reserved: number }[];
}

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(",")}}`;

export function prometheusText(tenants: readonly TenantMetrics[]): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge" | "histogram", help: string, rows: () => string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows());
  };
  const each = (f: (t: TenantMetrics) => string[]) => () => tenants.flatMap(f);

  family("allot_tenants", "gauge", "Tenants listed in the directory.", () => [`allot_tenants ${tenants.length}`]);
  family(
    "allot_requests_total",
    "counter",
    "Online requests by route and HTTP status.",
    each((t) =>
      Object.entries(t.lifetime.by_status).map(([key, n]) => {
        const [route, status] = key.split(" ");
        return `allot_requests_total${labels({ tenant: t.id, route, status })} ${n}`;
      }),
    ),
  );
  // The counters the one table (contracts/metrics.ts COUNTERS) names a Prometheus family for.
  for (const [k, c] of Object.entries(COUNTERS) as [Counter, (typeof COUNTERS)[Counter]][]) {
    if (!("prometheus" in c)) continue;
    family(c.prometheus, "counter", `${c.doc[0].toUpperCase()}${c.doc.slice(1)}.`, each((t) => [`${c.prometheus}${labels({ tenant: t.id })} ${t.lifetime[k]}`]));
  }
  family(
    "allot_units_total",
    "counter",
    "Units charged, online and by batches.",
    each((t) => [`allot_units_total${labels({ tenant: t.id, kind: "online" })} ${t.lifetime.units}`, `allot_units_total${labels({ tenant: t.id, kind: "batch" })} ${t.lifetime.batch_units}`]),
  );
  const histogram = (name: string, help: string, pick: (l: Lifetime) => { h: readonly number[]; sum: number }) =>
    family(
      name,
      "histogram",
      help,
      each((t) => {
        const { h, sum } = pick(t.lifetime);
        let cumulative = 0;
        const rows = LATENCY_BOUNDS_MS.map((b, i) => {
          cumulative += h[i] ?? 0;
          return `${name}_bucket${labels({ tenant: t.id, le: String(b / 1000) })} ${cumulative}`;
        });
        cumulative += h[LATENCY_BOUNDS_MS.length] ?? 0;
        rows.push(`${name}_bucket${labels({ tenant: t.id, le: "+Inf" })} ${cumulative}`, `${name}_sum${labels({ tenant: t.id })} ${sum / 1000}`, `${name}_count${labels({ tenant: t.id })} ${cumulative}`);
        return rows;
      }),
    );
  histogram("allot_added_latency_seconds", "Latency allot added to successful online requests (total minus time waiting on the LM).", (l) => ({ h: l.added, sum: l.added_sum }));
  histogram("allot_lm_latency_seconds", "Time successful online requests waited on the LM, hidden-state and reward calls.", (l) => ({ h: l.lm, sum: l.lm_sum }));
  family(
    "allot_ledger_calls_total",
    "counter",
    "Calls to the tenant's ledger object on the online path (admit, begin, finish, release, and budget shards' reports), since that object last started.",
    each((t) => Object.entries(t.calls ?? {}).map(([call, n]) => `allot_ledger_calls_total${labels({ tenant: t.id, call })} ${n}`)),
  );
  family("allot_price", "gauge", "The tenant's current online price (reward per unit).", each((t) => [`allot_price${labels({ tenant: t.id })} ${t.price}`]));
  family("allot_target_units", "gauge", "The tenant's online target (units per request).", each((t) => [`allot_target_units${labels({ tenant: t.id })} ${t.target}`]));
  family("allot_budget_used_units", "gauge", "Units used in the current budget window.", each((t) => t.windows.map((w) => `allot_budget_used_units${labels({ tenant: t.id, window: w.window })} ${w.used}`)));
  family("allot_budget_reserved_units", "gauge", "Units reserved by work in flight.", each((t) => [`allot_budget_reserved_units${labels({ tenant: t.id })} ${t.windows[0]?.reserved ?? 0}`]));
  family(
    "allot_budget_limit_units",
    "gauge",
    "The budget per window (windows without a limit are absent).",
    each((t) => t.windows.filter((w) => w.limit !== null).map((w) => `allot_budget_limit_units${labels({ tenant: t.id, window: w.window })} ${w.limit}`)),
  );
  return out.join("\n") + "\n";
}
