import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireAdmin } from "../auth/middleware.js";
import type { AppEnv } from "../env.js";
import { errorDoc } from "../http/openapi.js";
import { mapBounded } from "../../core/backends/best-of-k.js";
import { type TenantMetrics, prometheusText } from "../metrics/prometheus.js";
import { tenantDirectory } from "../tenants/directory.js";
import { tenantLedger } from "../tenants/lookup.js";

export const metrics = new OpenAPIHono<AppEnv>();
metrics.use("/metrics", requireAdmin);

metrics.openapi(
  createRoute({
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text format 0.0.4): requests, units, samples, LM retries and errors, latency histograms, price, budget",
    description: "Reads every tenant's ledger (six at a time), so a scrape costs one call per tenant: scrape every 30–60 s.",
    tags: ["admin"],
    security: [{ adminToken: [] }],
    responses: {
      200: { description: "The metrics.", content: { "text/plain": { schema: z.string() } } },
      401: errorDoc("Missing or wrong admin token."),
    },
  }),
  async (c) => {
    const directory = tenantDirectory(c.env);
    const ids: string[] = [];
    for (let after: string | null = null; ; ) {
      const page: { ids: string[]; more: boolean } = await directory.page(100, after);
      ids.push(...page.ids);
      if (!page.more) break;
      after = page.ids.at(-1)!;
    }
    const rows = await mapBounded(ids, 6, async (id): Promise<TenantMetrics | null> => {
      const ledger = tenantLedger(c.env, id);
      const [life, usage] = await Promise.all([ledger.lifetime(), ledger.usage()]);
      if (!life || !usage) return null;
      return { id, lifetime: life, price: life.price, target: life.target, calls: life.calls, windows: usage.windows };
    });
    return c.text(prometheusText(rows.filter((r) => r !== null)), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  },
);
