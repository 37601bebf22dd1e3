/**
 * Trains a predictor of reward against thinking budget: one MLP on the thinking model's
 * hidden state with one output per budget level, p_ℓ = the chance that one sample passes
 * with its thinking capped at levels[ℓ] tokens, non-decreasing in the level by construction
 * (mlp.ts, the thinking head), and a second output, the tokens a sample of this prompt
 * generates at each level (also non-decreasing): a prompt that needs little thinking costs
 * little at any budget, one that needs much costs its budget, and the allocation should
 * know which before it pays. Calibrated level by level: the first level's logit by a
 * temperature, each higher level's increment by its own temperature given the calibrated
 * level below, which keeps the order. Exported to ONNX (outputs p and tokens) with the
 * levels, what a unit costs and each level's expected tokens per sample in the manifest.
 */
import { writeFile } from "node:fs/promises";
import { fitStrength } from "../../core/allocation/waves.js";
import type { DataRecord } from "../../core/predictor/dataset.js";
import { normStats } from "../../core/predictor/hidden-norm.js";
import type { InputForm, PredictorManifest } from "../../core/predictor/manifest.js";
import { expectedCalibrationError, fitTemperature, spearman } from "../training/calibration.js";
import { type Rows, defaultTrainOptions, forwardRaw, levelLogits, predict, sigmoid, softplus, train } from "../training/mlp.js";
import { exportChecked, standardizer, trainingSummary } from "./train-common.js";

export interface TrainThinkingOptions {
  readonly out: string;
  readonly seed: number;
  readonly hidden: number;
  readonly lmModel: string;
  readonly rewardModel: string;
  /** Tokens one unit of compute stands for (the ledger's unit for this model). */
  readonly tokensPerUnit: number;
  /** What the data's prompts were (collect --chat: conversations): the form the predictor serves. */
  readonly inputForm?: InputForm;
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

const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Inputs standardized; targets: each level's pass rate, then each level's mean tokens per sample. */
function rowsOf(records: readonly DataRecord[], mean: Float64Array, std: Float64Array): Rows {
  return {
    x: records.map((r) => Float64Array.from(r.hidden, (x, i) => (x - mean[i]) / std[i])),
    y: records.map((r) => Float64Array.from([...r.thinking!.map((l) => passRate(l.rewards)), ...r.thinking!.map((l) => meanOf(l.tokens))])),
    weight: records.map((r) => Math.min(...r.thinking!.map((l) => l.rewards.length))),
  };
}

/** softplus⁻¹ of the mean increments of the token targets: the tokens output starts at their mean. */
function tokenBias(rows: Rows, L: number): number[] {
  return Array.from({ length: L }, (_, l) => {
    const inc = Math.max(0.05, meanOf(rows.y.map((y) => y[L + l] - (l > 0 ? y[L + l - 1] : 0))));
    return inc > 20 ? inc : Math.log(Math.expm1(inc));
  });
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

/** Records in id order: concurrent collection appends them in any order, and the model must not depend on it. */
export const byId = (records: readonly DataRecord[]): DataRecord[] => [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

export async function trainThinkingPredictor(o: TrainThinkingOptions, unorderedTrain: readonly DataRecord[], unorderedValidation: readonly DataRecord[]): Promise<PredictorManifest> {
  const trainRecords = byId(unorderedTrain);
  const validation = byId(unorderedValidation);
  const levels = levelsOf([...trainRecords, ...validation]);
  const d = trainRecords[0].hidden.length;
  const { mean, std } = standardizer(trainRecords.map((r) => r.hidden));
  const trainRows = rowsOf(trainRecords, mean, std);
  const valRows = rowsOf(validation, mean, std);

  const t0 = performance.now();
  const L = levels.length;
  const bias = [...Array.from({ length: L }, () => 0), ...tokenBias(trainRows, L)];
  const result = train(trainRows, valRows, 2 * L, { ...defaultTrainOptions("thinking"), seed: o.seed, hidden: o.hidden, bias });
  const seconds = (performance.now() - t0) / 1000;

  const metrics: Record<string, number> = { validation_loss: result.validationLoss, train_loss: result.trainLoss };
  const raw = valRows.x.map((x) => forwardRaw(result.params, x));
  const z = raw.map((r) => r.subarray(0, L));
  const temperature = fitLevelTemperatures(z, valRows.y, valRows.weight);
  // The predicted tokens per sample against each prompt's mean: the mean absolute error per level.
  const tokens = valRows.x.map((x) => predict(result.params, "thinking", x).subarray(L));
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
    metrics[`tokens_mae_validation_b${budget}`] = meanOf(tokens.map((t, i) => Math.abs(t[l] - valRows.y[i][L + l])));
    validation.forEach((r, i) => observed.push({ p: after[i][l], successes: r.thinking![l].rewards.reduce((a, b) => a + b, 0), samples: r.thinking![l].rewards.length }));
  });
  metrics.ece_validation_before = mean_(eceBefore);
  metrics.ece_validation = mean_(eceAfter);
  metrics.spearman_validation = mean_(ranks);

  const exportInput = { params: result.params, head: "thinking" as const, mean, std, temperature, metadata: { lm_model: o.lmModel, reward_model: o.rewardModel, kind: "thinking" } };
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
    input_form: o.inputForm ?? "prompt",
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
      tokens_output: "tokens",
      cost_basis:
        `a sample costs the tokens it generates (thinking, the two markers, the answer and the end-of-sequence token); expected_tokens: mean per sample ` +
        `at each level over the ${trainRecords.length} training prompts; the output tokens: this prompt's expected tokens per sample at each level`,
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
