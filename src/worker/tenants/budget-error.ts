import { ApiError } from "../http/errors.js";
import type { ReserveResult } from "./ledger.js";

/**
 * The 429 for a refused reservation, naming the tenant and the window (one wording for
 * every caller). Retrying will not help before the window rolls over, so it carries
 * `x-should-retry: false`, which the OpenAI SDKs honour instead of retrying a 429, and
 * `Retry-After`: the seconds until the window that refused it resets.
 */
export function budgetExceeded(tenant: string, r: Extract<ReserveResult, { ok: false }>, what: string, now = Date.now()): ApiError {
  const after = Math.max(1, Math.ceil((r.resetsAt - now) / 1000));
  return new ApiError(
    429,
    "budget_exceeded",
    `tenant ${tenant} is over its ${r.window} budget: ${r.used} used + ${r.reserved} reserved + ${r.requested} for ${what} > ${r.limit} units (the ${r.window} window resets in ${after} s)`,
    null,
    { "x-should-retry": "false", "retry-after": String(after) },
  );
}
