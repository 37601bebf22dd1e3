// The #21 defects, each kept fixed by a test that failed before it: a predictor swapped
// under load serving a mix of two versions (or a 500), a batch body the batch's object
// could not be handed, admin-only routes offered to browsers, client text forging log
// lines, an unknown model reaching the LM, and a manifest without a size bound. Real
// Durable Objects, the real R2 bucket binding and the real reference LM; the stand-ins
// are the fault proxy's delay (a slow LM) and a dead LM address where no call may be made.
import { env as workerEnv } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PredictorManifestSchema } from "../../src/core/predictor/manifest.js";
import { createApp } from "../../src/worker/app.js";
import type { Env } from "../../src/worker/env.js";
import { hiddenStates } from "../../src/worker/predictor/predict.js";
import { EdgePredictor } from "../../src/worker/predictor/runtime-web.js";
import strongBinaryModel from "../../models/predictors/strong-binary.onnx";
import strongBinaryManifest from "../../models/predictors/strong-binary.manifest.json";
import strongBinaryParity from "../../models/predictors/strong-binary.parity.json";
import strongGradedModel from "../../models/predictors/strong-graded.onnx";
import strongGradedManifest from "../../models/predictors/strong-graded.manifest.json";
import strongGradedParity from "../../models/predictors/strong-graded.parity.json";
import { ADMIN, call, newTenant, until, viaEntry } from "./support.js";

const env = workerEnv as unknown as Env;
const MiB = 1024 * 1024;
const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const admin = (path: string, init: RequestInit = {}) => call(path, { ...init, headers: { ...ADMIN, ...init.headers } });
const publish = (name: string, body: unknown, via = call) => via(`/admin/predictors/${name}`, { method: "PUT", headers: ADMIN, body: JSON.stringify(body) });
/** The app with `vars` over the test bindings (settings are parsed per environment). */
const withVars = (vars: Record<string, string>) => {
  const app = createApp();
  const e = { ...workerEnv, ...vars };
  return (path: string, init?: RequestInit) => app.fetch(new Request(`https://allot.test${path}`, init), e, createExecutionContext());
};
type Err = { error: { type: string; code: string | null; param: string | null; message: string } };

afterEach(() => vi.restoreAllMocks());

describe("a predictor swapped under load", () => {
  it("serves every answer from exactly one version, never a mix, a 500 or a wrong width, while two versions are published in turn", async () => {
    // Requests and publishes go through the Worker's entry, each in a request context of its own,
    // sharing the isolate's predictor caches as production requests do.
    // Two versions of one predictor for one LM, of the same width: the shipped binary one (p)
    // and the graded one (q(1..16)). Their LM is the fault proxy's slow name for strong, so
    // each request holds its chosen manifest for 300 ms of hidden-state reading before it
    // loads that version's bytes: the window in which a publish lands.
    const lm = "fault-delayx300:strong";
    const version = (m: typeof strongBinaryManifest | typeof strongGradedManifest, onnx: ArrayBuffer, parity: unknown) => ({ manifest: { ...m, name: "swapped", lm: { ...m.lm, model: lm } }, onnx: b64(onnx), parity });
    const binary = version(strongBinaryManifest, strongBinaryModel, strongBinaryParity);
    const graded = version(strongGradedManifest, strongGradedModel, strongGradedParity);
    // What each version answers for the queries sent: a prompt (read from the LM) and two
    // hidden states (the parity fixtures, the same inputs in both versions' files).
    const prompt = "345+678=";
    const fixtures = [0, 1];
    for (const k of fixtures) expect(strongGradedParity[k].hidden).toEqual(strongBinaryParity[k].hidden);
    const [h] = await hiddenStates(env, "strong", [prompt]);
    const [pOfPrompt] = await (await EdgePredictor.create(strongBinaryModel, PredictorManifestSchema.parse(strongBinaryManifest))).predict([h]);
    const [qOfPrompt] = await (await EdgePredictor.create(strongGradedModel, PredictorManifestSchema.parse(strongGradedManifest))).predict([h]);
    const expected = {
      binary: [pOfPrompt[0], ...fixtures.map((k) => strongBinaryParity[k].expected[0])],
      graded: [Array.from(qOfPrompt), ...fixtures.map((k) => strongGradedParity[k].expected)],
    };
    expect((await publish("swapped", binary)).status).toBe(201);

    const t = await newTenant();
    const body = JSON.stringify({ budget: 6, max: 4, model: lm, queries: [{ id: "prompt", prompt }, ...fixtures.map((k) => ({ id: `h${k}`, hidden: strongBinaryParity[k].hidden }))] });
    type Answer = { status: number; body: { allocation?: { p?: number; curve?: number[] }[] } & Partial<Err> };
    const answers: Answer[] = [];
    let publishing = true;
    const traffic = async () => {
      while (publishing) {
        const res = await viaEntry("/v1/allocate", { method: "POST", headers: t.headers, body });
        answers.push({ status: res.status, body: (await res.json()) as Answer["body"] });
      }
    };
    const clients = Promise.all(Array.from({ length: 4 }, traffic));
    // Each publish lands while requests are in flight, and the next waits until a few more have been answered.
    for (let i = 0; i < 6; i++) {
      const before = answers.length;
      expect((await publish("swapped", i % 2 === 0 ? graded : binary, viaEntry)).status).toBe(201);
      await until(() => answers.length >= before + 6, { timeoutMs: 30_000, what: "answers after a publish" });
    }
    publishing = false;
    await clients;

    const seen = { binary: 0, graded: 0 };
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body.error)).toBe(200);
      const rows = a.body.allocation!;
      // One version per answer: all three queries a p (binary), or all three a curve (graded).
      const kind = rows.every((r) => r.p !== undefined && r.curve === undefined) ? "binary" : rows.every((r) => r.curve !== undefined && r.p === undefined) ? "graded" : null;
      expect(kind, JSON.stringify(rows)).not.toBeNull();
      seen[kind!]++;
      rows.forEach((r, i) => {
        if (kind === "binary") expect(Math.abs(r.p! - expected.binary[i])).toBeLessThanOrEqual(1e-5);
        else {
          expect(r.curve).toHaveLength(16);
          r.curve!.forEach((q, j) => expect(Math.abs(q - expected.graded[i][j])).toBeLessThanOrEqual(1e-5));
        }
      });
    }
    // Both versions served, so the swaps landed among the requests.
    expect(seen.binary).toBeGreaterThan(0);
    expect(seen.graded).toBeGreaterThan(0);
    expect((await admin("/admin/predictors/swapped", { method: "DELETE" })).status).toBe(204);
  }, 120_000);

  it.each([
    ["metrics", { metrics: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`calibration_bin_${i}`, i / 7])) }],
    ["training", { training: { notes: "x".repeat(70 * 1024) } }],
  ])("refuses a manifest over 64 KiB of JSON (huge %s) with a 400 naming manifest", async (_field, extra) => {
    const manifest = { ...strongBinaryManifest, ...extra, name: "bloated" };
    expect(JSON.stringify(manifest).length).toBeGreaterThan(64 * 1024);
    const res = await publish("bloated", { manifest, onnx: b64(strongBinaryModel), parity: strongBinaryParity });
    expect(res.status).toBe(400);
    const err = ((await res.json()) as Err).error;
    expect(err.param).toBe("manifest");
    expect(err.message).toContain(String(64 * 1024));
    const list = (await (await admin("/admin/predictors")).json()) as { data: { name: string }[] };
    expect(list.data.map((p) => p.name)).not.toContain("bloated");
  });
});

describe("batch bodies and the batch object's limit", () => {
  /** A uniform batch body of exactly `bytes` bytes: prompts of up to 100,000 characters, the last one padded to fit. */
  function batchBody(bytes: number): string {
    const shell = (prompts: { id: string; prompt: string }[]) => JSON.stringify({ prompts, allocation: "uniform", budget: { average: 1, min: 1, max: 1 } });
    // "x" is outside the reference LM's vocabulary: any prompt that reaches it is refused at once, costing nothing.
    const full = "x".repeat(100_000);
    const prompt = (i: number, text = full) => ({ id: `p${String(i).padStart(3, "0")}`, prompt: text });
    // Every prompt adds the same bytes (ids of one width): as many full ones as fit, the last cut to the byte.
    const each = shell([prompt(0), prompt(1)]).length - shell([prompt(0)]).length;
    const n = Math.ceil((bytes - shell([]).length + 1) / each);
    const prompts = Array.from({ length: n }, (_, i) => prompt(i));
    prompts[n - 1] = prompt(n - 1, "x".repeat(100_000 - (shell([]).length + n * each - 1 - bytes)));
    const text = shell(prompts);
    expect(text.length).toBe(bytes);
    return text;
  }

  it("a body just over 24 MiB is a 413 naming the limit; one just under is accepted and handed to the batch's object", async () => {
    const t = await newTenant({ day: 100_000 });
    const over = await call("/v1/batches", { method: "POST", headers: t.headers, body: batchBody(24 * MiB + 1) });
    expect(over.status).toBe(413);
    const err = ((await over.json()) as Err).error;
    expect(err.type).toBe("invalid_request_error");
    expect(err.message).toContain("24 MiB");
    expect(over.headers.get("x-should-retry")).toBe("false");

    const under = await call("/v1/batches", { method: "POST", headers: t.headers, body: batchBody(24 * MiB - 1) });
    expect(under.status).toBe(202);
    const batch = (await under.json()) as { id: string; status: string; prompts: number };
    expect(batch.status).toBe("queued");
    expect(batch.prompts).toBeGreaterThan(250);
    const cancelled = await call(`/v1/batches/${batch.id}/cancel`, { method: "POST", headers: t.headers });
    expect(cancelled.status).toBe(200);
  }, 60_000);
});

describe("admin-only routes and browsers", () => {
  it("never gives /metrics, /dashboard or /admin CORS headers, even with CORS_ORIGINS *; /v1 routes get them, with allot's one header list", async () => {
    const fetchCors = withVars({ CORS_ORIGINS: "*" });
    const origin = "https://evil.example";
    const corsHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith("access-control-"));
    for (const path of ["/metrics", "/dashboard", "/admin/tenants", "/admin/predictors"]) {
      const get = await fetchCors(path, { headers: { ...ADMIN, origin } });
      expect(get.status, path).toBe(200);
      expect(corsHeaders(get), path).toEqual([]);
      const preflight = await fetchCors(path, { method: "OPTIONS", headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" } });
      expect(corsHeaders(preflight), path).toEqual([]);
    }
    const models = await fetchCors("/v1/models", { headers: { origin } });
    expect(models.headers.get("access-control-allow-origin")).toBe("*");
    const exposed = models.headers.get("access-control-expose-headers")!.split(",").map((h) => h.trim());
    expect(exposed).toEqual(expect.arrayContaining(["x-allot-rounds", "x-request-id", "x-allot-units", "retry-after", "x-should-retry"]));
    const preflight = await fetchCors("/v1/chat/completions", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,x-allot-rounds" } });
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    const allowed = preflight.headers.get("access-control-allow-headers")!.split(",").map((h) => h.trim());
    expect(allowed).toEqual(expect.arrayContaining(["authorization", "content-type", "x-allot-units", "x-allot-rounds"]));
  });
});

describe("client text in the logs", () => {
  /** Every line console.error was given during `run`. */
  async function logged(run: () => Promise<void>): Promise<string[]> {
    const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await run();
    return spy.mock.calls.map((args) => args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(" "));
  }
  const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

  it("a tenant's model name with an ANSI escape reaches the log escaped (the LM's refusal quotes it)", async () => {
    const t = await newTenant();
    // Named by LM_MODELS ("fault-*" in tests), so it reaches the LM, which says it does not exist, quoting it.
    const model = "fault-\u001b[2J\u001b[31mred\u0007\u000bvt\u0085nel";
    let status = 0;
    const lines = await logged(async () => {
      const res = await call("/v1/completions", { method: "POST", headers: { ...t.headers, "x-allot-units": "1" }, body: JSON.stringify({ model, prompt: "1+1=", max_tokens: 4 }) });
      status = res.status;
    });
    // The deployment names a model its server does not serve: a misconfiguration (503), not the client's fault.
    expect(status).toBe(503);
    const quoting = lines.filter((l) => l.includes("fault-"));
    expect(quoting.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).not.toMatch(CONTROL);
    expect(quoting.join("\n")).toContain("fault-\\u001b[2J\\u001b[31mred\\u0007\\u000bvt\\u0085nel");
  });

  it("a model name with a newline cannot forge a log line", async () => {
    const t = await newTenant();
    // A deployment that names such a model (LM_MODEL) lets it through to the LM; the log still shows one line.
    const model = "acme\n[info] all good\r\u001b[1A";
    const fetchWith = withVars({ LM_MODEL: model });
    let status = 0;
    const lines = await logged(async () => {
      status = (await fetchWith("/v1/completions", { method: "POST", headers: { ...t.headers, "x-allot-units": "1" }, body: JSON.stringify({ model, prompt: "1+1=", max_tokens: 4 }) })).status;
    });
    expect(status).toBe(503);
    const quoting = lines.filter((l) => l.includes("acme"));
    expect(quoting.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).not.toMatch(CONTROL);
    expect(quoting.join("\n")).toContain("acme\\u000a[info] all good\\u000d\\u001b[1A");
  });
});

describe("an unknown model", () => {
  // Any LM call would go to a dead address and fail as a 502/503: a 404 shows none was made.
  const dead = withVars({ LM_URL: "http://127.0.0.1:9", HIDDEN_STATES_URL: "http://127.0.0.1:9", REWARD_URL: "http://127.0.0.1:9" });
  const unknown = "acme/not-served-70b";

  it.each([
    ["/v1/completions", { prompt: "1+1=" }, {}],
    ["/v1/completions (pinned)", { prompt: "1+1=" }, { "x-allot-units": "2" }],
    ["/v1/chat/completions", { messages: [{ role: "user", content: "1+1=" }] }, {}],
    ["/v1/chat/completions (pinned)", { messages: [{ role: "user", content: "1+1=" }] }, { "x-allot-units": "2" }],
    ["/v1/batches", { prompts: [{ id: "a", prompt: "1+1=" }], budget: { average: 2 } }, {}],
    ["/v1/batches (uniform)", { prompts: [{ id: "a", prompt: "1+1=" }], allocation: "uniform", budget: { average: 2 } }, {}],
  ])("%s: a 404 model_not_found before any LM call, nothing reserved or charged", async (label, body, headers) => {
    const t = await newTenant();
    const path = label.split(" ")[0];
    const res = await dead(path, { method: "POST", headers: { ...t.headers, ...headers }, body: JSON.stringify({ model: unknown, ...body }) });
    expect(res.status).toBe(404);
    const err = ((await res.json()) as Err).error;
    expect(err).toMatchObject({ code: "model_not_found", param: "model", type: "invalid_request_error" });
    expect(err.message).toContain(unknown);
    expect(res.headers.get("x-should-retry")).toBe("false");
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { used: number; reserved: number }[] };
    for (const w of usage.windows) expect(w).toMatchObject({ used: 0, reserved: 0 });
    const list = (await (await call("/v1/batches", { headers: t.headers })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });
});
