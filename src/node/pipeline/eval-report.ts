import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { expectedCalibrationError, spearman } from "../training/calibration.js";
import { RecordSchema } from "../../core/predictor/dataset.js";
import { bestOfCurve, passAt } from "../../core/predictor/estimators.js";
import { type PredictorManifest, PredictorManifestSchema } from "../../core/predictor/manifest.js";
import { type CurvePoint, type EvalPrompt, type Method, type Savings, methodsOf, qualityCurves, recordedOf, savingsAt } from "./evaluate.js";
import { atomsFromCurve, exceedance, sketchOf } from "../../core/allocation/pandora.js";
import { curveBelief, predictedBelief, replayWaves } from "./sequential.js";
import { readJsonl } from "./jsonl.js";
import { type OnlineEval, evaluateOnline } from "./online-eval.js";
import { lineChart } from "./plot.js";
import { pct } from "./format.js";

export interface EvalOptions {
  readonly dataPath: string;
  /** Path prefix of the predictor: <predictor>.onnx and <predictor>.manifest.json. */
  readonly predictor: string;
  readonly outDir: string;
  readonly bMax: number;
  /** Share of prompts at each end (easiest, hardest) in the "tranches" mix. */
  readonly tranche: number;
}

export interface EvalResult {
  readonly manifest: PredictorManifest;
  readonly prompts: number;
  readonly samplesPerPrompt: number;
  readonly spearman: number;
  readonly ece: number | null;
  readonly mixes: Record<string, { prompts: number; curve: CurvePoint[]; savings: Savings[] }>;
  /** Waves at B = 4 on the full mix: the prior strength used (binary rewards), and how many prompts took each number of rounds and of samples. */
  readonly waves: { strength: number | null; budget: number; rounds: number[]; samples: number[] } | null;
  /**
   * Curve predictors: how calibrated the one-sample reward distribution their curve implies
   * is (allocation/pandora.ts), per threshold t: P(X ≥ t) predicted against the share of
   * each prompt's samples at or above t (ECE over 10 bins, weighted by samples).
   */
  readonly distribution: { threshold: number; ece: number; predicted: number; observed: number }[] | null;
  /** Prompts whose empirical curve is flat (left out of the tranches). */
  readonly flat: number;
  /** The online price controller replayed on these prompts (Bernoulli predictors). */
  readonly online: OnlineEval[] | null;
}

const COLORS: Record<Method, string> = {
  uniform: "#888888",
  learned: "#d62728",
  oracle: "#1f77b4",
  random: "#2ca02c",
  "stop-first": "#ff7f0e",
  waves: "#9467bd",
  "waves-oracle": "#17becf",
};
const LABELS: Record<Method, string> = {
  uniform: "uniform best-of-k",
  learned: "allot, one-shot",
  oracle: "oracle, one-shot",
  random: "random",
  "stop-first": "stop at first pass (cap = B)",
  waves: "allot waves",
  "waves-oracle": "waves oracle",
};

/** Runs the evaluation and writes report.md, one SVG per mix and results.json to outDir. */
export async function evaluatePredictor(o: EvalOptions): Promise<EvalResult> {
  const manifest = PredictorManifestSchema.parse(JSON.parse(await readFile(`${o.predictor}.manifest.json`, "utf8")));
  // In id order: collect appends batches as they finish, so the file's order varies from
  // run to run, and the replays that draw prompts by index must not depend on it.
  const records = (await readJsonl(o.dataPath, RecordSchema)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (records.length === 0) throw new Error(`${o.dataPath} has no records`);
  const K = Math.min(...records.map((r) => r.rewards.length));
  const bMax = Math.min(o.bMax, K, manifest.b_max ?? Infinity);
  for (const r of records) {
    if (r.hidden.length !== manifest.input_size) throw new Error(`prompt ${r.id}: hidden size ${r.hidden.length}, the predictor takes ${manifest.input_size}`);
  }
  const session = await ort.InferenceSession.create(join(dirname(o.predictor), manifest.file));
  const flat = Float32Array.from(records.flatMap((r) => r.hidden));
  const out = (await session.run({ hidden: new ort.Tensor("float32", flat, [records.length, manifest.input_size]) }))[manifest.output].data as Float32Array;
  const width = manifest.kind === "bernoulli" ? 1 : manifest.b_max!;

  const binary = manifest.kind === "bernoulli";
  const prompts: EvalPrompt[] = records.map((r, i) => {
    const s = r.rewards.reduce((a, b) => a + b, 0);
    const empirical = new Float64Array(bMax + 1);
    if (binary) for (let b = 1; b <= bMax; b++) empirical[b] = passAt(r.rewards.length, s, b);
    else empirical.set(bestOfCurve(r.rewards, bMax), 1);
    const q = Float64Array.from(out.subarray(i * width, i * width + bMax));
    // A curve's implied reward distribution, fitted once here for every replay and the calibration table.
    const predicted = binary ? { p: out[i] } : { q, atoms: atomsFromCurve(q) };
    return { empirical, predicted, outcomes: r.rewards };
  });
  const empiricalOne = prompts.map((p) => p.empirical[1]);
  const predictedOne = prompts.map((p) => ("p" in p.predicted ? p.predicted.p : p.predicted.q[0]));
  const rho = spearman(predictedOne, empiricalOne);
  const ece = binary ? expectedCalibrationError(predictedOne, empiricalOne, records.map((r) => r.rewards.length)) : null;

  // Tranches: the easiest and the hardest prompts by empirical single-sample quality,
  // among those whose curve is not flat. A prompt every sample solves (or none does) gains
  // nothing from compute; on a task where over a quarter of prompts are such, quartiles of
  // raw difficulty would hold only flat curves, on which every allocation scores the same.
  const responsive = prompts.map((_, i) => i).filter((i) => prompts[i].empirical[bMax] > prompts[i].empirical[1] + 1e-12);
  const order = responsive.sort((a, b) => empiricalOne[a] - empiricalOne[b] || a - b);
  const k = Math.max(1, Math.floor(order.length * o.tranche));
  const tranches = [...order.slice(0, k), ...order.slice(-k)].sort((a, b) => a - b).map((i) => prompts[i]);

  // Binary waves need the prior's strength, fitted on the validation split when the
  // predictor was trained; real-valued waves use the distribution the curve implies.
  const sequential = !binary ? {} : manifest.prior_strength !== undefined ? { strength: manifest.prior_strength } : undefined;
  const mixes: EvalResult["mixes"] = {};
  for (const [name, set] of [["full", prompts], ["tranches", tranches]] as const) {
    const curve = qualityCurves(set, bMax, 0.25, sequential);
    const savings = [2, 4, 8].filter((b) => b <= bMax).map((b) => savingsAt(curve, b));
    mixes[name] = { prompts: set.length, curve, savings };
  }
  // The recorded predictor outputs with each prompt's outcomes: the online controller's
  // test traffic (committed beside the report, so the simulation test needs no data/).
  const trace = binary ? records.map((r, i) => ({ p: out[i], successes: r.rewards.reduce((a, b) => a + b, 0), samples: r.rewards.length })) : null;
  const online = trace ? evaluateOnline(trace, [2, 4, 8].filter((b) => b <= bMax), bMax) : null;
  // How waves spend at B = 4 on the full mix: rounds and samples per prompt (over the 8 orders).
  const recorded = recordedOf(prompts);
  const wavesAt4 =
    sequential && recorded && bMax >= 4
      ? (({ roundsHistogram, samplesHistogram }) => ({ budget: 4, rounds: roundsHistogram, samples: samplesHistogram }))(
          replayWaves(recorded, binary ? predictedBelief(recorded, sequential.strength!) : curveBelief(recorded), 4, { max: bMax, orders: 8 }),
        )
      : null;
  const distribution = binary ? null : distributionCalibration(prompts, records.map((r) => r.rewards));
  const result: EvalResult = {
    manifest,
    prompts: records.length,
    samplesPerPrompt: K,
    spearman: rho,
    ece,
    mixes,
    flat: prompts.length - responsive.length,
    online: online?.results ?? null,
    waves: wavesAt4 ? { strength: sequential?.strength ?? null, ...wavesAt4 } : null,
    distribution,
  };

  await mkdir(o.outDir, { recursive: true });
  if (trace && online) {
    await writeFile(join(o.outDir, "trace.json"), JSON.stringify(trace.map((t) => ({ ...t, p: Number(t.p.toFixed(6)) }))) + "\n");
    await writeFile(join(o.outDir, "online.svg"), online.svg);
  }
  const qLabel = binary ? "pass rate (best of the units)" : "expected best reward";
  for (const [name, mix] of Object.entries(mixes)) {
    const svg = lineChart(
      `${manifest.name}: ${name} (${mix.prompts} prompts)`,
      "average units (samples) per prompt",
      qLabel,
      methodsOf(mix.curve).map((m) => ({ name: LABELS[m], color: COLORS[m], dashed: m === "oracle" || m === "waves-oracle", points: mix.curve.map((c) => [c.used[m]!, c.quality[m]!] as const) })),
    );
    await writeFile(join(o.outDir, `${name}.svg`), svg);
  }
  await writeFile(join(o.outDir, "results.json"), JSON.stringify(result, null, 1) + "\n");
  await writeFile(join(o.outDir, "report.md"), reportMarkdown(result, o));
  return result;
}

/** P(X ≥ t) from each prompt's implied distribution against its recorded samples, at t = 0.25, 0.5, 0.75, 1. */
function distributionCalibration(prompts: readonly EvalPrompt[], rewards: readonly (readonly number[])[]): NonNullable<EvalResult["distribution"]> {
  const atoms = prompts.map((p) => ("q" in p.predicted ? sketchOf(p.predicted.atoms ?? atomsFromCurve(p.predicted.q)) : null));
  return [0.25, 0.5, 0.75, 1].map((t) => {
    const predicted = atoms.map((a) => exceedance(a!, t));
    const observed = rewards.map((rs) => rs.filter((x) => x >= t - 1e-12).length / rs.length);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { threshold: t, ece: expectedCalibrationError(predicted, observed, rewards.map((rs) => rs.length)), predicted: mean(predicted), observed: mean(observed) };
  });
}

export function reportMarkdown(r: EvalResult, o: EvalOptions): string {
  const lines = [
    `# Evaluation: ${r.manifest.name}`,
    "",
    `${r.prompts} held-out prompts (\`${basename(o.dataPath)}\`), ${r.samplesPerPrompt} samples each; ` +
      `${r.manifest.kind} predictor on \`${r.manifest.lm.model}\` hidden states, reward \`${r.manifest.reward_model}\`. ` +
      "Quality is the unbiased best-of-b estimate from each prompt's samples; every query gets at least 1 unit, at most " +
      `${r.mixes.full.curve[r.mixes.full.curve.length - 1].budget}. Compute saved at equal quality is measured against the ` +
      "smallest uniform budget that reaches uniform's quality at B (where more samples stop helping, nothing is credited).",
    "",
    `- Spearman correlation of predicted single-sample quality with the empirical one: **${r.spearman.toFixed(3)}**`,
    ...(r.ece !== null ? [`- Expected calibration error of p (10 bins): **${r.ece.toFixed(3)}**`] : []),
    "",
    ...(r.distribution
      ? [
          "The one-sample reward distribution the predicted curve implies (32 equally likely atoms fitted to it, `src/allocation/pandora.ts`; " +
            "what real-valued waves stop on), against each prompt's recorded samples: P(reward ≥ t), ECE over 10 bins.",
          "",
          "| t | predicted mean P(X ≥ t) | observed | ECE |",
          "|---|---|---|---|",
          ...r.distribution.map((d) => `| ${d.threshold} | ${d.predicted.toFixed(3)} | ${d.observed.toFixed(3)} | ${d.ece.toFixed(3)} |`),
          "",
        ]
      : []),
  ];
  for (const [name, mix] of Object.entries(r.mixes)) {
    lines.push(
      `## ${name === "full" ? "Full distribution" : `Tranches (the ${(100 * o.tranche).toFixed(0)}% easiest and ${(100 * o.tranche).toFixed(0)}% hardest)`}: ${mix.prompts} prompts`,
      ...(name === "full"
        ? []
        : [
            "",
            `Drawn from the ${r.prompts - r.flat} prompts whose empirical curve is not flat; the other ${r.flat} were solved by ` +
              "every sample or by none, gain nothing from compute, and would make every allocation score the same.",
          ]),
      "",
      `![${name}](${name}.svg)`,
      "",
      "| B | uniform quality (reached at B) | compute saved at equal quality: allot | oracle | random | quality gain at equal budget: allot | oracle | allot / oracle savings |",
      "|---|---|---|---|---|---|---|---|",
    );
    for (const s of mix.savings) {
      const share = s.saved.learned !== null && s.saved.oracle ? `${(100 * (s.saved.learned / s.saved.oracle)).toFixed(0)}%` : "—";
      lines.push(
        `| ${s.budget} | ${s.uniformQuality.toFixed(3)} (${s.uniformBudget.toFixed(2)}) | ${pct(s.saved.learned)} | ${pct(s.saved.oracle)} | ${pct(s.saved.random)} | ` +
          `${(s.gain.learned >= 0 ? "+" : "") + s.gain.learned.toFixed(3)} | ${(s.gain.oracle >= 0 ? "+" : "") + s.gain.oracle.toFixed(3)} | ${share} |`,
      );
    }
    lines.push("");
    if (mix.savings[0]?.saved.waves !== undefined) {
      lines.push(
        "Sequential policies, replayed on the recorded samples (each prompt's samples in 8 random orders; every sample looked at is paid for): " +
          (r.ece !== null
            ? "stop at the first passing sample with at most B samples (no predictor), allot's waves at B samples per prompt on average, and waves " +
              "with each prompt's true p known. "
            : "stop once the best reward reaches a fixed threshold, at most B samples (no predictor; the threshold that does best at each B, " +
              "chosen on these very prompts), allot's waves at B samples per prompt on average (the exact solver over expected improvements " +
              "of the best so far), and waves with each prompt's recorded reward distribution known. ") +
          "Compute saved at the same uniform quality as above:",
        "",
        "| B | stop-first | waves | waves oracle | waves / waves oracle | waves − stop-first (points) | quality gain over uniform at B: stop-first | waves |",
        "|---|---|---|---|---|---|---|---|",
        ...mix.savings.map((s) => {
          const w = s.saved.waves ?? null;
          const wo = s.saved["waves-oracle"] ?? null;
          const sf = s.saved["stop-first"] ?? null;
          const g = (x: number | undefined) => (x === undefined ? "—" : (x >= 0 ? "+" : "") + x.toFixed(3));
          return (
            `| ${s.budget} | ${pct(sf)} | ${pct(w)} | ${pct(wo)} | ${w !== null && wo ? `${(100 * (w / wo)).toFixed(0)}%` : "—"} | ${w !== null && sf !== null ? (100 * (w - sf)).toFixed(0) : "—"} | ` +
            `${g(s.gain["stop-first"])} | ${g(s.gain.waves)} |`
          );
        }),
        "",
      );
    }
  }
  if (r.waves) {
    const share = (h: number[]) => {
      const total = h.reduce((a, b) => a + b, 0);
      return h.map((c, k) => (c > 0 ? `${k}: ${((100 * c) / total).toFixed(1)}%` : null)).filter((x) => x !== null).join(", ");
    };
    lines.push(
      `## Waves at B = ${r.waves.budget}: rounds and samples per prompt`,
      "",
      (r.waves.strength !== null
        ? `Prior strength s = ${r.waves.strength.toFixed(2)} (a Beta(s·p, s·(1 − p)) prior around each predicted p, fitted on the validation split). `
        : "Each prompt's one-sample reward distribution is the one its predicted curve implies. ") +
        "Rounds draw 1, 1, 2, 4, … samples per prompt; the share of prompts (over 8 orders of their samples) that took each number of:",
      "",
      `- rounds: ${share(r.waves.rounds)}`,
      `- samples: ${share(r.waves.samples)}`,
      "",
    );
  }
  if (r.online) {
    const s = r.online[0];
    lines.push(
      "## Online: the price controller on these prompts as traffic",
      "",
      `${s.requests} requests drawn at random from the prompts above; each gets k = the units whose predicted gain is at least ` +
        `the tenant's price (min 1, max ${r.mixes.full.curve[r.mixes.full.curve.length - 1].budget}), and the price moves after every request ` +
        `(\`src/allocation/price.ts\`). Judged after a warm-up of ${s.warmup} requests; quality is compared with uniform best-of-k at the ` +
        "same mean spend on the same requests. `trace.json` holds the recorded predictor outputs and outcomes.",
      "",
      "![online](online.svg)",
      "",
      `| target B | mean units after ${s.warmup} | trailing ${s.window}-request mean, min–max | its noise from the traffic alone (σ) | quality: allot | uniform at the same spend |`,
      "|---|---|---|---|---|---|",
      ...r.online.map(
        (e) =>
          `| ${e.target} | ${e.meanUnits.toFixed(2)} (${e.meanUnits >= e.target ? "+" : ""}${((100 * (e.meanUnits - e.target)) / e.target).toFixed(1)}%) | ` +
          `${e.trailing[0].toFixed(2)}–${e.trailing[1].toFixed(2)} | ±${e.windowNoise.toFixed(2)} | ${e.quality.toFixed(3)} | ${e.uniformQuality.toFixed(3)} |`,
      ),
      "",
    );
  }
  return lines.join("\n");
}
