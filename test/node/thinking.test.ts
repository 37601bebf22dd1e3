/**
 * The thinking-budget predictor and its evaluation, on synthetic data (no LM server, a few
 * seconds): the levels head is non-decreasing in the budget (p and tokens), the exported
 * ONNX matches the trainer and its parity fixtures, and the eval's keys (thinking,
 * thinking-uniform, thinking-oracle, joint) are what an exhaustive search of every
 * allocation of a tiny dataset says they are.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/core/allocation/select.js";
import type { DataRecord } from "../../src/core/predictor/dataset.js";
import { type PredictorManifest, PredictorManifestSchema } from "../../src/core/predictor/manifest.js";
import { costToReach } from "../../src/node/pipeline/evaluate-route.js";
import {
  ONE_SHOT_BUDGETS,
  type ThinkingPoint,
  type ThinkingPrompt,
  accuracyAt,
  concaveHull,
  pointOf,
  thinkingCurves,
  thinkingSavings,
  tokensAt,
} from "../../src/node/pipeline/evaluate-thinking.js";
import { expectedTokens, trainThinkingPredictor } from "../../src/node/pipeline/train-thinking.js";
import { defaultTrainOptions, initParams, predict, train } from "../../src/node/training/mlp.js";
import { exportOnnx, foldedForward } from "../../src/node/training/onnx-writer.js";

const LEVELS = [0, 8, 64];
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const nonDecreasing = (xs: ArrayLike<number>, tol = 0) => Array.from(xs).every((x, i, a) => i === 0 || x >= a[i - 1] - tol);

/** Gaussian draws from a seeded uniform (Box-Muller). */
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/**
 * Synthetic thinking data: hidden[0] is the prompt's difficulty, hidden[1] how much it
 * thinks when let; p at each budget rises with the budget, and a sample at budget N
 * generates 3 + min(N, need) tokens (two markers, the answer, its thinking).
 */
function records(n: number, K: number, seed: number, split: string): DataRecord[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const hidden = Array.from({ length: 6 }, () => gaussian(rand));
    const need = Math.max(1, Math.round(20 + 12 * hidden[1]));
    const thinking = LEVELS.map((budget, l) => {
      const p = sigmoid(-1.5 + 1.6 * l - 1.2 * hidden[0]);
      const rewards = Array.from({ length: K }, () => (rand() < p ? 1 : 0));
      const think = Math.min(budget, need);
      return { budget, samples: rewards.map(() => "x"), rewards, tokens: rewards.map(() => 3 + think), reasoning_tokens: K * think };
    });
    const top = thinking.at(-1)!;
    return { id: `${split}-${i}`, prompt: `p${i}`, hidden, samples: top.samples, rewards: top.rewards, tokens: top.tokens.reduce((a, b) => a + b, 0), thinking, meta: {} };
  });
}

describe("the thinking head: p and tokens per level, non-decreasing in the budget", () => {
  it("predicts non-decreasing p and tokens for any input, trained or not", () => {
    const rand = mulberry32(3);
    const L = LEVELS.length;
    // Untrained (random weights) and trained: the order holds by construction, not by fitting.
    const random = initParams(6, 16, 2 * L, 11);
    const rows = records(120, 8, 5, "train").map((r) => ({ x: Float64Array.from(r.hidden), y: Float64Array.from([...r.thinking!.map((l) => l.rewards.reduce((a, b) => a + b, 0) / 8), ...r.thinking!.map((l) => l.tokens[0])]) }));
    const trainRows = { x: rows.map((r) => r.x), y: rows.map((r) => r.y), weight: rows.map(() => 8) };
    const trained = train(trainRows, trainRows, 2 * L, { ...defaultTrainOptions("thinking"), hidden: 16, maxEpochs: 40 }).params;
    for (const params of [random, trained]) {
      for (let t = 0; t < 200; t++) {
        const x = Float64Array.from({ length: 6 }, () => gaussian(rand) * (t < 100 ? 1 : 30));
        const out = predict(params, "thinking", x);
        expect(nonDecreasing(out.subarray(0, L))).toBe(true);
        expect(nonDecreasing(out.subarray(L))).toBe(true);
        for (const p of out.subarray(0, L)) expect(p).toBeGreaterThanOrEqual(0), expect(p).toBeLessThanOrEqual(1);
        for (const tok of out.subarray(L)) expect(tok).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it("the exported graph computes the calibrated head, non-decreasing even at temperatures far from 1", async () => {
    const L = LEVELS.length;
    const params = initParams(6, 16, 2 * L, 12);
    const e = { params, head: "thinking" as const, mean: new Float64Array(6).fill(0.3), std: new Float64Array(6).fill(2), temperature: [0.4, 3, 0.2], metadata: {} };
    const session = await ort.InferenceSession.create(exportOnnx(e));
    const forward = foldedForward(e);
    const rand = mulberry32(4);
    const xs = Array.from({ length: 64 }, () => Array.from({ length: 6 }, () => gaussian(rand) * 10));
    const out = await session.run({ hidden: new ort.Tensor("float32", Float32Array.from(xs.flat()), [xs.length, 6]) });
    const p = out.p.data as Float32Array;
    const tokens = out.tokens.data as Float32Array;
    xs.forEach((x, i) => {
      const want = forward(x);
      const gotP = p.subarray(i * L, (i + 1) * L);
      const gotT = tokens.subarray(i * L, (i + 1) * L);
      // onnxruntime's float32 Sigmoid is an approximation that is not monotone in the far tail
      // (p ≈ 5e-7 at one level, 4.8e-7 at the next): non-decreasing up to 1e-6 there.
      expect(nonDecreasing(gotP, 1e-6)).toBe(true);
      expect(nonDecreasing(gotT, 1e-6)).toBe(true);
      for (let l = 0; l < L; l++) {
        expect(Math.abs(gotP[l] - want[l])).toBeLessThan(1e-5);
        expect(Math.abs(gotT[l] - want[L + l]) / Math.max(1, want[L + l])).toBeLessThan(1e-5);
      }
    });
  });
});

describe("allot train on thinking data: the manifest and the parity fixtures", () => {
  let manifest: PredictorManifest;
  let out: string;
  const trainSet = records(240, 8, 1, "train");
  const validation = records(80, 8, 2, "validation");
  beforeAll(async () => {
    out = `${mkdtempSync("/tmp/allot-thinking-")}/t`;
    await trainThinkingPredictor({ out, seed: 1, hidden: 16, lmModel: "thinking", rewardModel: "verifier-binary", tokensPerUnit: 1 }, trainSet, validation);
    manifest = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${out}.manifest.json`, "utf8")));
  });

  it("states the levels, what a unit costs and each level's expected tokens per sample", () => {
    const want = expectedTokens(trainSet, LEVELS);
    expect(manifest.thinking).toMatchObject({ levels: LEVELS, budget_field: "thinking_token_budget", tokens_per_unit: 1, tokens_output: "tokens" });
    expect(manifest.thinking!.expected_tokens).toEqual(want.tokens);
    expect(manifest.thinking!.expected_reasoning_tokens).toEqual(want.reasoning);
    // By hand: budget 0 thinks nothing (3 tokens), and 8 at most 8.
    expect(want.tokens[0]).toBe(3);
    expect(want.reasoning[0]).toBe(0);
    expect(want.tokens[1]).toBeLessThanOrEqual(11);
    expect(nonDecreasing(want.tokens)).toBe(true);
    expect(manifest.temperature).toHaveLength(LEVELS.length);
    expect(manifest.metrics.onnx_parity_max_abs).toBeLessThanOrEqual(1e-5);
    // The difficulty is in the hidden state: the predictor ranks prompts by it at every level.
    for (const b of LEVELS) expect(manifest.metrics[`spearman_validation_b${b}`]).toBeGreaterThan(0.5);
  });

  it("the committed ONNX reproduces the parity fixtures, and its p and tokens are non-decreasing", async () => {
    const fixtures = JSON.parse(readFileSync(`${out}.parity.json`, "utf8")) as { hidden: number[]; expected: number[] }[];
    expect(fixtures.length).toBeGreaterThan(0);
    const session = await ort.InferenceSession.create(`${out}.onnx`);
    const hidden = [...fixtures.map((f) => f.hidden), ...validation.map((r) => r.hidden)];
    const run = await session.run({ hidden: new ort.Tensor("float32", Float32Array.from(hidden.flat()), [hidden.length, 6]) });
    const L = LEVELS.length;
    const p = run[manifest.output].data as Float32Array;
    const tokens = run[manifest.thinking!.tokens_output!].data as Float32Array;
    fixtures.forEach((f, i) => {
      expect(f.expected).toHaveLength(L);
      f.expected.forEach((x, l) => expect(Math.abs(p[i * L + l] - x)).toBeLessThanOrEqual(1e-5));
    });
    hidden.forEach((_, i) => {
      expect(nonDecreasing(p.subarray(i * L, (i + 1) * L), 1e-6)).toBe(true);
      expect(nonDecreasing(tokens.subarray(i * L, (i + 1) * L), 1e-6)).toBe(true);
    });
  });
});

describe("the committed thinking predictor (models/predictors/thinking)", () => {
  const base = new URL("../../models/predictors/thinking", import.meta.url).pathname;
  it("states its levels and costs, and onnxruntime reproduces its parity fixtures, p non-decreasing in the budget", async () => {
    const m = PredictorManifestSchema.parse(JSON.parse(readFileSync(`${base}.manifest.json`, "utf8")));
    expect(m.lm.model).toBe("thinking");
    expect(m.thinking).toMatchObject({ levels: [0, 4, 8, 16, 32, 64], budget_field: "thinking_token_budget", tokens_output: "tokens" });
    expect(m.thinking!.expected_tokens).toHaveLength(6);
    expect(nonDecreasing(m.thinking!.expected_tokens)).toBe(true);
    const fixtures = JSON.parse(readFileSync(`${base}.parity.json`, "utf8")) as { hidden: number[]; expected: number[] }[];
    const session = await ort.InferenceSession.create(`${base}.onnx`);
    const run = await session.run({ hidden: new ort.Tensor("float32", Float32Array.from(fixtures.flatMap((f) => f.hidden)), [fixtures.length, m.input_size]) });
    const p = run[m.output].data as Float32Array;
    fixtures.forEach((f, i) => {
      f.expected.forEach((x, l) => expect(Math.abs(p[i * 6 + l] - x)).toBeLessThanOrEqual(1e-5));
      expect(nonDecreasing(f.expected)).toBe(true);
    });
  });
});

/** A tiny test set, outcomes and tokens given: n prompts × 3 levels × K = 4 samples. */
function tiny(): ThinkingPrompt[] {
  const rand = mulberry32(9);
  return Array.from({ length: 5 }, (_, i) => {
    const need = [2, 30, 12, 50, 6][i];
    const ps = [[0.25, 1, 1], [0, 0.25, 0.75], [0.5, 0.75, 1], [0, 0, 0.5], [1, 1, 1]][i];
    const outcomes = ps.map((p) => Array.from({ length: 4 }, (_, k) => (k < p * 4 ? 1 : 0)));
    const tokens = LEVELS.map((b) => Array.from({ length: 4 }, () => 3 + Math.min(b, need) + (b > 0 && rand() < 0.5 ? 1 : 0)));
    const reasoning = tokens.map((t) => t.reduce((a, b) => a + b, 0) / 4 - 3);
    return { outcomes, tokens, reasoning, predicted: ps.map((p) => Math.min(0.95, Math.max(0.05, p))), predictedTokens: tokens.map((t) => t.reduce((a, b) => a + b, 0) / 4) };
  });
}

/** Every allocation of (level, k ≤ kMax) to every prompt, scored on the recorded samples. */
function exhaustive(prompts: readonly ThinkingPrompt[], kMax: number): ThinkingPoint[] {
  const options = LEVELS.flatMap((_, level) => Array.from({ length: kMax }, (_, j) => ({ level, k: j + 1 })));
  const out: ThinkingPoint[] = [];
  const choose = (i: number, chosen: { level: number; k: number }[]) => {
    if (i === prompts.length) return void out.push(pointOf(prompts, chosen));
    for (const o of options) choose(i + 1, [...chosen, o]);
  };
  choose(0, []);
  return out;
}

/** The best accuracy any allocation reaches at a mean cost of at most `budget` per prompt. */
const bestWithin = (all: readonly ThinkingPoint[], budget: number) => Math.max(...all.filter((p) => p.cost <= budget + 1e-9).map((p) => p.quality));

describe("allot eval's keys on a tiny dataset, against every allocation", () => {
  const prompts = tiny();
  const setup = { levels: LEVELS, expectedTokens: [3, 10, 25], kMax: 2 };
  const curves = thinkingCurves(prompts, setup);
  const savings = thinkingSavings(prompts, curves, LEVELS, 2);
  const oneShot = exhaustive(prompts, 1);
  const joint = exhaustive(prompts, 2);
  // How much one prompt's choice can change the accuracy: the solver is within one hull step of the optimum.
  const step = 1 / prompts.length;

  it("thinking-uniform: every prompt at each level, one sample, by hand", () => {
    const u = curves["thinking-uniform"];
    expect(u).toHaveLength(3);
    LEVELS.forEach((_, l) => {
      const mean = (f: (p: ThinkingPrompt) => number) => prompts.reduce((s, p) => s + f(p), 0) / prompts.length;
      expect(u[l].quality).toBeCloseTo(mean((p) => p.outcomes[l].reduce((a, b) => a + b, 0) / 4), 12);
      expect(u[l].cost).toBeCloseTo(mean((p) => tokensAt(p, l)), 12);
      expect(u[l].thinking).toBeCloseTo(mean((p) => p.reasoning[l]), 12);
    });
  });

  it("thinking-oracle and joint-oracle: within the budget, and as good as the best allocation up to one prompt's step", () => {
    for (const [key, all] of [["thinking-oracle", oneShot], ["joint-oracle", joint]] as const) {
      const budgets = ONE_SHOT_BUDGETS.filter((b) => b >= Math.min(...all.map((p) => p.cost)));
      expect(curves[key]).toHaveLength(budgets.length);
      curves[key].forEach((point, j) => {
        const best = bestWithin(all, budgets[j]);
        expect(point.cost).toBeLessThanOrEqual(budgets[j] + 1e-9);
        expect(point.quality).toBeLessThanOrEqual(best + 1e-12);
        expect(point.quality).toBeGreaterThanOrEqual(best - step - 1e-12);
      });
      // At a budget that affords every prompt its best option, the best allocation exactly.
      expect(curves[key].at(-1)!.quality).toBeCloseTo(Math.max(...all.map((p) => p.quality)), 12);
    }
  });

  it("thinking: with predictions equal to the recorded rates and tokens (known p), the oracle's curve; joint with k = 1 is thinking", () => {
    const exact = prompts.map((p) => ({ ...p, predicted: p.outcomes.map((o) => o.reduce((a, b) => a + b, 0) / o.length) }));
    const c = thinkingCurves(exact, setup);
    expect(c.thinking).toEqual(c["thinking-oracle"]);
    expect(thinkingCurves(exact, { ...setup, kMax: 1 }).joint).toEqual(c.thinking);
    // And allot with its own predictions never beats the oracle on the samples both are scored on by more than one step.
    curves.thinking.forEach((point) => expect(point.quality).toBeLessThanOrEqual(bestWithin(oneShot, point.cost) + 1e-12));
  });

  it("savings: 1 − the tokens a curve needs for a fixed policy's accuracy / that policy's tokens, no better than the best mix of allocations", () => {
    expect(savings.map((s) => `${s.budget}/${s.k}`)).toEqual(["8/1", "64/1", "64/2"]);
    const oracleHull = concaveHull(joint); // random mixes of allocations: the least tokens any policy needs
    for (const s of savings) {
      const ref = s.k === 1 ? curves["thinking-uniform"][LEVELS.indexOf(s.budget)] : pointOf(prompts, prompts.map(() => ({ level: 2, k: s.k })));
      expect(s.quality).toBeCloseTo(ref.quality, 12);
      expect(s.tokens).toBeCloseTo(ref.cost, 12);
      // Uniform (one sample) matches its own accuracy at its own tokens, and never reaches two samples'.
      expect(s.saved["thinking-uniform"]).toBe(s.k === 1 ? 0 : null);
      for (const key of ["thinking", "thinking-oracle", "joint", "joint-oracle"] as const) {
        const need = costToReach(curves[key], ref.quality);
        expect(s.saved[key]).toBe(need === null ? null : 1 - need / ref.cost);
        if (need !== null) expect(need).toBeGreaterThanOrEqual(costToReach(oracleHull, ref.quality)! - 1e-9);
        const thought = costToReach(curves[key].map((p) => ({ cost: p.thinking, quality: p.quality })), ref.quality);
        expect(s.savedThinking[key]).toBe(thought === null ? null : 1 - thought / ref.thinking);
      }
      // One sample cannot reach what two samples at the top budget reach on these prompts; the joint menu can.
      if (s.k === 2) expect(s.saved.thinking).toBeNull(), expect(s.saved.joint).not.toBeNull();
    }
    // The uniform budget of 8 is matched by the oracle at fewer tokens: prompts that need no thinking get none.
    expect(savings[0].saved["thinking-oracle"]!).toBeGreaterThan(0);
    // Each pass@k is the unbiased estimate from the K recorded samples.
    expect(accuracyAt(prompts[1], 2, 2)).toBeCloseTo(1 - (1 * 0) / (4 * 3), 12);
  });
});
