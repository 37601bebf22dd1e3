import { BudgetExceeded } from "../../core/errors.js";
import type { ReserveResult } from "./ledger.js";

/**
 * The refusal of a reservation, naming the tenant and the window (one wording for every
 * caller): BudgetExceeded, which leaves as a 429 with `x-should-retry: false` (the OpenAI
 * SDKs honour it instead of retrying a 429) and `Retry-After`, the seconds until the
 * window that refused it resets.
 *
 * @example if (!r.ok) throw budgetExceeded(tenant, r, "this batch");
 */
export function budgetExceeded(tenant: string, r: Extract<ReserveResult, { ok: false }>, what: string, now = Date.now()): BudgetExceeded {
  const { window, limit, used, reserved, requested, resetsAt } = r;
  return new BudgetExceeded({ tenant, what, scope: { window, limit, used, reserved, requested, resetsAt }, now });
}
