// The predictor at the edge: the committed ONNX model, loaded by onnxruntime-web inside
// workerd, reproduces the trainer's outputs. (This file imports the 14 MB ORT wasm; keep
// the ORT-dependent tests here, since each such file costs seconds to load.)
import { env as workerEnv } from "cloudflare:workers";
import type { Env } from "../../src/worker/env.js";
import { Misconfigured } from "../../src/core/errors.js";
import { httpError } from "../../src/worker/http/errors.js";
import { hiddenStates } from "../../src/worker/predictor/predict.js";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/core/config/settings.js";
import { call, newTenant } from "./support.js";
import { PredictorManifestSchema } from "../../src/core/predictor/manifest.js";
import { EdgePredictor } from "../../src/worker/predictor/runtime-web.js";
import strongBinaryModel from "../../models/predictors/strong-binary.onnx";
import strongBinaryManifest from "../../models/predictors/strong-binary.manifest.json";
import strongBinaryParity from "../../models/predictors/strong-binary.parity.json";
import strongGradedModel from "../../models/predictors/strong-graded.onnx";
import strongGradedManifest from "../../models/predictors/strong-graded.manifest.json";
import strongGradedParity from "../../models/predictors/strong-graded.parity.json";
import weakModel from "../../models/predictors/weak-binary.onnx";
import weakManifest from "../../models/predictors/weak-binary.manifest.json";
import weakParity from "../../models/predictors/weak-binary.parity.json";
import routeModel from "../../models/predictors/route.onnx";
import routeManifest from "../../models/predictors/route.manifest.json";
import routeParity from "../../models/predictors/route.parity.json";
import thinkingModel from "../../models/predictors/thinking.onnx";
import thinkingManifest from "../../models/predictors/thinking.manifest.json";
import thinkingParity from "../../models/predictors/thinking.parity.json";
import thinkingChatModel from "../../models/predictors/thinking-chat.onnx";
import thinkingChatManifest from "../../models/predictors/thinking-chat.manifest.json";
import thinkingChatParity from "../../models/predictors/thinking-chat.parity.json";

const env = workerEnv as unknown as Env;

const predictors = [
  { model: strongBinaryModel, manifest: strongBinaryManifest, parity: strongBinaryParity },
  { model: strongGradedModel, manifest: strongGradedManifest, parity: strongGradedParity },
  { model: weakModel, manifest: weakManifest, parity: weakParity },
  { model: routeModel, manifest: routeManifest, parity: routeParity },
];

describe("EdgePredictor (onnxruntime-web in workerd)", () => {
  for (const p of predictors) {
    const manifest = PredictorManifestSchema.parse(p.manifest);
    it(`${manifest.name}: matches the trainer's outputs to 1e-5`, async () => {
      const predictor = await EdgePredictor.create(p.model, manifest);
      const out = await predictor.predict(p.parity.map((f) => f.hidden));
      expect(out).toHaveLength(p.parity.length);
      p.parity.forEach((f, i) => {
        expect(out[i]).toHaveLength(f.expected.length);
        f.expected.forEach((want, j) => expect(Math.abs(out[i][j] - want)).toBeLessThanOrEqual(1e-5));
      });
      // Batch of one, and a second call on the same session.
      const one = await predictor.predict([p.parity[0].hidden]);
      expect(Math.abs(one[0][0] - p.parity[0].expected[0])).toBeLessThanOrEqual(1e-5);
      // Outputs are what the manifest says: p in [0, 1], or a non-decreasing q.
      for (const row of out) {
        if (manifest.kind === "bernoulli") {
          // p, or a router's p per model.
          expect(row).toHaveLength(manifest.route?.options.length ?? 1);
          for (const x of row) {
            expect(x).toBeGreaterThanOrEqual(0);
            expect(x).toBeLessThanOrEqual(1);
          }
        } else {
          for (let j = 1; j < row.length; j++) expect(row[j]).toBeGreaterThanOrEqual(row[j - 1]);
        }
      }
    });

    it(`${manifest.name}: rejects a hidden state of the wrong size`, async () => {
      const predictor = await EdgePredictor.create(p.model, manifest);
      await expect(predictor.predict([new Float32Array(manifest.input_size + 1)])).rejects.toThrow(RangeError);
    });
  }
});

describe("POST /v1/allocate with the predictor at the edge", () => {
  // Queries with a prompt or a hidden state run the LM and the predictor: they need a tenant's key.
  const post = async (body: unknown, headers?: Record<string, string>) =>
    call("/v1/allocate", { method: "POST", headers: headers ?? (await newTenant()).headers, body: JSON.stringify(body) });
  type Res = { allocation: { id: string; units: number; p?: number; curve?: number[] }[]; used: number; error?: { param: string; type: string } };

  it("refuses prompt and hidden queries without an API key, and serves p queries to anyone", async () => {
    const anonymous = { "content-type": "application/json" };
    for (const q of [{ id: "a", prompt: "1+1=" }, { id: "a", hidden: strongBinaryParity[0].hidden }]) {
      const res = await post({ budget: 2, max: 2, queries: [q] }, anonymous);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain("prompt or a hidden state");
    }
    expect((await post({ budget: 2, max: 2, queries: [{ id: "a", p: 0.5 }] }, anonymous)).status).toBe(200);
  });

  it("predicts p from hidden states, as the trainer does, and allocates", async () => {
    const fixtures = strongBinaryParity.slice(0, 4);
    const res = await post({ budget: 12, min: 1, max: 8, queries: fixtures.map((f, i) => ({ id: `h${i}`, hidden: f.hidden })) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Res;
    body.allocation.forEach((a, i) => expect(Math.abs(a.p! - fixtures[i].expected[0])).toBeLessThanOrEqual(1e-5));
    expect(body.used).toBeLessThanOrEqual(12);
  });

  it("reads prompts' hidden states from the real reference LM over HTTP", async () => {
    const prompts = ["1+1=", "12+34=", "345+678=", "4567*8912=", "23*45="];
    const res = await post({ budget: 20, min: 1, max: 8, queries: prompts.map((prompt, i) => ({ id: `q${i}`, prompt })) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Res;
    const p = Object.fromEntries(body.allocation.map((a, i) => [prompts[i], a.p!]));
    expect(p["1+1="]).toBeGreaterThan(0.9);
    expect(p["4567*8912="]).toBeLessThan(0.1);
    // An easy prompt needs no extra samples; the budget goes where it helps.
    expect(body.allocation[0].units).toBe(1);
    expect(body.used).toBeLessThanOrEqual(20);
  });

  it("uses a curve predictor when asked, and mixes query kinds", async () => {
    const res = await post({
      budget: 10,
      min: 1,
      predictor: "strong-graded",
      queries: [{ id: "a", prompt: "345+678=" }, { id: "b", p: 0.5, max: 4 }, { id: "c", marginals: [0.3, 0.1] }],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Res;
    const curve = body.allocation[0].curve!;
    expect(curve.length).toBe(16);
    for (let j = 1; j < curve.length; j++) expect(curve[j]).toBeGreaterThanOrEqual(curve[j - 1]);
    expect(body.allocation[1].curve).toBeUndefined();
  });

  it.each([
    [{ budget: 4, queries: [{ id: "a", hidden: [1, 2, 3] }] }, 400, "queries[0].hidden"],
    [{ budget: 4, model: "gpt-9", queries: [{ id: "a", prompt: "1+1=" }] }, 404, "model"],
    [{ budget: 4, predictor: "nope", queries: [{ id: "a", prompt: "1+1=" }] }, 400, "predictor"],
    [{ budget: 4, predictor: "route", queries: [{ id: "a", prompt: "1+1=" }] }, 400, "predictor"],
    [{ budget: 4, model: "weak", predictor: "strong-binary", queries: [{ id: "a", prompt: "1+1=" }] }, 400, "predictor"],
    [{ budget: 4, queries: [{ id: "a", prompt: "1+1=", p: 0.3 }] }, 400, "queries[0].marginals"],
  ])("rejects %j", async (body, status, param) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as Res).error!.param).toBe(param);
  });

  it("answers 400 with the LM's reason when the LM rejects the prompt, without naming the LM's address", async () => {
    const res = await post({ budget: 4, queries: [{ id: "a", prompt: "hello" }] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Res & { error: { message: string } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toContain("vocabulary");
    expect(body.error.message).not.toMatch(/127\.0\.0\.1|http:/);
  });
});

describe("hidden states from SGLang's /generate (HIDDEN_STATES=sglang-generate)", () => {
  it("reads the same vectors as vLLM's /pooling from the real reference LM", async () => {
    const prompts = ["1+1=", "345+678=", "23*45="];
    const sglang = await hiddenStates({ ...env, HIDDEN_STATES: "sglang-generate" }, "strong", prompts);
    const pooled = await hiddenStates(env, "strong", prompts);
    expect(sglang).toHaveLength(3);
    sglang.forEach((v, i) => {
      expect(v).toHaveLength(pooled[i].length);
      v.forEach((x, j) => expect(Math.abs(x - pooled[i][j])).toBeLessThan(1e-5));
    });
  });

  // What SGLang's scheduler does to concurrent calls, and the set-ups that survive it: servers.test.ts.

  it("is a 503 that names the choices when HIDDEN_STATES is unknown", async () => {
    const err = await hiddenStates({ ...env, HIDDEN_STATES: "tgi" }, "strong", ["1+1="]).catch((e) => e);
    expect(err).toBeInstanceOf(Misconfigured);
    expect(httpError(err).status).toBe(503);
    expect(err.message).toContain("sglang-generate");
  });
});

describe("publishing predictors (PUT /admin/predictors/{name}, the PREDICTORS R2 bucket)", () => {
  const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };
  const admin = (path: string, init: RequestInit = {}) => call(path, { ...init, headers: { ...ADMIN, ...init.headers } });
  const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
  const sha = async (bytes: ArrayBuffer | Uint8Array) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
  // The shipped strong-binary, published as the predictor of another deployment's model.
  const acme = (name = "acme-binary", lm = "acme/arith-7b") => ({
    manifest: { ...strongBinaryManifest, name, lm: { ...strongBinaryManifest.lm, model: lm } },
    onnx: b64(strongBinaryModel),
    parity: strongBinaryParity,
  });
  const put = (name: string, body: unknown) => admin(`/admin/predictors/${name}`, { method: "PUT", body: JSON.stringify(body) });
  type Err = { error: { type: string; message: string; param: string | null } };
  type Res = { allocation: { p?: number; curve?: number[] }[] };
  const post = async (body: unknown) => call("/v1/allocate", { method: "POST", headers: (await newTenant()).headers, body: JSON.stringify(body) });
  const allocate = (model: string, hidden: number[][]) => post({ budget: hidden.length * 2, max: 4, model, queries: hidden.map((h, i) => ({ id: `q${i}`, hidden: h })) });

  it("validates, stores and lists a predictor; a request naming its LM uses it at once", async () => {
    const res = await put("acme-binary", acme());
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: "acme-binary", source: "published", lm_model: "acme/arith-7b", input_size: 128 });
    const list = (await (await admin("/admin/predictors")).json()) as { data: { name: string; source: string }[] };
    expect(list.data.find((p) => p.name === "acme-binary")?.source).toBe("published");
    expect(list.data.find((p) => p.name === "strong-binary")?.source).toBe("shipped");
    const fixtures = strongBinaryParity.slice(0, 3);
    const out = (await (await allocate("acme/arith-7b", fixtures.map((f) => f.hidden))).json()) as Res;
    out.allocation.forEach((a, i) => expect(Math.abs(a.p! - fixtures[i].expected[0])).toBeLessThanOrEqual(1e-5));
  });

  it("an updated predictor takes effect without a redeploy, and a deleted one is gone", async () => {
    expect((await put("acme-binary", acme())).status).toBe(201);
    // The same name and LM, now another model of the same width (the graded curve predictor): the next request uses it.
    const graded = { manifest: { ...strongGradedManifest, name: "acme-binary", lm: { ...strongGradedManifest.lm, model: "acme/arith-7b" } }, onnx: b64(strongGradedModel), parity: strongGradedParity };
    expect((await put("acme-binary", graded)).status).toBe(201);
    const out = (await (await allocate("acme/arith-7b", [strongGradedParity[0].hidden])).json()) as Res;
    out.allocation[0].curve!.forEach((q, j) => expect(Math.abs(q - strongGradedParity[0].expected[j])).toBeLessThanOrEqual(1e-5));
    expect((await admin("/admin/predictors/acme-binary", { method: "DELETE" })).status).toBe(204);
    const gone = await allocate("acme/arith-7b", [strongGradedParity[0].hidden]);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe("model_not_found");
    expect((await admin("/admin/predictors/acme-binary", { method: "DELETE" })).status).toBe(404);
  });

  it("refuses a predictor whose input width is not what the LM's hidden-state server returns: it would fail every request for that LM", async () => {
    // The weak predictor (64 inputs) published as strong's: strong's hidden states are 128 wide.
    const weakAsStrong = { manifest: { ...weakManifest, name: "strong-binary", lm: { ...weakManifest.lm, model: "strong" } }, onnx: b64(weakModel), parity: weakParity };
    const res = await put("strong-binary", weakAsStrong);
    expect(res.status).toBe(400);
    const err = ((await res.json()) as Err).error;
    expect(err.param).toBe("manifest.input_size");
    expect(err.message).toContain("128 wide");
    // And one for an LM no server answers for is held to the predictors already serving it.
    const weakAsAcme = { manifest: { ...weakManifest, name: "acme-wide", lm: { ...weakManifest.lm, model: "acme/arith-7b" } }, onnx: b64(weakModel), parity: weakParity };
    expect((await put("acme-binary", acme())).status).toBe(201);
    const wrong = await put("acme-wide", weakAsAcme);
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as Err).error.message).toContain("acme-binary");
    expect((await admin("/admin/predictors/acme-binary", { method: "DELETE" })).status).toBe(204);
    expect((await allocate("strong", [strongBinaryParity[1].hidden])).status).toBe(200);
  });

  it("a published predictor replaces a shipped one of the same name until it is deleted", async () => {
    const gradedAsBinary = { manifest: { ...strongGradedManifest, name: "strong-binary" }, onnx: b64(strongGradedModel), parity: strongGradedParity };
    expect((await put("strong-binary", gradedAsBinary)).status).toBe(201);
    const out = (await (await allocate("strong", [strongGradedParity[1].hidden])).json()) as Res;
    out.allocation[0].curve!.forEach((q, j) => expect(Math.abs(q - strongGradedParity[1].expected[j])).toBeLessThanOrEqual(1e-5));
    expect((await admin("/admin/predictors/strong-binary", { method: "DELETE" })).status).toBe(204);
    expect((await allocate("strong", [strongBinaryParity[1].hidden])).status).toBe(200);
  });

  it("a published curve predictor (a reward model's graded rewards) serves online requests in waves: Pandora's stop, charged what was drawn", async () => {
    // strong-graded published as the predictor of "strong", with the LM's graded verifier as the reward model.
    const graded = { manifest: { ...strongGradedManifest, name: "acme-graded" }, onnx: b64(strongGradedModel), parity: strongGradedParity };
    expect((await put("acme-graded", graded)).status).toBe(201);
    const { serveOnline } = await import("../../src/worker/online/serve.js");
    const gradedEnv = { ...workerEnv, REWARD_MODEL: "verifier-graded" } as unknown as Env;
    const t = await newTenant();
    const params = { temperature: 0.8, topP: 1, maxTokens: 12 };
    const serve = (prompt: string, seed: number) => serveOnline(gradedEnv, { tenant: t.id, shard: null }, { inputs: [{ prompt }], model: "strong", params, seed });
    // An easy prompt gets full marks at once: one round, one sample.
    const easy = (await serve("1+1=", 1)).choices[0];
    expect(easy).toMatchObject({ samples: 1, rounds: 1 });
    expect(easy.result.reward).toBe(1);
    // Hard prompts earn partial credit and sample on, in rounds of 1, 1, 2, …, within the tenant's 4 rounds and 16 units.
    let drawn = 1;
    let partial = 0;
    for (const [i, prompt] of ["4567*8912=", "9876*5432=", "3456*7891="].entries()) {
      const r = await serve(prompt, 10 + i);
      const c = r.choices[0];
      expect(c.units).toBe(c.samples);
      expect(c.rounds).toBeLessThanOrEqual(4);
      expect(c.samples).toBeLessThanOrEqual(c.rounds < 4 ? [1, 2, 4][c.rounds - 1] : 16);
      expect(c.result.rewards).toHaveLength(c.samples);
      expect(c.result.reward).toBe(Math.max(...c.result.rewards));
      if (c.result.reward! > 0 && c.result.reward! < 1) partial++;
      drawn += c.samples;
    }
    expect(partial).toBeGreaterThan(0);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { used: number; reserved: number }[] };
    // Every sample, and each of the four prompts' prefills (PREFILL_UNITS).
    expect(usage.windows[0].used).toBeCloseTo(drawn + 4 * Number(SETTINGS.PREFILL_UNITS.default), 9);
    expect(usage.windows[0].reserved).toBe(0);
    expect((await admin("/admin/predictors/acme-graded", { method: "DELETE" })).status).toBe(204);
  });

  it.each([
    ["the URL and the manifest name differ", "other", () => acme(), "manifest.name"],
    ["an ONNX that is not the manifest's (sha256)", "acme-binary", () => ({ ...acme(), onnx: b64(weakModel) }), "onnx"],
    ["onnx that is not base64", "acme-binary", () => ({ ...acme(), onnx: "%%%" }), "onnx"],
    ["a parity fixture the model does not reproduce", "acme-binary", () => ({ ...acme(), parity: [{ hidden: strongBinaryParity[0].hidden, expected: [strongBinaryParity[0].expected[0] + 0.01] }] }), "parity[0].expected"],
    ["a fixture of the wrong size", "acme-binary", () => ({ ...acme(), parity: [{ hidden: [1, 2, 3], expected: [0.5] }] }), "parity[0].hidden"],
    ["no parity fixture", "acme-binary", () => ({ ...acme(), parity: [] }), "parity"],
    ["a name that is not a plain identifier", "_x", () => acme("_x"), "name"],
  ])("refuses %s with a 400 naming it", async (_what, name, body, param) => {
    const res = await put(name, body());
    expect(res.status).toBe(400);
    expect(((await res.json()) as Err).error.param).toBe(param);
    const list = (await (await admin("/admin/predictors")).json()) as { data: { source: string }[] };
    expect(list.data.every((p) => p.source === "shipped")).toBe(true);
  });

  it("refuses bytes onnxruntime-web cannot open, even when their sha256 is the manifest's", async () => {
    const junk = new TextEncoder().encode("this is not an onnx model");
    const res = await put("acme-binary", { manifest: { ...acme().manifest, sha256: await sha(junk) }, onnx: b64(junk), parity: strongBinaryParity });
    expect(res.status).toBe(400);
    const err = ((await res.json()) as Err).error;
    expect(err.param).toBe("onnx");
    expect(err.message).toContain("onnxruntime-web");
  });

  it("needs the admin token", async () => {
    const res = await call("/admin/predictors/acme-binary", { method: "PUT", body: JSON.stringify(acme()) });
    expect(res.status).toBe(401);
  });
});

describe("loading several predictors at once in one isolate", () => {
  it("creates sessions concurrently, each right, and leaves WebAssembly.instantiate as it was", async () => {
    const original = WebAssembly.instantiate;
    const made = await Promise.all(predictors.map((p) => EdgePredictor.create(p.model, PredictorManifestSchema.parse(p.manifest))));
    expect(WebAssembly.instantiate).toBe(original);
    for (const [i, predictor] of made.entries()) {
      const f = predictors[i].parity[0];
      const [out] = await predictor.predict([f.hidden]);
      f.expected.forEach((want, j) => expect(Math.abs(out[j] - want)).toBeLessThanOrEqual(1e-5));
    }
  });

  it.each([
    ["thinking", thinkingModel, thinkingManifest, thinkingParity],
    ["thinking-chat", thinkingChatModel, thinkingChatManifest, thinkingChatParity],
  ] as const)("runs the %s predictor (p at each thinking budget) as onnxruntime-node does: a value per level, non-decreasing in the budget", async (_name, model, raw, parity) => {
    const manifest = PredictorManifestSchema.parse(raw);
    expect(manifest.thinking?.levels).toEqual([0, 4, 8, 16, 32, 64]);
    const predictor = await EdgePredictor.create(model, manifest);
    const out = await predictor.predict(parity.map((f) => f.hidden));
    // Its second output, each prompt's expected tokens per level, is read beside p.
    const both = await predictor.predictThinking(parity.map((f) => f.hidden));
    both.p.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(out[i])));
    for (const row of both.tokens) for (let j = 1; j < row.length; j++) expect(row[j]).toBeGreaterThanOrEqual(row[j - 1] - 1e-4);
    parity.forEach((f, i) => {
      expect(out[i]).toHaveLength(manifest.thinking!.levels.length);
      f.expected.forEach((want, j) => expect(Math.abs(out[i][j] - want)).toBeLessThanOrEqual(1e-5));
      // Non-decreasing by construction, to within float32's sigmoid in the tail (docs/thinking.md).
      for (let j = 1; j < out[i].length; j++) expect(out[i][j]).toBeGreaterThanOrEqual(out[i][j - 1] - 1e-6);
    });
  });
});
