import { BudgetExceeded, TryLater } from "../../core/errors.js";
import type { Refusal } from "./budget.js";

/**
 * The refusal of a reservation, naming the tenant and the window (one wording for every
 * caller). A spent window is BudgetExceeded: a 429 `budget_exceeded` with
 * `x-should-retry: false` (the OpenAI SDKs honour it instead of retrying a 429) and
 * `Retry-After` the seconds until that window resets. Units held by requests in flight
 * are TryLater: a 429 `rate_limit_exceeded` a client should retry, after `retryAfterMs`
 * (when they are likely back), never after the window's reset.
 *
 * @example if (!r.ok) throw refusalError(tenant, r, "this batch");
 */
export function refusalError(tenant: string, r: Refusal & { retryAfterMs?: number }, what: string, now = Date.now()): BudgetExceeded | TryLater {
  const { window, limit, used, reserved, requested, resetsAt } = r;
  if (r.kind === "exceeded") return new BudgetExceeded({ tenant, what, scope: { window, limit, used, reserved, requested, resetsAt }, now });
  const wait = r.retryAfterMs ?? Math.max(1000, (r.earliestExpiry ?? now + 1000) - now);
  return new TryLater({
    message:
      `tenant ${tenant}'s ${window} budget has room for ${what} but requests in flight hold it: ${used} used + ${reserved} reserved + ${requested} requested > ${limit} units; ` +
      `retry in ${Math.ceil(wait / 1000)} s`,
    retryAfterMs: wait,
  });
}
