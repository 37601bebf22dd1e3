// `allot audits export` against the running gateway (`allot serve-gateway`) in front of the
// real reference LM: a tenant's audited prompts come out as a dataset the loaders of
// `allot train` and `allot eval` read (RecordSchema, and the settings train reads), and
// `allot train` trains on it: the loop from live traffic back to a predictor closes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordSchema, TrainingSettingsSchema } from "../../src/core/predictor/dataset.js";
import { type RunningGateway, createTenant, startGateway } from "../../src/node/harness/gateway.js";
import { type RunningServer, startLmServer } from "../../src/node/harness/lm-server.js";
import { readJsonl } from "../../src/node/pipeline/jsonl.js";
import { until } from "../support/until.js";

const bin = fileURLToPath(new URL("../../bin/allot.mjs", import.meta.url));
let lm: RunningServer;
let gw: RunningGateway;
let dir: string;
const K = 8;

beforeAll(async () => {
  lm = await startLmServer();
  gw = await startGateway(lm.url);
  dir = mkdtempSync(join(tmpdir(), "allot-audits-"));
}, 180_000);
afterAll(async () => {
  await gw?.stop();
  await lm?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const allot = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, ADMIN_TOKEN: gw.admin, ...env } });

describe("allot audits export", () => {
  it("writes a tenant's audited prompts as a dataset the loaders read, and allot train trains on it", async () => {
    const t = await createTenant(gw);
    const admin = { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" };
    const set = await fetch(`${gw.url}/admin/tenants/${t.id}/online`, { method: "PUT", headers: admin, body: JSON.stringify({ target_units: 4, max_units: K, audit_rate: 1 }) });
    expect(set.status).toBe(200);
    const prompts = Array.from({ length: 30 }, (_, i) => `${100 + 37 * i}+${20 + 53 * i}=`);
    for (const prompt of prompts) {
      const res = await fetch(`${gw.url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "strong", prompt, max_tokens: 12, temperature: 0.8 }) });
      expect(res.status).toBe(200);
    }
    await until(
      async () => ((await (await fetch(`${gw.url}/admin/tenants/${t.id}/audits?limit=200`, { headers: admin })).json()) as { data: unknown[] }).data.length >= prompts.length,
      { timeoutMs: 60_000, what: "every prompt audited" },
    );

    const out = join(dir, "audits.jsonl");
    const r = allot(["audits", "export", "--tenant", t.id, "--out", out, "--gateway", gw.url]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${prompts.length} audited prompts of strong`);
    const records = await readJsonl(out, RecordSchema);
    expect(records).toHaveLength(prompts.length);
    const width = records[0].hidden.length;
    expect(width).toBeGreaterThan(0);
    for (const rec of records) {
      expect(rec.hidden).toHaveLength(width);
      expect(rec.rewards).toHaveLength(K);
      expect(rec.prompt).toBe(""); // the gateway keeps no prompt text
    }
    const settings = TrainingSettingsSchema.parse(JSON.parse(readFileSync(`${out}.meta.json`, "utf8")));
    expect(settings).toMatchObject({ model: "strong", form: "prompt" });

    // allot train reads it: the first 20 audits to train on, the rest to validate.
    const train = join(dir, "train.jsonl");
    const validation = join(dir, "validation.jsonl");
    const lines = readFileSync(out, "utf8").trim().split("\n");
    const write = (path: string, rows: string[]) => writeFileSync(path, rows.join("\n") + "\n");
    write(train, lines.slice(0, 20));
    write(validation, lines.slice(20));
    write(`${train}.meta.json`, [readFileSync(`${out}.meta.json`, "utf8")]);
    const trained = allot(["train", "--train", train, "--validation", validation, "--out", join(dir, "from-audits")]);
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stdout).toContain("strong hidden states");
  }, 240_000);

  it("says what is wrong: no audits, no tenant, a missing flag, an unknown subcommand", async () => {
    const t = await createTenant(gw);
    const none = allot(["audits", "export", "--tenant", t.id, "--out", join(dir, "none.jsonl"), "--gateway", gw.url]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain("no audited prompts");
    const unknown = allot(["audits", "export", "--tenant", "0123456789abcdef", "--out", join(dir, "x.jsonl"), "--gateway", gw.url]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("404");
    const missing = allot(["audits", "export", "--out", join(dir, "x.jsonl")]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("--tenant");
    const sub = allot(["audits", "import"]);
    expect(sub.status).toBe(2);
    expect(sub.stderr).toContain("export");
  });
});
