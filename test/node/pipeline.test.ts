import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { UpstreamRefused, Unavailable } from "../../src/core/errors.js";
import { postJson as postWithRetry } from "../../src/core/lm/http.js";
import { METHODS } from "../../src/node/pipeline/evaluate.js";
import { costToReach } from "../../src/node/pipeline/evaluate-route.js";
import { RecordSchema } from "../../src/core/predictor/dataset.js";
import { PredictorManifestSchema } from "../../src/core/predictor/manifest.js";
import { freePort } from "../../src/node/harness/gateway.js";
import { type RunningServer, bin, startLmServer } from "../../src/node/harness/lm-server.js";

let server: RunningServer;
let dir: string;
beforeAll(async () => {
  server = await startLmServer(["--models", "weak"]);
  dir = mkdtempSync("/tmp/allot-pipeline-");
});
afterAll(async () => {
  await server?.stop();
});

const allot = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
const collectArgs = (prompts: string, out: string, extra: string[] = []) => [
  "collect", "--prompts", prompts, "--out", out, "--lm", server.url, "--model", "weak", "--samples", "16", ...extra,
];

function prompts(split: string, count: number, seed: number): string {
  const path = `${dir}/${split}-${seed}.jsonl`;
  const r = allot(["prompts", "--split", split, "--count", String(count), "--seed", String(seed)]);
  expect(r.status).toBe(0);
  writeFileSync(path, r.stdout);
  return path;
}

describe("allot collect", () => {
  it("resumes after being killed mid-run and a torn last line, losing and duplicating nothing", async () => {
    const input = prompts("train", 160, 7);
    // Reference: one uninterrupted run.
    expect(allot(collectArgs(input, `${dir}/straight.jsonl`)).status).toBe(0);

    const out = `${dir}/killed.jsonl`;
    const child = spawn(process.execPath, [bin, ...collectArgs(input, out, ["--batch", "2", "--concurrency", "1"])], { stdio: "ignore" });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(out) && lines(out).length >= 20) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, 5);
    });
    await new Promise((r) => child.once("exit", r));
    const before = lines(out).length;
    expect(before).toBeLessThan(160);
    appendFileSync(out, '{"id":"train-7-9'); // a write cut off by the crash

    const resumed = allot(collectArgs(input, out, ["--batch", "2", "--concurrency", "1"]));
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`\\(${before} already done, 160 in all\\)`));
    const records = lines(out).map((l) => RecordSchema.parse(JSON.parse(l)));
    expect(new Set(records.map((r) => r.id)).size).toBe(160);
    expect(records).toHaveLength(160);
    // Per-prompt seeds: the resumed dataset is the uninterrupted one, in another order.
    const byId = new Map(lines(`${dir}/straight.jsonl`).map((l) => [JSON.parse(l).id, JSON.parse(l)]));
    for (const r of records) expect(r).toEqual(byId.get(r.id));
  });

  it("refuses to resume with different settings", () => {
    const input = prompts("train", 20, 8);
    expect(allot(collectArgs(input, `${dir}/s.jsonl`)).status).toBe(0);
    const r = allot(collectArgs(input, `${dir}/s.jsonl`, ["--temperature", "0.5"]));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("temperature: 0.8 → 0.5");
  });

  it("refuses to resume when the model behind the same name and URL has changed", async () => {
    // The same port serves "weak" twice: first the real one, then the strong model's
    // weights under weak's name, as a retrained model would be.
    const port = String(await freePort());
    const input = prompts("train", 12, 9);
    const out = `${dir}/fingerprint.jsonl`;
    const real = await startLmServer(["--models", "weak", "--port", port]);
    const args = ["collect", "--prompts", input, "--out", out, "--lm", real.url, "--model", "weak", "--samples", "4"];
    try {
      expect(allot(args).status).toBe(0);
      expect(allot(args).status).toBe(0); // the same model: resuming (here, nothing left) is fine
    } finally {
      await real.stop();
    }
    const swapped = mkdtempSync("/tmp/allot-swapped-");
    const models = new URL("../../models/", import.meta.url);
    const strong = JSON.parse(readFileSync(new URL("strong.manifest.json", models), "utf8"));
    writeFileSync(`${swapped}/weak.manifest.json`, JSON.stringify({ ...strong, name: "weak" }));
    writeFileSync(`${swapped}/${strong.file}`, readFileSync(new URL(strong.file, models)));
    const impostor = await startLmServer(["--models", "weak", "--port", port, "--models-dir", swapped]);
    try {
      const r = allot(args);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("the model behind that name has changed");
    } finally {
      await impostor.stop();
    }
  });
});

describe("LM client retries (faults injected by a local server)", () => {
  const Ok = z.object({ ok: z.literal(true) });
  const policy = { attempts: 4, timeoutMs: 300, baseDelayMs: 1, maxDelayMs: 20 };

  async function faulty(script: ((res: import("node:http").ServerResponse) => void)[]) {
    let calls = 0;
    const srv = createServer((req, res) => {
      req.resume();
      const step = script[Math.min(calls++, script.length - 1)];
      step(res);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`;
    return { url, calls: () => calls, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
  }
  const reply = (status: number, body: string, headers: Record<string, string> = {}) => (res: import("node:http").ServerResponse) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body);
  };
  const hang = () => () => {};

  it("retries 429 (honouring Retry-After), 5xx, malformed JSON and timeouts, then succeeds", async () => {
    const s = await faulty([
      reply(429, '{"error":{"message":"slow down"}}', { "retry-after": "0" }),
      reply(503, "upstream down"),
      reply(200, "{not json"),
      reply(200, '{"ok":true}'),
    ]);
    await expect(postWithRetry(s.url, {}, Ok, { policy })).resolves.toEqual({ ok: true });
    expect(s.calls()).toBe(4);
    await s.close();
    const slow = await faulty([hang(), reply(200, '{"ok":true}')]);
    await expect(postWithRetry(slow.url, {}, Ok, { policy })).resolves.toEqual({ ok: true });
    expect(slow.calls()).toBe(2);
    await slow.close();
  });

  it("fails at once on a 400, with the server's message", async () => {
    const s = await faulty([reply(400, '{"error":{"message":"bad prompt"}}')]);
    const err = await postWithRetry(s.url, {}, Ok, { policy }).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamRefused);
    expect(err).toMatchObject({ upstreamStatus: 400, retryable: false, message: expect.stringContaining("bad prompt") });
    expect(err.reason).not.toContain("127.0.0.1");
    expect(s.calls()).toBe(1);
    await s.close();
  });

  it("gives up after the last attempt with a retryable Unavailable", async () => {
    const s = await faulty([reply(500, "boom")]);
    const err = await postWithRetry(s.url, {}, Ok, { policy }).catch((e) => e);
    expect(err).toBeInstanceOf(Unavailable);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("gave up after 4 attempts");
    expect(s.calls()).toBe(4);
    await s.close();
  });
});

describe("allot train and allot eval", () => {
  let train: string;
  let val: string;
  let test: string;
  beforeAll(() => {
    train = `${dir}/d-train.jsonl`;
    val = `${dir}/d-val.jsonl`;
    test = `${dir}/d-test.jsonl`;
    for (const [split, n, out] of [["train", 240, train], ["validation", 80, val], ["test", 120, test]] as const) {
      expect(allot(collectArgs(prompts(split, n, 3), out)).status).toBe(0);
    }
  });

  it("is deterministic: same data and seed, byte-identical ONNX; and the export matches the trainer", () => {
    const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
    for (const out of [`${dir}/p1`, `${dir}/p2`]) {
      const r = allot(["train", "--train", train, "--validation", val, "--out", out, "--seed", "5"]);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(sha(`${dir}/p1.onnx`)).toBe(sha(`${dir}/p2.onnx`));
    const m = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${dir}/p1.manifest.json`, "utf8")));
    expect(m.kind).toBe("bernoulli");
    expect(m.sha256).toBe(sha(`${dir}/p1.onnx`));
    expect(m.metrics.onnx_parity_max_abs).toBeLessThanOrEqual(1e-5);
    expect(m.metrics.spearman_validation).toBeGreaterThan(0.5);
    const other = allot(["train", "--train", train, "--validation", val, "--out", `${dir}/p3`, "--seed", "6"]);
    expect(other.status).toBe(0);
    expect(sha(`${dir}/p3.onnx`)).not.toBe(sha(`${dir}/p1.onnx`));
  });

  it("trains a curve predictor on graded rewards", () => {
    const g = (s: string) => `${dir}/g-${s}.jsonl`;
    for (const [split, n] of [["train", 120], ["validation", 60]] as const) {
      expect(allot(collectArgs(prompts(split, n, 4), g(split), ["--reward", "verifier-graded"])).status).toBe(0);
    }
    const r = allot(["train", "--train", g("train"), "--validation", g("validation"), "--out", `${dir}/pc`, "--b-max", "8"]);
    expect(r.status, r.stderr).toBe(0);
    const m = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${dir}/pc.manifest.json`, "utf8")));
    expect(m).toMatchObject({ kind: "curve", output: "q", b_max: 8 });
    expect(m.metrics.onnx_parity_max_abs).toBeLessThanOrEqual(1e-5);

    // Its eval replays real-valued waves (Pandora on the distribution the curve implies) beside the best fixed threshold,
    // and reports how calibrated that distribution is.
    const e = allot(["eval", "--data", g("validation"), "--predictor", `${dir}/pc`, "--out", `${dir}/graded-report`]);
    expect(e.status, e.stderr).toBe(0);
    const res = JSON.parse(readFileSync(`${dir}/graded-report/results.json`, "utf8"));
    expect(res.distribution.map((d: { threshold: number }) => d.threshold)).toEqual([0.25, 0.5, 0.75, 1]);
    for (const d of res.distribution) {
      for (const x of [d.ece, d.predicted, d.observed]) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
      }
    }
    for (const point of res.mixes.full.curve) {
      for (const k of ["stop-first", "waves", "waves-oracle"]) {
        expect(point.used[k]).toBeLessThanOrEqual(point.budget + 1e-9);
        expect(point.quality[k]).toBeGreaterThanOrEqual(0);
        expect(point.quality[k]).toBeLessThanOrEqual(1);
      }
    }
    expect(res.waves.strength === null || res.waves.strength > 0).toBe(true);
    expect(readFileSync(`${dir}/graded-report/report.md`, "utf8")).toContain("P(reward ≥ t)");
  });

  it("reports the four methods; the oracle is never below any other method at equal budget", () => {
    const r = allot(["eval", "--data", test, "--predictor", `${dir}/p1`, "--out", `${dir}/report`]);
    expect(r.status, r.stderr).toBe(0);
    for (const f of ["report.md", "full.svg", "tranches.svg", "results.json"]) expect(existsSync(`${dir}/report/${f}`)).toBe(true);
    const res = JSON.parse(readFileSync(`${dir}/report/results.json`, "utf8"));
    for (const mix of ["full", "tranches"]) {
      expect(res.mixes[mix].savings.map((s: { budget: number }) => s.budget)).toEqual([2, 4, 8]);
      for (const point of res.mixes[mix].curve) {
        for (const m of METHODS) {
          expect(point.used[m]).toBeLessThanOrEqual(point.budget + 1e-9);
          expect(point.quality.oracle).toBeGreaterThanOrEqual(point.quality[m] - 1e-12);
        }
      }
    }
    expect(readFileSync(`${dir}/report/report.md`, "utf8")).toContain("compute saved at equal quality");
    // The headline figures go into the predictor's manifest, where GET /admin/predictors and the console show them.
    const m = JSON.parse(readFileSync(`${dir}/p1.manifest.json`, "utf8"));
    expect(m.metrics.test_spearman).toBe(res.spearman);
    expect(m.metrics.test_saved_b4).toBe(res.mixes.full.savings[1].saved.learned);
    expect(m.metrics.spearman_validation).toBeGreaterThan(0); // the trainer's figures stay
  });

  it("replays stop-first, waves and the waves oracle for a Bernoulli predictor, spending what each budget allows", () => {
    const m = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${dir}/p1.manifest.json`, "utf8")));
    expect(m.prior_strength).toBeGreaterThan(0); // fitted on the validation split
    const res = JSON.parse(readFileSync(`${dir}/report/results.json`, "utf8"));
    for (const mix of ["full", "tranches"]) {
      for (const s of res.mixes[mix].savings) for (const k of ["stop-first", "waves", "waves-oracle"]) expect(s.saved).toHaveProperty(k);
      for (const point of res.mixes[mix].curve) {
        // Waves spend at most their budget (some is left when every query is solved or capped); stop-first at most its cap.
        for (const k of ["stop-first", "waves", "waves-oracle"]) {
          expect(point.used[k]).toBeLessThanOrEqual(point.budget + 1e-9);
          expect(point.quality[k]).toBeGreaterThanOrEqual(0);
          expect(point.quality[k]).toBeLessThanOrEqual(1);
        }
      }
      // More budget never solves fewer: each policy's quality rises along the curve (replays share their orders).
      const curve = res.mixes[mix].curve;
      for (let k = 1; k < curve.length; k++) expect(curve[k].quality["stop-first"]).toBeGreaterThanOrEqual(curve[k - 1].quality["stop-first"] - 1e-12);
    }
    // (That waves beat one-shot allocation is a statement about expectations, checked exactly by the DP in
    // test/workers/waves.test.ts; 120 prompts are too few to show it here above the replay's noise.)
    expect(res.waves.rounds.reduce((a: number, b: number) => a + b, 0)).toBe(8 * 120);
    expect(readFileSync(`${dir}/report/report.md`, "utf8")).toContain("Waves at B = 4");
  });
});

describe("allot train-route, and allot eval of a router", () => {
  let both: RunningServer;
  const d = (model: string, split: string) => `${dir}/r-${model}-${split}.jsonl`;
  const files = (split: string) => `weak=${d("weak", split)},strong=${d("strong", split)}`;
  beforeAll(async () => {
    both = await startLmServer(["--models", "weak,strong"]);
    for (const model of ["weak", "strong"]) {
      for (const [split, n, seed] of [["train", 200, 11], ["validation", 60, 12], ["test", 100, 13]] as const) {
        const args = ["collect", "--prompts", prompts(split, n, seed), "--out", d(model, split), "--lm", both.url, "--model", model, "--samples", "16"];
        const r = allot(args);
        expect(r.status, r.stderr).toBe(0);
      }
    }
  });
  afterAll(async () => {
    await both?.stop();
  });

  it("trains a router with one calibrated p per model and the menu's costs, and reports the five policies", () => {
    const out = `${dir}/route`;
    const r = allot(["train-route", "--train", files("train"), "--validation", files("validation"), "--costs", "weak=1,strong=3", "--input", "weak", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const m = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${out}.manifest.json`, "utf8")));
    expect(m.route!.options).toEqual([{ model: "weak", cost: 1 }, { model: "strong", cost: 3 }]);
    expect(m.lm.model).toBe("weak");
    expect(m.temperature).toHaveLength(2);
    expect(m.metrics.onnx_parity_max_abs).toBeLessThanOrEqual(1e-5);
    for (const model of ["weak", "strong"]) expect(m.metrics[`spearman_validation_${model}`]).toBeGreaterThan(0.5);

    const e = allot(["eval", "--data", files("test"), "--predictor", out, "--out", `${dir}/route-report`, "--b-max", "4"]);
    expect(e.status, e.stderr).toBe(0);
    for (const f of ["report.md", "routing.svg", "results.json"]) expect(existsSync(`${dir}/route-report/${f}`)).toBe(true);
    const res = JSON.parse(readFileSync(`${dir}/route-report/results.json`, "utf8"));
    expect(Object.keys(res.curves.always)).toEqual(["weak", "strong"]);
    expect(res.curves.always.strong.map((p: { cost: number }) => p.cost)).toEqual([3, 6, 9, 12]);
    // The oracle routes on the outcomes themselves: allot never beats it by more than one menu step's rounding.
    res.curves.allot.forEach((p: { cost: number; quality: number }, i: number) => {
      expect(res.curves.oracle[i].quality).toBeGreaterThanOrEqual(p.quality - 0.01);
    });
    expect(res.savings[0].reference).toBe("always strong, k = 1");
    expect(readFileSync(`${dir}/route-report/report.md`, "utf8")).toContain("saved: allot routing");
    expect(JSON.parse(readFileSync(`${out}.manifest.json`, "utf8")).metrics.test_saved_k1).toBe(res.savings[0].saved.allot);
    // Cascades: the prior's strength was fitted, and each cascade's curve is a frontier (dearer is better).
    expect(m.prior_strength).toBeGreaterThan(0);
    for (const name of ["cascade", "fixedCascade", "cascadeOracle"]) {
      const curve = res.cascades[name] as { cost: number; quality: number }[];
      expect(curve.length).toBeGreaterThan(1);
      for (let i = 1; i < curve.length; i++) {
        expect(curve[i].cost).toBeGreaterThanOrEqual(curve[i - 1].cost);
        expect(curve[i].quality).toBeGreaterThan(curve[i - 1].quality);
      }
      for (const s of res.savings) expect(s.saved).toHaveProperty(name);
    }
    expect(readFileSync(`${dir}/route-report/report.md`, "utf8")).toContain("allot cascade");
  });

  it("refuses inputs it cannot use, naming them", () => {
    const missingCost = allot(["train-route", "--train", files("train"), "--validation", files("validation"), "--costs", "weak=1", "--input", "weak", "--out", `${dir}/x`]);
    expect(missingCost.status).toBe(2);
    expect(missingCost.stderr).toContain("strong");
    const fractional = allot(["train-route", "--train", files("train"), "--validation", files("validation"), "--costs", "weak=1,strong=2.8", "--input", "weak", "--out", `${dir}/x`]);
    expect(fractional.status).toBe(2);
    expect(fractional.stderr).toContain("whole number");
    const badInput = allot(["train-route", "--train", files("train"), "--validation", files("validation"), "--costs", "weak=1,strong=3", "--input", "huge", "--out", `${dir}/x`]);
    expect(badInput.status).toBe(1);
    expect(badInput.stderr).toContain("huge");
    const shipped = new URL("../../models/predictors/strong-binary", import.meta.url).pathname;
    // A router's data is one dataset per model, named.
    const unnamed = allot(["eval", "--data", d("weak", "test"), "--predictor", `${dir}/route`, "--out", `${dir}/y`]);
    expect(unnamed.status).toBe(2);
    expect(unnamed.stderr).toContain("is a router");
    // A best-of-k predictor is not evaluated as a router.
    const notRouter = allot(["eval", "--data", files("test"), "--predictor", shipped, "--out", `${dir}/y`]);
    expect(notRouter.status).toBe(1);
  });
});

describe("thinking budgets: allot collect --thinking-budgets, train and eval", () => {
  let thinking: RunningServer;
  const t = (split: string) => `${dir}/t-${split}.jsonl`;
  const budgets = "0,8,64";
  function sums(split: string, count: number, seed: number): string {
    const path = `${dir}/sums-${split}-${seed}.jsonl`;
    const r = allot(["prompts", "--task", "sums", "--split", split, "--count", String(count), "--seed", String(seed)]);
    expect(r.status, r.stderr).toBe(0);
    writeFileSync(path, r.stdout);
    return path;
  }
  beforeAll(async () => {
    thinking = await startLmServer(["--models", "thinking"]);
    for (const [split, n, seed] of [["train", 150, 21], ["validation", 50, 22], ["test", 60, 23]] as const) {
      const r = allot(["collect", "--prompts", sums(split, n, seed), "--out", t(split), "--lm", thinking.url, "--model", "thinking", "--samples", "6", "--thinking-budgets", budgets]);
      expect(r.status, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await thinking?.stop();
  });

  it("records K samples at each budget with the tokens each generated, thinking no more than its budget", () => {
    const records = lines(t("test")).map((l) => RecordSchema.parse(JSON.parse(l)));
    expect(records).toHaveLength(60);
    for (const r of records) {
      expect(r.thinking!.map((l) => l.budget)).toEqual([0, 8, 64]);
      for (const level of r.thinking!) {
        expect(level.samples).toHaveLength(6);
        expect(level.tokens).toHaveLength(6);
        expect(level.reasoning_tokens).toBeLessThanOrEqual(6 * level.budget);
        // A sample's tokens: <think>, its thinking, </think>, the answer and the newline.
        level.samples.forEach((s, k) => expect(level.tokens[k]).toBe(s.replace("<think>", "T").replace("</think>", "E").length + 1));
      }
      expect(r.samples).toEqual(r.thinking!.at(-1)!.samples); // the top-level samples are the largest budget's
    }
    // More thinking helps on average: the pass rate at 64 is above that at 0.
    const rate = (l: number) => records.reduce((s, r) => s + r.thinking![l].rewards.reduce((a, b) => a + b, 0), 0) / (6 * records.length);
    expect(rate(2)).toBeGreaterThan(rate(0) + 0.2);
  });

  it("trains p against budget, non-decreasing in the budget and calibrated per level, and evaluates the allocations", () => {
    const out = `${dir}/thinking-p`;
    const r = allot(["train", "--train", t("train"), "--validation", t("validation"), "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const m = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${out}.manifest.json`, "utf8")));
    expect(m.thinking).toMatchObject({ levels: [0, 8, 64], budget_field: "thinking_token_budget", tokens_per_unit: 1, tokens_output: "tokens" });
    // The predicted tokens per sample: close to each prompt's own at budget 0 (the answer alone), within a few at 64.
    expect(m.metrics.tokens_mae_validation_b0).toBeLessThan(1);
    expect(m.metrics.tokens_mae_validation_b64).toBeLessThan(8);
    expect(m.temperature).toHaveLength(3);
    expect(m.thinking!.expected_tokens[0]).toBeLessThan(m.thinking!.expected_tokens[2]);
    expect(m.metrics.onnx_parity_max_abs).toBeLessThanOrEqual(1e-5);
    expect(m.prior_strength).toBeGreaterThan(0);
    const parity = JSON.parse(readFileSync(`${out}.parity.json`, "utf8")) as { expected: number[] }[];
    for (const f of parity) for (let l = 1; l < 3; l++) expect(f.expected[l]).toBeGreaterThanOrEqual(f.expected[l - 1]);

    const e = allot(["eval", "--data", t("test"), "--predictor", out, "--out", `${dir}/thinking-report`, "--b-max", "4"]);
    expect(e.status, e.stderr).toBe(0);
    const res = JSON.parse(readFileSync(`${dir}/thinking-report/results.json`, "utf8"));
    for (const s of res.savings) for (const k of ["thinking", "thinking-uniform", "thinking-oracle", "joint"]) expect(s.saved).toHaveProperty(k);
    expect(res.savings.map((s: { budget: number; k: number }) => `${s.budget}/${s.k}`)).toEqual(["8/1", "64/1", "64/2", "64/4"]);
    // The oracle plans on each prompt's own outcomes and tokens: it reaches every accuracy allot's one-shot
    // choices reach, at no more tokens (up to a menu step's rounding and the budget grid).
    for (const [mine, oracle] of [["thinking", "thinking-oracle"], ["joint", "joint-oracle"]]) {
      for (const p of res.curves[mine]) {
        const need = costToReach(res.curves[oracle], p.quality - 0.01);
        expect(need, `${oracle} at ${p.quality}`).not.toBeNull();
        expect(need!).toBeLessThanOrEqual(p.cost * 1.05 + 0.5);
      }
    }
    // The sequential replay spends what it draws, and more budget solves more, up to noise: each
    // round is planned under the tokens left without looking further, so a larger budget can
    // put more into long thinks early and keep less for retries. On these 60 prompts × 4 orders
    // (one prompt in one order is 0.004) one step dropped 0.021 (0.858 at 18 tokens, 0.838 at 20);
    // on the 600 prompts of reports/thinking/allocation the curve rises at every step.
    const seq = res.curves.sequential as { cost: number; quality: number }[];
    expect(seq.length).toBeGreaterThan(3);
    for (let k = 1; k < seq.length; k++) expect(seq[k].quality).toBeGreaterThanOrEqual(seq[k - 1].quality - 0.03);
    expect(seq.at(-1)!.quality).toBeGreaterThan(seq[0].quality + 0.3);
    expect(readFileSync(`${dir}/thinking-report/report.md`, "utf8")).toContain("Tokens saved at the accuracy of a fixed policy");
    expect(JSON.parse(readFileSync(`${out}.manifest.json`, "utf8")).metrics.test_saved_thinking_n8).toBe(res.savings[0].saved.thinking);
    // Same data, same seed: the same report, byte for byte.
    const again = allot(["eval", "--data", t("test"), "--predictor", out, "--out", `${dir}/thinking-report-2`, "--b-max", "4"]);
    expect(again.status).toBe(0);
    // (Each names the command that wrote it, which differs in --out.)
    const body = (path: string) => readFileSync(path, "utf8").replace(/\n "command": .*\n/, "\n");
    expect(body(`${dir}/thinking-report-2/results.json`)).toBe(body(`${dir}/thinking-report/results.json`));
    expect(res.command).toBe(`allot eval --data ${t("test")} --predictor ${out} --out ${dir}/thinking-report --b-max 4`);
  });

  it("refuses to evaluate data collected at other budgets", () => {
    const other = `${dir}/t-other.jsonl`;
    const r = allot(["collect", "--prompts", sums("test", 12, 24), "--out", other, "--lm", thinking.url, "--model", "thinking", "--samples", "2", "--thinking-budgets", "0,64"]);
    expect(r.status, r.stderr).toBe(0);
    const e = allot(["eval", "--data", other, "--predictor", `${dir}/thinking-p`, "--out", `${dir}/z`]);
    expect(e.status).toBe(1);
    expect(e.stderr).toContain("0,8,64");
  });
});
