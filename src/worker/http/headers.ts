/**
 * Every header allot reads or writes beyond HTTP's own, in one list each: the handlers
 * read and write them by these names, CORS allows and exposes exactly these, and
 * docs/http.md lists them.
 */

/** Headers a client may send to steer allot (each also has a body field). */
export const REQUEST_HEADERS = {
  units: { name: "x-allot-units", doc: "pin the units (samples, or with routing the best option they buy); body `allot.units`" },
  rounds: { name: "x-allot-rounds", doc: "cap the rounds of sampling; body `allot.rounds`" },
} as const;

/** Headers allot answers with on online requests: what it did. */
export const RESPONSE_HEADERS = {
  model: { name: "x-allot-model", doc: "the model(s) that answered" },
  samples: { name: "x-allot-samples", doc: "samples drawn, per choice" },
  units: { name: "x-allot-units", doc: "units charged in all (samples at their model's cost, and prefills)" },
  rounds: { name: "x-allot-rounds", doc: "rounds of sampling, per choice" },
  price: { name: "x-allot-price", doc: "the tenant's price of one unit when the request was planned" },
  predicted: { name: "x-allot-predicted-success", doc: "the predictor's single-sample success, per choice (absent when pinned or greedy)" },
  planned: { name: "x-allot-planned-units", doc: "units planned at the price (only when the budget cut the plan)" },
  limited: { name: "x-allot-budget-limited", doc: "`true` when the budget cut the plan" },
  warning: { name: "x-allot-warning", doc: "what the client's options did to what allot could judge (the first of `allot.warnings`)" },
  limitUnits: { name: "x-ratelimit-limit-units", doc: "units in the tenant's tightest budget window (OpenAI's x-ratelimit-limit-* format)" },
  remainingUnits: { name: "x-ratelimit-remaining-units", doc: "units left in that window after this request" },
  resetUnits: { name: "x-ratelimit-reset-units", doc: "when that window resets, as a Go duration (`6m0s`, `1h2m3s`)" },
} as const;

/** Headers every response may carry, which clients read. */
export const COMMON_RESPONSE_HEADERS = ["x-request-id", "retry-after", "x-should-retry"] as const;

/** Headers the OpenAI SDKs send on every request (a browser must be allowed to send them). */
export const OPENAI_CLIENT_HEADERS = [
  "x-stainless-os",
  "x-stainless-lang",
  "x-stainless-package-version",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-arch",
  "x-stainless-retry-count",
  "x-stainless-timeout",
  "openai-organization",
  "openai-project",
] as const;

/** What a browser may send (CORS allow list). */
export const CORS_ALLOWED = ["authorization", "content-type", ...Object.values(REQUEST_HEADERS).map((h) => h.name), ...OPENAI_CLIENT_HEADERS];
/** What a browser may read (CORS expose list). */
export const CORS_EXPOSED = [...new Set([...Object.values(RESPONSE_HEADERS).map((h) => h.name), ...COMMON_RESPONSE_HEADERS])];
