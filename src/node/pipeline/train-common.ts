/** What every predictor's training shares: input standardisation, the manifest's training record, and an ONNX export checked against the trainer. */
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { basename } from "node:path";
import * as ort from "onnxruntime-node";
import type { TrainResult } from "../training/mlp.js";
import { type ExportInput, exportOnnx, foldedForward, outputsOf } from "../training/onnx-writer.js";

/** Per-feature mean and standard deviation of the training inputs. */
export function standardizer(hidden: readonly (readonly number[])[]) {
  const d = hidden[0].length;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const h of hidden) h.forEach((x, i) => (mean[i] += x / hidden.length));
  for (const h of hidden) h.forEach((x, i) => (std[i] += (x - mean[i]) ** 2 / hidden.length));
  for (let i = 0; i < d; i++) std[i] = Math.max(Math.sqrt(std[i]), 1e-6);
  return { mean, std };
}

/** The manifest's `training` block: how the predictor was trained, for the record. */
export function trainingSummary(o: { seed: number; hidden: number }, r: TrainResult, trainPrompts: number, validationPrompts: number, samples: number, seconds: number) {
  return {
    seed: o.seed,
    hidden_units: o.hidden,
    epochs: r.epochs,
    best_epoch: r.bestEpoch,
    train_prompts: trainPrompts,
    validation_prompts: validationPrompts,
    samples_per_prompt: samples,
    seconds: Math.round(seconds * 10) / 10,
  };
}

/**
 * Exports the trained model to ONNX, runs the file in onnxruntime against the trainer's
 * own forward pass on the validation inputs (refusing a difference above 1e-5, relative
 * for outputs above 1), and
 * writes <out>.onnx and <out>.parity.json (fixtures the workerd tests compare with).
 */
export async function exportChecked(
  e: ExportInput,
  validationHidden: readonly (readonly number[])[],
  out: string,
): Promise<{ parity: number; identity: { name: string; file: string; sha256: string } }> {
  const bytes = exportOnnx(e);
  const { d, o } = e.params;
  const session = await ort.InferenceSession.create(bytes);
  const flat = Float32Array.from(validationHidden.flat());
  const outputs = outputsOf(e.head, o);
  const result = await session.run({ hidden: new ort.Tensor("float32", flat, [validationHidden.length, d]) });
  // The graph's outputs side by side, in the order the trainer's forward pass gives them.
  const onnxRow = (i: number) => outputs.flatMap(({ name, width }) => Array.from((result[name].data as Float32Array).subarray(i * width, (i + 1) * width)));
  const forward = foldedForward(e);
  let parity = 0;
  validationHidden.forEach((h, i) => {
    const row = onnxRow(i);
    // Absolute for probabilities and curves (at most 1), relative above 1 (a thinking predictor's tokens).
    forward(h).forEach((w, j) => (parity = Math.max(parity, Math.abs(w - row[j]) / Math.max(1, Math.abs(w)))));
  });
  if (parity > 1e-5) throw new Error(`exported ONNX differs from the trained model by ${parity} (> 1e-5)`);
  await writeFile(`${out}.onnx`, bytes);
  // Fixtures hold the predictor's own output (manifest.output, what the gateway checks an upload against).
  const width = outputs[0].width;
  const fixtures = validationHidden.slice(0, 8).map((hidden) => ({ hidden, expected: Array.from(forward(hidden).subarray(0, width)) }));
  await writeFile(`${out}.parity.json`, JSON.stringify(fixtures) + "\n");
  const name = basename(out);
  return { parity, identity: { name, file: `${name}.onnx`, sha256: createHash("sha256").update(bytes).digest("hex") } };
}

