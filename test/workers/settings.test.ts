// The gateway's settings as the Worker and its Durable Objects read them (src/worker/config.ts):
// parsed once, one value meaning one thing everywhere, a bad value refused by name.
import { env as workerEnv } from "cloudflare:workers";
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Misconfigured } from "../../src/core/errors.js";
import { createApp } from "../../src/worker/app.js";
import { BatchRun } from "../../src/worker/batches/run.js";
import { settings } from "../../src/worker/config.js";
import type { Env } from "../../src/worker/env.js";
import { BudgetShard } from "../../src/worker/tenants/budget-shard.js";
import { TenantLedger } from "../../src/worker/tenants/ledger.js";

const env = workerEnv as unknown as Env;
const withVars = (vars: Record<string, string>) => ({ ...env, ...vars }) as Env;

describe("settings(env)", () => {
  it("parses an environment once, and each environment apart", () => {
    expect(settings(env)).toBe(settings(env));
    expect(settings(env).LM_TIMEOUT_MS).toBe(2000); // vitest.config.ts
    expect(settings(withVars({ LM_TIMEOUT_MS: "700" })).LM_TIMEOUT_MS).toBe(700);
  });

  it("a bad value reaches a client as a 503 x-should-retry: false that names the setting, on any route", async () => {
    const bad = withVars({ BATCH_RETENTION_SECONDS: "-5" });
    for (const path of ["/v1/models", "/v1/allocate", "/admin/tenants"]) {
      const res = await createApp().fetch(new Request(`https://allot.test${path}`, { method: path === "/v1/models" ? "GET" : "POST", body: path === "/v1/models" ? undefined : "{}" }), bad, createExecutionContext());
      expect(res.status, path).toBe(503);
      expect(res.headers.get("x-should-retry")).toBe("false");
      const body = (await res.json()) as { error: { type: string; message: string; code: string | null } };
      expect(body.error).toMatchObject({ type: "api_error", code: null });
      expect(body.error.message).toMatch(/^BATCH_RETENTION_SECONDS must be an integer ≥ 1 \(seconds\), got "-5"/);
    }
  });
});

describe("BATCH_RETENTION_SECONDS, read by BatchRun and the ledger alike", () => {
  it('"-5" is refused by both objects, naming it (it was 7 days in one and -5 s in the other)', async () => {
    const bad = withVars({ BATCH_RETENTION_SECONDS: "-5" });
    const ledger = env.TENANTS.get(env.TENANTS.idFromName("settings-retention-bad"));
    await runInDurableObject(ledger, (_i, state) => {
      expect(() => new TenantLedger(state, bad)).toThrow(Misconfigured);
      expect(() => new TenantLedger(state, bad)).toThrow(/BATCH_RETENTION_SECONDS/);
    });
    const run = env.BATCHES.get(env.BATCHES.idFromName("settings-retention-bad"));
    await runInDurableObject(run, (_i, state) => expect(() => new BatchRun(state, bad)).toThrow(/^BATCH_RETENTION_SECONDS must be/));
    const shard = env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName("settings-report-bad/0"));
    await runInDurableObject(shard, (_i, state) => expect(() => new BudgetShard(state, withVars({ LEDGER_REPORT_MS: "often" }))["every"]).toThrow(/^LEDGER_REPORT_MS must be/));
  });

  it("a batch leaves the tenant's list exactly when BatchRun deletes its data", async () => {
    const hour = withVars({ BATCH_RETENTION_SECONDS: "3600" });
    const run = env.BATCHES.get(env.BATCHES.idFromName("settings-retention-hour"));
    const retentionMs = await runInDurableObject(run, (_i, state) => new BatchRun(state, hour)["timing"].retentionMs);
    expect(retentionMs).toBe(3_600_000);
    const ledger = env.TENANTS.get(env.TENANTS.idFromName("settings-retention-hour"));
    await runInDurableObject(ledger, async (_i, state) => {
      const book = new TenantLedger(state, hour);
      book.create("settings-retention-hour", { name: "t", budget: { day: 10 }, limits: { max_batch_size: 10, max_concurrent_batches: 1 } });
      const ended = 1_000_000;
      book.clock = () => ended - 10;
      await book.startBatch("b_1");
      book.clock = () => ended;
      book.endBatch("b_1", { status: "done", summary: "{}" });
      book.clock = () => ended + retentionMs - 1;
      expect(book.listBatches(10, null)!.rows.map((r) => r.id)).toEqual(["b_1"]);
      book.clock = () => ended + retentionMs + 1;
      expect(book.listBatches(10, null)!.rows).toEqual([]);
    });
  });
});
