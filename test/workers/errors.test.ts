// Domain errors (src/core/errors.ts) and the one mapping to HTTP (src/worker/http/errors.ts):
// every kind's status, envelope and retry headers, and errors thrown by Durable Objects.
import { env as workerEnv } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import {
  AllotError,
  BudgetExceeded,
  Conflict,
  Invalid,
  Misconfigured,
  NotFound,
  TooLarge,
  TryLater,
  Unauthenticated,
  Unavailable,
  UnknownTenant,
  UpstreamRefused,
  revive,
} from "../../src/core/errors.js";
import type { Env } from "../../src/worker/env.js";
import { errorResponse, httpError } from "../../src/worker/http/errors.js";
import { serveOnline } from "../../src/worker/online/serve.js";

const env = workerEnv as unknown as Env;
const now = Date.now();

describe("the mapping from domain errors to HTTP", () => {
  it.each<[string, AllotError, number, string, string | null, Record<string, string>]>([
    ["Invalid", new Invalid({ message: "from must be before to", param: "from" }), 400, "invalid_request_error", null, { "x-should-retry": "false" }],
    ["UpstreamRefused", new UpstreamRefused({ message: "http://10.0.0.5/v1/completions answered 400: too long", reason: "400: this model's maximum context length is 64 tokens", upstreamStatus: 400 }), 400, "invalid_request_error", "context_length_exceeded", { "x-should-retry": "false" }],
    ["Unauthenticated (missing)", new Unauthenticated({ credential: "missing", message: "missing API key" }), 401, "authentication_error", null, { "x-should-retry": "false" }],
    ["Unauthenticated (invalid)", new Unauthenticated({ credential: "invalid", message: "invalid or revoked API key" }), 401, "authentication_error", "invalid_api_key", { "x-should-retry": "false" }],
    ["NotFound (a batch)", new NotFound({ what: "batch", message: "no batch b_1", param: "id" }), 404, "not_found_error", null, { "x-should-retry": "false" }],
    ["NotFound (a model)", new NotFound({ what: "model", message: "The model `x` does not exist", param: "model" }), 404, "invalid_request_error", "model_not_found", { "x-should-retry": "false" }],
    ["UnknownTenant", new UnknownTenant({}), 404, "not_found_error", null, { "x-should-retry": "false" }],
    ["Conflict", new Conflict({ message: "tenant id collided; retry" }), 409, "invalid_request_error", null, { "x-should-retry": "true" }],
    ["TooLarge", new TooLarge({ limit: 1024, message: "the request body is larger than 1 KiB" }), 413, "invalid_request_error", null, { "x-should-retry": "false" }],
    [
      "BudgetExceeded",
      new BudgetExceeded({ tenant: "t1", what: "this request", scope: { window: "day", limit: 10, used: 8, reserved: 1, requested: 4, resetsAt: now + 90_500 }, now }),
      429,
      "budget_exceeded",
      "insufficient_quota",
      { "x-should-retry": "false", "retry-after": "91" },
    ],
    ["TryLater", new TryLater({ message: "wait a minute", retryAfterMs: 60_000 }), 429, "rate_limit_error", "rate_limit_exceeded", { "x-should-retry": "true", "retry-after": "60" }],
    ["Unavailable", new Unavailable({ message: "http://10.0.0.5: no answer", reason: "no answer within 30000 ms", retryAfterMs: 2_000 }), 502, "upstream_error", null, { "x-should-retry": "true", "retry-after": "2" }],
    ["Unavailable (unreadable)", new Unavailable({ message: "http://10.0.0.5: 3 scores for 4 samples", reason: "3 scores for 4 samples", retryable: false }), 502, "upstream_error", null, { "x-should-retry": "false" }],
    ["Misconfigured", new Misconfigured({ setting: "LM_URL", message: "set LM_URL" }), 503, "api_error", null, { "x-should-retry": "false" }],
  ])("%s", (_, err, status, type, code, headers) => {
    const out = httpError(err);
    expect(out.status).toBe(status);
    expect(out.body.error).toEqual({ type, message: err.reason, param: err.param, code });
    expect(out.headers).toEqual(headers);
    // What a caller is told never names an internal server.
    expect(out.body.error.message).not.toContain("10.0.0.5");
  });

  it("names the tenant and the window of a budget refusal", () => {
    const err = new BudgetExceeded({ tenant: "t1", what: "this batch", scope: { window: "month", limit: 10, used: 8, reserved: 1, requested: 4, resetsAt: now + 5_000 }, now });
    expect(err.message).toBe("tenant t1 is over its month budget: 8 used + 1 reserved + 4 for this batch > 10 units (the month window resets in 5 s)");
    expect(err.retryable).toBe(false);
  });

  it("answers anything else with a 500 that says nothing of why", () => {
    const out = httpError(new Error("secret detail"));
    expect(out.status).toBe(500);
    expect(out.body.error).toMatchObject({ type: "api_error", code: null });
    expect(out.body.error.message).not.toContain("secret");
  });

  it("keeps the cause it was given", () => {
    const cause = new Error("the first failure");
    expect(new Unavailable({ message: "gave up", cause }).cause).toBe(cause);
  });
});

describe("errors thrown by Durable Objects", () => {
  it("are rebuilt from what RPC keeps (the message, prefixed with the name), and only when remote", () => {
    const remote = Object.assign(new Error("UnknownTenant: no such tenant"), { remote: true });
    expect(revive(remote)).toBeInstanceOf(UnknownTenant);
    const setting = revive(Object.assign(new Error("Misconfigured: BATCH_RETENTION_SECONDS must be an integer ≥ 1 (seconds), got \"-5\""), { remote: true }));
    expect(setting).toMatchObject({ setting: "BATCH_RETENTION_SECONDS", retryable: false });
    expect(revive(new Error("UnknownTenant: a local error that only looks like one"))).not.toBeInstanceOf(AllotError);
    expect(revive(Object.assign(new Error("overloaded"), { remote: true }))).not.toBeInstanceOf(AllotError);
  });

  it("an online request for a tenant that does not exist is a 404 in the envelope, not a 500", async () => {
    const app = new Hono();
    app.get("/", async () => {
      await serveOnline(env, { tenant: "0123456789abcdef", shard: null }, { inputs: [{ prompt: "1+1=" }], model: "strong", params: { temperature: 0.8, topP: 1, maxTokens: 8 } });
      return new Response("served");
    });
    app.onError(errorResponse);
    const res = await app.request("/");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(await res.json()).toEqual({ error: { type: "not_found_error", message: "no such tenant", param: null, code: null } });
  });

  it("so is a budget shard's report for a tenant that does not exist", async () => {
    const shard = env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName("fedcba9876543210/0"));
    const err = await shard.begin("fedcba9876543210", 0, { key: "k", prompts: 1, pinned: null, rounds: null, greedy: false, unitCost: 1, prefill: 0.1, route: "completions" }).catch((e) => e);
    expect(httpError(err).status).toBe(404);
  });
});
