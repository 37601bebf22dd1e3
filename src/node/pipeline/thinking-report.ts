/** `allot eval` of a thinking-budget predictor: its calibration and the allocations it drives, on held-out prompts. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { RecordSchema } from "../../core/predictor/dataset.js";
import { type PredictorManifest, PredictorManifestSchema } from "../../core/predictor/manifest.js";
import { expectedCalibrationError, spearman } from "../training/calibration.js";
import {
  type ThinkingCurves,
  type ThinkingMethod,
  type ThinkingPrompt,
  type ThinkingSaving,
  type ThinkingSetup,
  BASELINES,
  THINKING_METHODS,
  against,
  pointOf,
  predictedMenus,
  thinkingCurves,
  thinkingSavings,
} from "./evaluate-thinking.js";
import { solveMenu } from "../../core/allocation/menu.js";
import { readJsonl } from "./jsonl.js";
import { byId, levelsOf } from "./train-thinking.js";
import { lineChart } from "./plot.js";
import { pct } from "./format.js";

export interface ThinkingEvalOptions {
  readonly dataPath: string;
  readonly predictor: string;
  readonly outDir: string;
  /** Samples per prompt at most in the one-shot menus. */
  readonly kMax: number;
  /** Orders the sequential replays average over. */
  readonly orders?: number;
}

/** How the joint allocation spends an average budget: the share of prompts at each level, and samples per prompt. */
export interface Breakdown {
  readonly budget: number;
  readonly quality: number;
  readonly tokens: number;
  readonly share: Record<string, number>;
  readonly samples: number;
}

/** A method's savings against each baseline at one reference (evaluate-thinking.ts, against). */
export type Against = ReturnType<typeof against>;

export interface ThinkingEvalResult {
  readonly predictor: string;
  readonly prompts: number;
  readonly samplesPerLevel: number;
  readonly levels: readonly number[];
  readonly expectedTokens: readonly number[];
  /** Mean tokens per sample at each level on these prompts. */
  readonly observedTokens: readonly number[];
  readonly kMax: number;
  readonly strength: number | null;
  /** The command that wrote this report. */
  readonly command: string;
  /** Per level, on the test prompts: calibration and ranking of the predicted p. */
  readonly calibration: {
    readonly budget: number;
    readonly predicted: number;
    readonly observed: number;
    readonly ece: number;
    readonly spearman: number;
    /** Mean absolute error of the predicted tokens per sample (null: not predicted). */
    readonly tokensError: number | null;
  }[];
  readonly curves: ThinkingCurves;
  readonly savings: ThinkingSaving[];
  /** Per reference: allot's budget per prompt, the joint allocation's and the sequential core's savings against each baseline. */
  readonly against: { readonly reference: string; readonly thinking: Against; readonly joint: Against; readonly sequential: Against }[];
  readonly breakdown: Breakdown[];
}

/** The predictor's p per level, and its tokens per level when it has that output. */
async function predictions(manifest: PredictorManifest, predictor: string, hidden: readonly (readonly number[])[]): Promise<{ p: Float32Array; tokens: Float32Array | null }> {
  const session = await ort.InferenceSession.create(join(dirname(predictor), manifest.file));
  const flat = Float32Array.from(hidden.flat());
  const out = await session.run({ hidden: new ort.Tensor("float32", flat, [hidden.length, manifest.input_size]) });
  const tokens = manifest.thinking?.tokens_output;
  return { p: out[manifest.output].data as Float32Array, tokens: tokens ? (out[tokens].data as Float32Array) : null };
}

export async function evaluateThinking(o: ThinkingEvalOptions): Promise<ThinkingEvalResult> {
  const manifest = PredictorManifestSchema.parse(JSON.parse(await readFile(`${o.predictor}.manifest.json`, "utf8")));
  const t = manifest.thinking;
  if (!t) throw new Error(`${manifest.name} is not a thinking-budget predictor (its manifest has no thinking)`);
  const records = byId(await readJsonl(o.dataPath, RecordSchema));
  if (records.length < 10) throw new Error(`${o.dataPath}: need at least 10 prompts`);
  const levels = levelsOf(records);
  if (levels.join(",") !== t.levels.join(",")) throw new Error(`${o.dataPath} has thinking budgets ${levels.join(",")}; ${manifest.name} predicts ${t.levels.join(",")}`);
  if (!records.every((r) => r.thinking!.every((l) => l.rewards.every((x) => x === 0 || x === 1)))) throw new Error(`${o.dataPath}: a thinking predictor is evaluated on binary rewards`);
  const L = levels.length;
  const out = await predictions(manifest, o.predictor, records.map((r) => r.hidden));
  const prompts: ThinkingPrompt[] = records.map((r, i) => ({
    outcomes: r.thinking!.map((l) => l.rewards),
    tokens: r.thinking!.map((l) => l.tokens),
    reasoning: r.thinking!.map((l) => l.reasoning_tokens / l.samples.length),
    predicted: Array.from(out.p.subarray(i * L, (i + 1) * L)),
    ...(out.tokens ? { predictedTokens: Array.from(out.tokens.subarray(i * L, (i + 1) * L)) } : {}),
  }));
  const K = Math.min(...prompts.flatMap((p) => p.outcomes.map((x) => x.length)));
  const kMax = Math.min(o.kMax, K);
  const strength = manifest.prior_strength ?? null;
  const setup: ThinkingSetup = { levels, expectedTokens: t.expected_tokens, kMax, ...(strength === null ? {} : { strength }) };
  const curves = thinkingCurves(prompts, setup, { strength: strength ?? undefined, orders: o.orders });
  const savings = thinkingSavings(prompts, curves, levels, kMax);

  const calibration = levels.map((budget, l) => {
    const rates = prompts.map((p) => p.outcomes[l].reduce((a, b) => a + b, 0) / p.outcomes[l].length);
    const predicted = prompts.map((p) => p.predicted[l]);
    const weights = prompts.map((p) => p.outcomes[l].length);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const tokensError = prompts[0].predictedTokens ? avg(prompts.map((p) => Math.abs(p.predictedTokens![l] - avg([...p.tokens[l]])))) : null;
    return { budget, predicted: avg(predicted), observed: avg(rates), ece: expectedCalibrationError(predicted, rates, weights), spearman: spearman(predicted, rates), tokensError };
  });

  // Where the joint allocation puts its tokens, at a few average budgets.
  const menus = predictedMenus(prompts, setup, levels.map((_, l) => l), kMax);
  const floor = menus.reduce((s, m) => s + Math.min(...m.map((x) => x.cost)), 0) / prompts.length;
  const breakdown = [8, 12, 16, 20, 24, 32].filter((b) => b >= floor).map((budget): Breakdown => {
    const { choice } = solveMenu(menus, budget * prompts.length);
    const chosen = menus.map((m, i) => m[choice[i]]);
    const point = pointOf(prompts, chosen);
    const share = Object.fromEntries(levels.map((b, l) => [String(b), chosen.filter((c) => c.level === l).length / prompts.length]));
    return { budget, quality: point.quality, tokens: point.cost, share, samples: chosen.reduce((s, c) => s + c.k, 0) / prompts.length };
  });

  const observedTokens = levels.map((_, l) => prompts.reduce((s, p) => s + p.tokens[l].reduce((a, b) => a + b, 0) / p.tokens[l].length, 0) / prompts.length);
  const vs = savings.map((s) => ({ reference: refName(s), thinking: against(s, "thinking", "thinking-oracle"), joint: against(s, "joint", "joint-oracle"), sequential: against(s, "sequential", "sequential-oracle") }));
  const result: ThinkingEvalResult = {
    predictor: manifest.name,
    prompts: prompts.length,
    samplesPerLevel: K,
    levels,
    expectedTokens: t.expected_tokens,
    observedTokens,
    kMax,
    strength,
    command: `allot eval --data ${o.dataPath} --predictor ${o.predictor} --out ${o.outDir} --b-max ${o.kMax}`,
    calibration,
    curves,
    savings,
    against: vs,
    breakdown,
  };
  await mkdir(o.outDir, { recursive: true });
  await writeFile(join(o.outDir, "thinking.svg"), chart(result));
  await writeFile(join(o.outDir, "results.json"), JSON.stringify(result, null, 1) + "\n");
  await writeFile(join(o.outDir, "report.md"), thinkingReportMarkdown(result, manifest));
  return result;
}

const SERIES: { method: ThinkingMethod; name: string; color: string; dashed?: boolean }[] = [
  { method: "thinking-uniform", name: "uniform budget, 1 sample", color: "#888888" },
  { method: "best-fixed", name: "best fixed (budget, k)", color: "#7f7f7f", dashed: true },
  { method: "samples", name: "allot k, fixed budget", color: "#2ca02c" },
  { method: "thinking", name: "allot budget, 1 sample", color: "#9467bd" },
  { method: "joint", name: "allot budget × k", color: "#d62728" },
  { method: "sequential", name: "allot sequential", color: "#ff7f0e" },
  { method: "thinking-oracle", name: "oracle budget, 1 sample", color: "#9467bd", dashed: true },
  { method: "joint-oracle", name: "oracle budget × k", color: "#1f77b4", dashed: true },
  { method: "sequential-oracle", name: "sequential oracle", color: "#17becf", dashed: true },
];

function chart(r: ThinkingEvalResult): string {
  const top = 48; // tokens per prompt shown: past this every curve is flat
  return lineChart(
    `${r.predictor}: thinking budgets on ${r.prompts} held-out prompts`,
    "tokens generated per prompt (thinking + answer)",
    "accuracy (best of the samples)",
    SERIES.filter((s) => r.curves[s.method].length > 0).map((s) => ({
      name: s.name,
      color: s.color,
      dashed: s.dashed,
      points: r.curves[s.method].filter((p) => p.cost <= top).map((p) => [p.cost, p.quality] as const),
    })),
  );
}

const f1 = (x: number) => x.toFixed(1);
const cell = (x: number | "never" | null) => (x === "never" ? "never" : x === null ? "—" : `${(100 * x).toFixed(0)}%`);
const refName = (s: ThinkingSaving) => `N = ${s.budget}${s.k > 1 ? `, k = ${s.k}` : ""}`;

export function thinkingReportMarkdown(r: ThinkingEvalResult, m: PredictorManifest): string {
  const t = m.thinking!;
  const row = (s: ThinkingSaving, saved: ThinkingSaving["saved"]) =>
    `| ${refName(s)} | ${(100 * s.quality).toFixed(1)}% | ${f1(s.tokens)} | ${f1(s.thinking)} | ${THINKING_METHODS.filter((k) => k !== "thinking-uniform").map((k) => pct(saved[k])).join(" | ")} |`;
  const header = `| fixed policy | its accuracy | its tokens | its thinking tokens | ${THINKING_METHODS.filter((k) => k !== "thinking-uniform").join(" | ")} |`;
  const sep = `|---|---|---|---|${THINKING_METHODS.filter((k) => k !== "thinking-uniform").map(() => "---|").join("")}`;
  const share = (x: number | null, of: number | null) => (x === null || of === null || of <= 0 ? "—" : `${(100 * (x / of)).toFixed(0)}%`);
  return [
    `# Thinking budgets: ${r.predictor}`,
    "",
    `Written by \`${r.command}\`.`,
    "",
    `${r.prompts} held-out prompts of \`${m.lm.model}\`'s task, each sampled ${r.samplesPerLevel} times at each thinking budget ` +
      `(${r.levels.join(", ")} tokens, sent as \`thinking_token_budget\`), scored by \`${m.reward_model}\`. The predictor reads ` +
      `\`${m.lm.model}\`'s hidden state of the prompt and gives p at each budget, non-decreasing in the budget. Compute is tokens generated ` +
      "(thinking, the two markers, the answer and the end-of-sequence token): a choice (budget, k samples) costs k × the prompt's own mean " +
      "tokens at that budget and is worth pass@k there, the unbiased estimate from its recorded samples, so every policy is scored on the " +
      "same samples. " +
      (t.tokens_output
        ? "allot plans with the predicted p and the predicted tokens per sample of each prompt at each budget, and is charged what its choices generate " +
          `(the mean tokens per sample at each budget on the training prompts, for comparison: ${t.expected_tokens.map(f1).join(", ")}).`
        : `allot plans with the predicted p and each budget's expected tokens per sample from the training data (${t.expected_tokens.map(f1).join(", ")}), ` +
          "the same for every prompt, and is charged what its choices generate."),
    "",
    "Calibration of the predicted p on these prompts, by budget:",
    "",
    "| budget | mean predicted p | mean observed | ECE | Spearman | tokens per sample: mean | predicted tokens: mean absolute error |",
    "|---|---|---|---|---|---|---|",
    ...r.calibration.map(
      (c, l) =>
        `| ${c.budget} | ${c.predicted.toFixed(3)} | ${c.observed.toFixed(3)} | ${c.ece.toFixed(3)} | ${c.spearman.toFixed(3)} | ${f1(r.observedTokens[l])} | ${c.tokensError === null ? "—" : f1(c.tokensError)} |`,
    ),
    "",
    "![thinking](thinking.svg)",
    "",
    "Policies: `best-fixed`, every prompt the same (budget, k), the best at each cost chosen on these very prompts (the concave hull: " +
      "random mixes of two fixed policies); `samples`, allot's k per prompt at one fixed budget (the best budget at each cost, chosen on these " +
      `prompts); \`thinking\`, allot's budget per prompt with one sample; \`joint\`, allot's (budget, k ≤ ${r.kMax}) per prompt by the menu solver; ` +
      "the oracles the same with each prompt's recorded accuracy and tokens; `sequential`, the sequential core in rounds (arms = budgets at their " +
      `expected tokens, Beta priors of strength ${r.strength === null ? "—" : r.strength.toFixed(2)} around the predicted p, each round planned by ` +
      "the menu solver under the tokens left, a failed sample followed by another sample or a longer think as the rule decides), replayed on the " +
      "recorded samples in 4 random orders, every sample paid for at the tokens it generated.",
    "",
    "allot against each baseline, at the accuracy of a fixed policy (every prompt at thinking budget N with k samples): 1 − the tokens allot " +
      "needs for that accuracy / the tokens the baseline needs (never: the baseline does not reach it), and allot's saving as a share of its " +
      "oracle's. `thinking`: one shot, a budget per prompt and one sample; `joint`: one shot, (budget, k) per prompt; `sequential`: the same menu in rounds, stopping at a pass.",
    "",
    `| fixed policy | allot | vs ${BASELINES.join(" | vs ")} | share of its oracle's saving |`,
    `|---|---|${BASELINES.map(() => "---|").join("")}---|`,
    ...r.against.flatMap((a) =>
      (["thinking", "joint", "sequential"] as const).map((m) => `| ${a.reference} | ${m} | ${BASELINES.map((b) => cell(a[m][b])).join(" | ")} | ${cell(a[m]["oracle-share"])} |`),
    ),
    "",
    "Tokens saved at the accuracy of a fixed policy, every prompt at thinking budget N with k samples (1 − tokens the policy needs for " +
      "that accuracy / the fixed policy's tokens; never: it does not reach that accuracy):",
    "",
    header,
    sep,
    ...r.savings.map((s) => row(s, s.saved)),
    "",
    "Counting thinking tokens only:",
    "",
    header,
    sep,
    ...r.savings.map((s) => row(s, s.savedThinking)),
    "",
    "allot's saving as a share of the oracle's (tokens):",
    "",
    "| fixed policy | thinking / thinking-oracle | joint / joint-oracle | sequential / sequential-oracle |",
    "|---|---|---|---|",
    ...r.savings.map(
      (s) => `| ${refName(s)} | ${share(s.saved.thinking, s.saved["thinking-oracle"])} | ${share(s.saved.joint, s.saved["joint-oracle"])} | ${share(s.saved.sequential, s.saved["sequential-oracle"])} |`,
    ),
    "",
    "Where the joint allocation puts its tokens:",
    "",
    `| average budget | accuracy | tokens spent | ${r.levels.map((b) => `at ${b}`).join(" | ")} | samples per prompt |`,
    `|---|---|---|${r.levels.map(() => "---|").join("")}---|`,
    ...r.breakdown.map((b) => `| ${b.budget} | ${(100 * b.quality).toFixed(1)}% | ${f1(b.tokens)} | ${r.levels.map((l) => `${(100 * b.share[String(l)]).toFixed(0)}%`).join(" | ")} | ${b.samples.toFixed(2)} |`),
    "",
  ].join("\n");
}

/** The headline figures, for the predictor's manifest (metrics.test_*). */
export function thinkingEvalMetrics(r: ThinkingEvalResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of r.calibration) {
    out[`test_ece_b${c.budget}`] = c.ece;
    out[`test_spearman_b${c.budget}`] = c.spearman;
  }
  for (const s of r.savings) {
    for (const m of ["thinking", "joint", "sequential"] as const) {
      const v = s.saved[m];
      if (v !== null) out[`test_saved_${m}_n${s.budget}${s.k > 1 ? `_k${s.k}` : ""}`] = v;
    }
  }
  return out;
}

/** One line per reference, for the terminal. */
export function thinkingSummary(r: ThinkingEvalResult): string {
  return r.savings
    .map((s) => `  at ${refName(s)} (${(100 * s.quality).toFixed(1)}%, ${f1(s.tokens)} tokens): thinking ${pct(s.saved.thinking)}, joint ${pct(s.saved.joint)}, sequential ${pct(s.saved.sequential)}; oracle ${pct(s.saved["joint-oracle"])}\n`)
    .join("");
}
