// The predictor at the edge: the committed ONNX model, loaded by onnxruntime-web inside
// workerd, reproduces the trainer's outputs. (This file imports the 14 MB ORT wasm; keep
// the ORT-dependent tests here, since each such file costs seconds to load.)
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

const predictors = [
  { model: strongBinaryModel, manifest: strongBinaryManifest, parity: strongBinaryParity },
  { model: strongGradedModel, manifest: strongGradedManifest, parity: strongGradedParity },
  { model: weakModel, manifest: weakManifest, parity: weakParity },
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
          expect(row[0]).toBeGreaterThanOrEqual(0);
          expect(row[0]).toBeLessThanOrEqual(1);
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
