import { writeFile } from "node:fs/promises";
import { RecordSchema, type DataRecord } from "../../core/predictor/dataset.js";
import { expectedCalibrationError, fitTemperature, spearman } from "../training/calibration.js";
import { bestOfCurve } from "../../core/predictor/estimators.js";
import { fitStrength } from "../../core/allocation/waves.js";
import { atomsFromCurve } from "../../core/allocation/pandora.js";
import { fitRewardStrength } from "./sequential.js";
import { normStats } from "../../core/predictor/hidden-norm.js";
import type { InputForm, PredictorManifest } from "../../core/predictor/manifest.js";
import { type Head, type Rows, defaultTrainOptions, forwardRaw, predict, sigmoid, train } from "../training/mlp.js";
import type { ExportInput } from "../training/onnx-writer.js";
import { readJsonl } from "./jsonl.js";
import { trainThinkingPredictor } from "./train-thinking.js";
import { exportChecked, standardizer, trainingSummary } from "./train-common.js";

export interface TrainPipelineOptions {
  readonly trainPath: string;
  readonly validationPath: string;
  readonly out: string;
  /** auto: thinking budgets when the data has them, else by the rewards (binary: bernoulli, else curve). */
  readonly kind: Exclude<Head, "levels"> | "thinking" | "auto";
  readonly bMax: number;
  readonly seed: number;
  readonly hidden: number;
  readonly lmModel: string;
  readonly rewardModel: string;
  /** What the training vectors were read from (the dataset's collect settings): prompts unless --chat. */
  readonly inputForm?: InputForm;
  /** Thinking predictors: tokens per unit of compute (default 1). */
  readonly tokensPerUnit?: number;
}

const isBinary = (rs: readonly DataRecord[]) => rs.every((r) => r.rewards.every((x) => x === 0 || x === 1));

function rowsOf(records: readonly DataRecord[], head: Head, bMax: number, mean: Float64Array, std: Float64Array): Rows {
  return {
    x: records.map((r) => Float64Array.from(r.hidden, (x, i) => (x - mean[i]) / std[i])),
    y: records.map((r) =>
      head === "bernoulli" ? Float64Array.of(r.rewards.reduce((a, b) => a + b, 0) / r.rewards.length) : Float64Array.from(bestOfCurve(r.rewards, bMax)),
    ),
    weight: records.map((r) => (head === "bernoulli" ? r.rewards.length : 1)),
  };
}

/** Trains, calibrates and exports a predictor; returns its manifest (also written to disk). */
export async function trainPredictor(o: TrainPipelineOptions): Promise<PredictorManifest> {
  const trainRecords = await readJsonl(o.trainPath, RecordSchema);
  const validation = await readJsonl(o.validationPath, RecordSchema);
  if (trainRecords.length < 10 || validation.length < 10) throw new Error("need at least 10 training and 10 validation prompts");
  const d = trainRecords[0].hidden.length;
  for (const r of [...trainRecords, ...validation]) {
    if (r.hidden.length !== d) throw new Error(`prompt ${r.id}: hidden state of size ${r.hidden.length}, expected ${d}`);
  }
  const thinking = trainRecords.every((r) => r.thinking !== undefined);
  if (o.kind === "thinking" || (o.kind === "auto" && thinking)) {
    if (!isBinary(trainRecords)) throw new Error("a thinking-budget predictor is trained on binary (verifier) rewards");
    return trainThinkingPredictor({ ...o, tokensPerUnit: o.tokensPerUnit ?? 1 }, trainRecords, validation);
  }
  const head: Exclude<Head, "levels"> = o.kind === "auto" ? (isBinary(trainRecords) ? "bernoulli" : "curve") : o.kind;
  const K = Math.min(...[...trainRecords, ...validation].map((r) => r.rewards.length));
  const bMax = head === "curve" ? Math.min(o.bMax, K) : 1;
  const { mean, std } = standardizer(trainRecords.map((r) => r.hidden));
  const trainRows = rowsOf(trainRecords, head, bMax, mean, std);
  const valRows = rowsOf(validation, head, bMax, mean, std);

  const t0 = performance.now();
  const result = train(trainRows, valRows, bMax, { ...defaultTrainOptions(head), seed: o.seed, hidden: o.hidden });
  const trainSeconds = (performance.now() - t0) / 1000;

  const metrics: Record<string, number> = { validation_loss: result.validationLoss, train_loss: result.trainLoss };
  let temperature = 1;
  let priorStrength: number | undefined;
  if (head === "bernoulli") {
    const logits = valRows.x.map((x) => forwardRaw(result.params, x)[0]);
    const rates = valRows.y.map((y) => y[0]);
    const weights = valRows.weight;
    const before = logits.map(sigmoid);
    temperature = fitTemperature(logits, rates, weights);
    const after = logits.map((z) => sigmoid(z / temperature));
    metrics.ece_validation_before = expectedCalibrationError(before, rates, weights);
    metrics.ece_validation = expectedCalibrationError(after, rates, weights);
    metrics.spearman_validation = spearman(after, rates);
    priorStrength = fitStrength(validation.map((r, i) => ({ p: after[i], successes: r.rewards.reduce((a, b) => a + b, 0), samples: r.rewards.length })));
  } else {
    // How well the predicted best-of-b_max value ranks prompts by their empirical one.
    const predicted = valRows.x.map((x) => predict(result.params, head, x)[bMax - 1]);
    metrics.spearman_validation = spearman(predicted, valRows.y.map((y) => y[bMax - 1]));
    // Real-valued waves: how far a prompt's own samples may revise its predicted reward distribution.
    const recorded = valRows.x.map((x, i) => {
      const curve = Float64Array.from(predict(result.params, head, x));
      return { p: curve[0], curve, atoms: atomsFromCurve(curve), outcomes: validation[i].rewards };
    });
    const s = fitRewardStrength(recorded, bMax);
    if (Number.isFinite(s)) priorStrength = s;
  }

  const exportInput: ExportInput = {
    params: result.params,
    head,
    mean,
    std,
    temperature,
    metadata: { lm_model: o.lmModel, reward_model: o.rewardModel, kind: head },
  };
  const { parity, identity } = await exportChecked(exportInput, validation.map((r) => r.hidden), o.out);
  metrics.onnx_parity_max_abs = parity;

  const manifest: PredictorManifest = {
    ...identity,
    kind: head,
    input: "hidden",
    input_form: o.inputForm ?? "prompt",
    output: head === "bernoulli" ? "p" : "q",
    input_size: d,
    b_max: head === "curve" ? bMax : null,
    lm: { model: o.lmModel, hidden_size: d },
    hidden_norm: normStats(trainRecords.map((r) => r.hidden)),
    reward_model: o.rewardModel,
    normalization: "folded into the first layer",
    temperature,
    ...(priorStrength !== undefined ? { prior_strength: priorStrength } : {}),
    training: trainingSummary(o, result, trainRecords.length, validation.length, K, trainSeconds),
    metrics,
  };
  await writeFile(`${o.out}.manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}
