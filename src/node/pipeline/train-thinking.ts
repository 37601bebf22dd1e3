/**
 * Trains a predictor of reward against thinking budget: one MLP on the thinking model's
 * hidden state with one output per budget level, p_ℓ = the chance that one sample passes
 * with its thinking capped at levels[ℓ] tokens, non-decreasing in the level by construction
 * (mlp.ts, the levels head). Calibrated level by level: the first level's logit by a
 * temperature, each higher level's increment by its own temperature given the calibrated
 * level below, which keeps the order. Exported to ONNX with the levels, what a unit costs
 * and each level's expected tokens per sample in the manifest.
 */
import { writeFile } from "node:fs/promises";
import { fitStrength } from "../../core/allocation/waves.js";
import type { DataRecord } from "../../core/predictor/dataset.js";
import { normStats } from "../../core/predictor/hidden-norm.js";
import type { PredictorManifest } from "../../core/predictor/manifest.js";
import { expectedCalibrationError, fitTemperature, spearman } from "../training/calibration.js";
import { type Rows, defaultTrainOptions, forwardRaw, levelLogits, sigmoid, softplus, train } from "../training/mlp.js";
import { exportChecked, standardizer, trainingSummary } from "./train.js";

export interface TrainThinkingOptions {
  readonly out: string;
  readonly seed: number;
  readonly hidden: number;
  readonly lmModel: string;
  readonly rewardModel: string;
  /** Tokens one unit of compute stands for (the ledger's unit for this model). */
  readonly tokensPerUnit: number;
}

/** The budget levels every record was collected at, refusing records that disagree. */
export function levelsOf(records: readonly DataRecord[]): number[] {
  const first = records[0]?.thinking?.map((l) => l.budget);
  if (!first) throw new Error(`prompt ${records[0]?.id}: no thinking budgets (collect with --thinking-budgets)`);
  for (const r of records) {
    const mine = r.thinking?.map((l) => l.budget).join(",");
    if (mine !== first.join(",")) throw new Error(`prompt ${r.id}: thinking budgets ${mine ?? "none"}, expected ${first.join(",")}`);
  }
  return first;
}

const passRate = (rewards: readonly number[]) => rewards.reduce((a, b) => a + b, 0) / rewards.length;

function rowsOf(records: readonly DataRecord[], mean: Float64Array, std: Float64Array): Rows {
  return {
    x: records.map((r) => Float64Array.from(r.hidden, (x, i) => (x - mean[i]) / std[i])),
    y: records.map((r) => Float64Array.from(r.thinking!, (l) => passRate(l.rewards))),
    weight: records.map((r) => Math.min(...r.thinking!.map((l) => l.rewards.length))),
  };
}

/** Mean tokens per sample at each level, and mean thinking tokens, over the records' samples. */
export function expectedTokens(records: readonly DataRecord[], levels: readonly number[]): { tokens: number[]; reasoning: number[] } {
  const tokens = levels.map((_, l) => {
    let sum = 0;
    let n = 0;
    for (const r of records) for (const t of r.thinking![l].tokens) (sum += t), n++;
    return sum / n;
  });
  const reasoning = levels.map((_, l) => {
    let sum = 0;
    let n = 0;
    for (const r of records) (sum += r.thinking![l].reasoning_tokens), (n += r.thinking![l].samples.length);
    return sum / n;
  });
  return { tokens, reasoning };
}

/** Each level's temperature (mlp.ts levelLogits' t), fitted on the validation outputs level by level. */
export function fitLevelTemperatures(z: readonly Float64Array[], rates: readonly Float64Array[], weights: readonly number[]): number[] {
  const L = z[0].length;
  const temperatures: number[] = [];
  let below = z.map(() => 0);
  for (let l = 0; l < L; l++) {
    const inputs = z.map((zi) => (l === 0 ? zi[0] : softplus(zi[l])));
    const t = fitTemperature(inputs, rates.map((r) => r[l]), weights, l === 0 ? undefined : below);
    temperatures.push(t);
    below = below.map((c, i) => c + inputs[i] / t);
  }
  return temperatures;
}

export async function trainThinkingPredictor(o: TrainThinkingOptions, trainRecords: readonly DataRecord[], validation: readonly DataRecord[]): Promise<PredictorManifest> {
  const levels = levelsOf([...trainRecords, ...validation]);
  const d = trainRecords[0].hidden.length;
  const { mean, std } = standardizer(trainRecords.map((r) => r.hidden));
  const trainRows = rowsOf(trainRecords, mean, std);
  const valRows = rowsOf(validation, mean, std);

  const t0 = performance.now();
  const result = train(trainRows, valRows, levels.length, { ...defaultTrainOptions("levels"), seed: o.seed, hidden: o.hidden });
  const seconds = (performance.now() - t0) / 1000;

  const metrics: Record<string, number> = { validation_loss: result.validationLoss, train_loss: result.trainLoss };
  const z = valRows.x.map((x) => forwardRaw(result.params, x));
  const temperature = fitLevelTemperatures(z, valRows.y, valRows.weight);
  const before = z.map((zi) => levelLogits(zi).map(sigmoid));
  const after = z.map((zi) => levelLogits(zi, (j) => temperature[j]).map(sigmoid));
  const observed: { p: number; successes: number; samples: number }[] = [];
  const mean_ = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const eceBefore: number[] = [];
  const eceAfter: number[] = [];
  const ranks: number[] = [];
  levels.forEach((budget, l) => {
    const rates = valRows.y.map((y) => y[l]);
    eceBefore.push(expectedCalibrationError(before.map((p) => p[l]), rates, valRows.weight));
    eceAfter.push(expectedCalibrationError(after.map((p) => p[l]), rates, valRows.weight));
    ranks.push(spearman(after.map((p) => p[l]), rates));
    metrics[`ece_validation_b${budget}`] = eceAfter[l];
    metrics[`spearman_validation_b${budget}`] = ranks[l];
    validation.forEach((r, i) => observed.push({ p: after[i][l], successes: r.thinking![l].rewards.reduce((a, b) => a + b, 0), samples: r.thinking![l].rewards.length }));
  });
  metrics.ece_validation_before = mean_(eceBefore);
  metrics.ece_validation = mean_(eceAfter);
  metrics.spearman_validation = mean_(ranks);

  const exportInput = { params: result.params, head: "levels" as const, mean, std, temperature, metadata: { lm_model: o.lmModel, reward_model: o.rewardModel, kind: "thinking" } };
  const { parity, identity } = await exportChecked(exportInput, validation.map((r) => r.hidden), o.out);
  metrics.onnx_parity_max_abs = parity;

  const expected = expectedTokens(trainRecords, levels);
  const manifest: PredictorManifest = {
    ...identity,
    kind: "bernoulli",
    input: "hidden",
    output: "p",
    input_size: d,
    b_max: null,
    lm: { model: o.lmModel, hidden_size: d },
    hidden_norm: normStats(trainRecords.map((r) => r.hidden)),
    reward_model: o.rewardModel,
    normalization: "folded into the first layer",
    temperature,
    thinking: {
      levels,
      budget_field: "thinking_token_budget",
      tokens_per_unit: o.tokensPerUnit,
      expected_tokens: expected.tokens,
      expected_reasoning_tokens: expected.reasoning,
      cost_basis: `a sample costs the tokens it generates (thinking, the two markers, the answer and the end-of-sequence token); expected_tokens: mean per sample at each level over the ${trainRecords.length} training prompts`,
      calibration:
        "p_ℓ = σ(c_ℓ), c_1 = z_1 / T_1, c_ℓ = c_{ℓ−1} + softplus(z_ℓ) / T_ℓ: one temperature per level (temperature[ℓ]), on that level's non-negative increment, so calibration keeps p non-decreasing in the level; T_ℓ fitted in order by binomial likelihood on the validation split",
    },
    // How much a Beta prior around each level's p is trusted, fitted on every level's validation outcomes (core/sequential arms).
    prior_strength: fitStrength(observed),
    training: trainingSummary(o, result, trainRecords.length, validation.length, Math.min(...trainRows.weight), seconds),
    metrics,
  };
  await writeFile(`${o.out}.manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}
