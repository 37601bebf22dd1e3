/**
 * An untrained predictor of any input width, for benchmarks of the predicting path at a
 * real model's size (a 4,096-wide hidden state, as a 7–8B model serves): random weights,
 * exported by the project's own ONNX writer, with parity fixtures from its own forward
 * pass, ready for PUT /admin/predictors/{name}. Its predictions mean nothing; its size and
 * its work per prompt are a trained one's.
 */
import { createHash } from "node:crypto";
import { initParams } from "../src/node/training/mlp.js";
import { type ExportInput, exportOnnx, foldedForward } from "../src/node/training/onnx-writer.js";

export function widePredictor(width: number, lmModel: string, fixtures: readonly (readonly number[])[]) {
  const e: ExportInput = {
    params: initParams(width, 64, 1, 7),
    head: "bernoulli",
    mean: new Float64Array(width),
    std: new Float64Array(width).fill(14 / Math.sqrt(width)),
    temperature: 1,
    metadata: { lm_model: lmModel, reward_model: "verifier-binary", kind: "bernoulli" },
  };
  const bytes = exportOnnx(e);
  const forward = foldedForward(e);
  const name = `wide-${width}`;
  return {
    name,
    body: {
      manifest: {
        name,
        file: `${name}.onnx`,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        kind: "bernoulli",
        input: "hidden",
        output: "p",
        input_size: width,
        b_max: null,
        lm: { model: lmModel, hidden_size: width },
        hidden_norm: { min: 13, mean: 14, max: 15 },
        reward_model: "verifier-binary",
        normalization: "folded into the first layer",
        temperature: 1,
        prior_strength: 1,
        training: { note: "untrained: random weights, for benchmarks" },
        metrics: {},
      },
      onnx: Buffer.from(bytes).toString("base64"),
      parity: fixtures.map((hidden) => ({ hidden, expected: Array.from(forward(hidden)) })),
    },
  };
}
