import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { UsageSchema } from "../../core/contracts/tenants.js";
import type { AppEnv } from "../env.js";
import { UnknownTenant } from "../../core/errors.js";
import { errorDoc } from "../http/openapi.js";
import { reportOf } from "../tenants/audits.js";
import { tenantLedger } from "../tenants/lookup.js";

export const usage = new OpenAPIHono<AppEnv>();
usage.use("/v1/usage", requireTenant);

usage.openapi(
  createRoute({
    method: "get",
    path: "/v1/usage",
    summary: "Units used, reserved and remaining in each budget window, and what allot earned",
    description:
      "`earned.audited` is measured on the tenant's audited prompts (docs/audits.md): allot's policy and uniform best-of-k at the same mean spend replayed on " +
      "every sample of each audited prompt, with 95% intervals; null until there are enough audits (`earned.audits.note` says how many of how many). " +
      "`earned.predicted` is the model-based estimate, a prediction: only as good as the predictor's calibration on this traffic. " +
      "`feedback` counts the clients' rewards (POST /v1/feedback): a signal, not an unbiased label (docs/audits.md#feedback). " +
      "`calibration`: per predictor with at least 30 audits, its temperature and prior strength refitted on them, the ECE of what is served, and `drifted` past 0.05 (docs/audits.md#calibration-that-learns).",
    tags: ["tenants"],
    security: [{ apiKey: [] }],
    responses: {
      200: { description: "Usage per window.", content: { "application/json": { schema: UsageSchema } } },
      401: errorDoc("Missing or invalid API key."),
    },
  }),
  async (c) => {
    const tenant = c.get("tenant");
    const ledger = tenantLedger(c.env, tenant);
    const [u, e, f, cal] = await Promise.all([ledger.usage(), ledger.earnedInputs(), ledger.feedbackSummary(), ledger.calibration()]);
    if (!u || !e || !f || !cal) throw new UnknownTenant({ tenant });
    return c.json({ ...u, earned: reportOf(e.audits, e.predicted), feedback: f, calibration: cal }, 200);
  },
);
