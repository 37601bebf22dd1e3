import { z } from "@hono/zod-openapi";

/** More units than this for one query is a mistake, not a budget. */
export const MAX_UNITS_PER_QUERY = 1_000_000;

const units = (what: string) => z.int().min(0).max(MAX_UNITS_PER_QUERY).describe(what);

export const AllocateQuerySchema = z
  .strictObject({
    id: z.string().min(1).max(512).describe("Your identifier for the query; unique within the request."),
    marginals: z
      .array(z.number())
      .min(1)
      .max(MAX_UNITS_PER_QUERY)
      .optional()
      .describe("marginals[j-1] is the predicted gain of the j-th unit of compute."),
    p: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("One sample's success probability; the gain of unit j is p(1-p)^(j-1)."),
    prompt: z
      .string()
      .min(1)
      .optional()
      .describe("HTTP only: the prompt; allot reads its hidden state from the LM and predicts its curve."),
    hidden: z
      .array(z.number())
      .min(1)
      .max(65_536)
      .optional()
      .describe("HTTP only: the prompt's last-layer hidden state, if you have it; allot predicts its curve."),
    min: units("Overrides the request's min for this query.").optional(),
    max: units("Overrides the request's max for this query.").optional(),
  })
  .superRefine((q, ctx) => {
    const given = [q.marginals, q.p, q.prompt, q.hidden].filter((x) => x !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: "custom", message: "give exactly one of marginals, p, prompt or hidden", path: ["marginals"] });
  })
  .openapi("AllocateQuery");

export const AllocateRequestSchema = z
  .strictObject({
    budget: z.int().min(0).describe("Total units of compute for the whole request."),
    min: units("Units every query gets at least.").default(1),
    max: units("Units any query gets at most; required when a query gives p.").optional(),
    queries: z.array(AllocateQuerySchema),
    model: z.string().min(1).optional().describe("HTTP only: the LM whose hidden states prompt/hidden queries are (default: the gateway's LM_MODEL)."),
    predictor: z.string().min(1).optional().describe("HTTP only: a shipped predictor by name (default: the LM's binary predictor)."),
  })
  .openapi("AllocateRequest", { example: { budget: 5, max: 4, queries: [{ id: "a", p: 0.5 }, { id: "b", p: 0.05 }] } });

export const AllocateResponseSchema = z
  .object({
    allocation: z.array(
      z.object({
        id: z.string(),
        units: z.int(),
        p: z.number().optional().describe("Predicted single-sample success (prompt/hidden queries, binary predictor)."),
        curve: z.array(z.number()).optional().describe("Predicted best-of-b values q(1..b_max) (curve predictor)."),
      }),
    ),
    objective: z.number().describe("Σ of the predicted gains taken, counting each query's first min units."),
    used: z.int().describe("Σ units; below the budget when further units would gain nothing."),
    price: z.number().describe("Shadow price of the budget: 0 if it does not bind, else the gain of the marginal unit."),
    projected: z.array(z.string()).describe("Queries whose curve was not non-increasing and was projected."),
  })
  .openapi("AllocateResponse");

export type AllocateQuery = z.infer<typeof AllocateQuerySchema>;
export type AllocateRequest = z.infer<typeof AllocateRequestSchema>;
export type AllocateResponse = z.infer<typeof AllocateResponseSchema>;
