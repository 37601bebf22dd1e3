/**
 * GET /admin/calibration: each predictor's and router's reliability over every tenant's
 * traffic, for the console's plot. From audited prompts when there are enough (each one's
 * pass rate over every sample drawn is an unbiased label: docs/audits.md), with its
 * prompts and a Wilson interval per bin; otherwise from the live first samples, labelled
 * so. Each tenant's ledger sends its bins' sums (tenants/ledger.ts calibrationSums), which
 * add up; the bins are computed once here (core/audit/calibration.ts).
 */
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { BINS, type BinSums, addBinSums, eceOf, reliabilityOf } from "../../core/audit/calibration.js";
import { MIN_AUDITS } from "../../core/audit/earned.js";
import { CalibrationReportSchema } from "../../core/contracts/metrics.js";
import { mapBounded } from "../../core/backends/best-of-k.js";
import type { CalibrationBins } from "../../core/metrics/earned.js";
import { requireAdmin } from "../auth/middleware.js";
import type { AppEnv } from "../env.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { tenantDirectory } from "../tenants/directory.js";
import { tenantLedger } from "../tenants/lookup.js";

/** Tenants read at most (as the console lists them). */
const MAX_TENANTS = 1_000;

/** The live bins (sums of the first sample's reward) as bin sums: one sample per prompt. */
const liveSums = (bins: CalibrationBins): BinSums[] => bins.map((b) => ({ n: b.n, predicted: b.predicted, observed: b.observed, successes: b.observed, samples: b.n }));

const reliabilityFrom = (sums: readonly BinSums[]) => {
  const bins = reliabilityOf(sums);
  return { prompts: bins.reduce((s, b) => s + b.n, 0), bins, ece: eceOf(bins) };
};

/**
 * Per predictor, the plot from audits when it has MIN_AUDITS of them, else from the live first samples.
 *
 * @example calibrationReport([{ audited: {}, live: { route: bins } }])[0].source // "live"
 */
export function calibrationReport(tenants: readonly { audited: Record<string, BinSums[]>; live: Record<string, CalibrationBins> }[]): z.infer<typeof CalibrationReportSchema>[] {
  const audited = new Map<string, BinSums[]>();
  const live = new Map<string, BinSums[]>();
  const add = (into: Map<string, BinSums[]>, name: string, sums: BinSums[]) => into.set(name, into.has(name) ? addBinSums(into.get(name)!, sums) : sums);
  for (const t of tenants) {
    for (const [name, sums] of Object.entries(t.audited)) add(audited, name, sums);
    for (const [name, bins] of Object.entries(t.live)) add(live, name, liveSums(bins));
  }
  const empty = reliabilityOf(Array.from({ length: BINS }, () => ({ n: 0, predicted: 0, observed: 0, successes: 0, samples: 0 })));
  const names = [...new Set([...audited.keys(), ...live.keys()])].sort();
  return names.map((predictor) => {
    const a = audited.has(predictor) ? reliabilityFrom(audited.get(predictor)!) : { prompts: 0, bins: empty, ece: 0 };
    const l = live.has(predictor) ? reliabilityFrom(live.get(predictor)!) : { prompts: 0, bins: empty, ece: 0 };
    const enough = a.prompts >= MIN_AUDITS;
    return {
      predictor,
      source: enough ? ("audits" as const) : ("live" as const),
      audited: { ...a, needed: MIN_AUDITS },
      live: l,
      note: enough ? null : `too few audits to tell: ${a.prompts} of ${MIN_AUDITS}; shown from each prompt's first sample instead (raise a tenant's audit_rate)`,
    };
  });
}

export const calibration = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
calibration.use("/admin/calibration", requireAdmin);

calibration.openapi(
  createRoute({
    method: "get",
    path: "/admin/calibration",
    summary: "Each predictor's and router's reliability over every tenant's traffic: from audited prompts when there are enough, else the live first samples",
    tags: ["admin"],
    security: [{ adminToken: [] }],
    responses: {
      200: jsonResponse(z.object({ object: z.literal("list"), data: z.array(CalibrationReportSchema) }), "Per predictor or router."),
      401: errorDoc("Missing or wrong admin token."),
    },
  }),
  async (c) => {
    const ids: string[] = [];
    for (let after: string | null = null; ids.length < MAX_TENANTS; ) {
      const page = await tenantDirectory(c.env).page(100, after);
      ids.push(...page.ids);
      if (!page.more || page.ids.length === 0) break;
      after = page.ids.at(-1)!;
    }
    // Six at a time, as GET /admin/tenants: each ledger answers from its own SQLite.
    const sums = (await mapBounded(ids, 6, (id) => tenantLedger(c.env, id).calibrationSums())).filter((s) => s !== null);
    return c.json({ object: "list" as const, data: calibrationReport(sums) }, 200);
  },
);
