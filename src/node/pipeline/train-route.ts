/**
 * Trains a router: one MLP on the input model's hidden state with a Bernoulli output per
 * model on the menu (p_j = one sample of model j passes), each output calibrated by its
 * own temperature, exported to ONNX with the menu's costs in the manifest.
 */
import { writeFile } from "node:fs/promises";
import { fitStrength } from "../../core/allocation/waves.js";
import type { RouteOption } from "../../core/allocation/route.js";
import { expectedCalibrationError, fitTemperature, spearman } from "../training/calibration.js";
import { normStats } from "../../core/predictor/hidden-norm.js";
import type { InputForm, PredictorManifest } from "../../core/predictor/manifest.js";
import { type Rows, defaultTrainOptions, forwardRaw, sigmoid, train } from "../training/mlp.js";
import { exportChecked, standardizer, trainingSummary } from "./train-common.js";
import { type RoutedPrompt, readRouted, successes } from "./route-data.js";

export interface TrainRouteOptions {
  /** Per model, in menu order: [model, dataset path]. */
  readonly train: readonly [string, string][];
  readonly validation: readonly [string, string][];
  readonly options: readonly RouteOption[];
  /** Where the costs come from, for the manifest (e.g. a measured throughput ratio). */
  readonly costBasis: string;
  /** The model whose hidden states the router reads. */
  readonly input: string;
  readonly rewardModel: string;
  /** What the input model's vectors were read from (its dataset's collect settings): prompts unless --chat. */
  readonly inputForm?: InputForm;
  readonly out: string;
  readonly seed: number;
  readonly hidden: number;
}

function rowsOf(prompts: readonly RoutedPrompt[], mean: Float64Array, std: Float64Array): Rows {
  return {
    x: prompts.map((r) => Float64Array.from(r.hidden, (x, i) => (x - mean[i]) / std[i])),
    y: prompts.map((r) => Float64Array.from(r.rewards, (rs) => successes(rs) / rs.length)),
    weight: prompts.map((r) => Math.min(...r.rewards.map((rs) => rs.length))),
  };
}

export async function trainRouter(o: TrainRouteOptions): Promise<PredictorManifest> {
  const trainSet = await readRouted(o.train, o.input);
  const validation = await readRouted(o.validation, o.input);
  if (trainSet.length < 10 || validation.length < 10) throw new Error("need at least 10 training and 10 validation prompts in every model's data");
  const d = trainSet[0].hidden.length;
  const m = o.options.length;
  const { mean, std } = standardizer(trainSet.map((r) => r.hidden));
  const trainRows = rowsOf(trainSet, mean, std);
  const valRows = rowsOf(validation, mean, std);

  const t0 = performance.now();
  const result = train(trainRows, valRows, m, { ...defaultTrainOptions("bernoulli"), seed: o.seed, hidden: o.hidden });
  const seconds = (performance.now() - t0) / 1000;

  const metrics: Record<string, number> = { validation_loss: result.validationLoss, train_loss: result.trainLoss };
  const logits = valRows.x.map((x) => forwardRaw(result.params, x));
  // Every model's calibrated p on validation, with its successes: the cascade's prior strength is fitted on all of them.
  const observed: { p: number; successes: number; samples: number }[] = [];
  const temperature = o.options.map((opt, j) => {
    const z = logits.map((l) => l[j]);
    const rates = valRows.y.map((y) => y[j]);
    const t = fitTemperature(z, rates, valRows.weight);
    const p = z.map((zj) => sigmoid(zj / t));
    metrics[`ece_validation_${opt.model}`] = expectedCalibrationError(p, rates, valRows.weight);
    metrics[`spearman_validation_${opt.model}`] = spearman(p, rates);
    p.forEach((pi, i) => observed.push({ p: pi, successes: successes(validation[i].rewards[j]), samples: validation[i].rewards[j].length }));
    return t;
  });

  const exportInput = { params: result.params, head: "bernoulli" as const, mean, std, temperature, metadata: { lm_model: o.input, reward_model: o.rewardModel, kind: "route" } };
  const { parity, identity } = await exportChecked(exportInput, validation.map((r) => r.hidden), o.out);
  metrics.onnx_parity_max_abs = parity;

  const manifest: PredictorManifest = {
    ...identity,
    kind: "bernoulli",
    input: "hidden",
    input_form: o.inputForm ?? "prompt",
    output: "p",
    input_size: d,
    b_max: null,
    lm: { model: o.input, hidden_size: d },
    hidden_norm: normStats(trainSet.map((r) => r.hidden)),
    reward_model: o.rewardModel,
    normalization: "folded into the first layer",
    temperature,
    route: { options: o.options.map((x) => ({ model: x.model, cost: x.cost })), cost_basis: o.costBasis },
    // How much the cascade trusts the router's p (a Beta prior per model, waves.ts).
    prior_strength: fitStrength(observed),
    training: trainingSummary(o, result, trainSet.length, validation.length, Math.min(...trainRows.weight), seconds),
    metrics,
  };
  await writeFile(`${o.out}.manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}
