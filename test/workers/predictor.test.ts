// The predictor at the edge: the committed ONNX model, loaded by onnxruntime-web inside
// workerd, reproduces the trainer's outputs. (This file imports the 14 MB ORT wasm; keep
// the ORT-dependent tests here, since each such file costs seconds to load.)
import { env as workerEnv, exports } from "cloudflare:workers";
import type { Env } from "../../src/env.js";
import { ApiError } from "../../src/http/errors.js";
import { hiddenStates } from "../../src/predictor/predict.js";
import { describe, expect, it } from "vitest";
import { PredictorManifestSchema } from "../../src/predictor/manifest.js";
import { EdgePredictor } from "../../src/predictor/runtime-web.js";
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
  const post = (body: unknown) =>
    exports.default.fetch(new Request("https://allot.test/v1/allocate", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
  type Res = { allocation: { id: string; units: number; p?: number; curve?: number[] }[]; used: number; error?: { param: string; type: string } };

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

  it("is a 503 that names the choices when HIDDEN_STATES is unknown", async () => {
    const err = await hiddenStates({ ...env, HIDDEN_STATES: "tgi" }, "strong", ["1+1="]).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(503);
    expect(err.message).toContain("sglang-generate");
  });
});
