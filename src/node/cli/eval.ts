import { readFile } from "node:fs/promises";
import { evaluatePredictor } from "../pipeline/eval-report.js";
import { parseModelFiles } from "../pipeline/route-data.js";
import { evaluateRouter } from "../pipeline/route-report.js";
import { evaluateThinking, thinkingEvalMetrics, thinkingSummary } from "../pipeline/thinking-report.js";
import { intFlag, numberFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";
import { pct } from "../pipeline/format.js";
import { predictorEvalMetrics, recordEvalMetrics, routerEvalMetrics } from "../pipeline/eval-metrics.js";

export const usage = `allot eval --data TEST.jsonl --predictor models/NAME --out REPORT_DIR [--b-max 16] [--tranche 0.25]
allot eval --data weak=W.jsonl,strong=S.jsonl --predictor models/predictors/ROUTER --out REPORT_DIR [--b-max 8]

A best-of-k predictor: quality-vs-average-budget curves of uniform best-of-k, allot's
learned allocation, the oracle (each prompt's empirical curve) and a random allocation,
on held-out prompts collected with K samples each; compute saved at equal quality and
quality gained at equal budget at B = 2, 4, 8, on the full mix and on "tranches"
(easiest + hardest prompts); for a Bernoulli predictor, the online price controller
replayed on the same prompts. Writes REPORT_DIR/report.md, full.svg, tranches.svg,
online.svg, trace.json and results.json, and the headline figures into the predictor's
manifest (metrics.test_*: Spearman, ECE, compute saved at B = 2, 4, 8).

A router (its manifest lists a menu of models; --data gives each model's dataset of the
same prompts, in the router's order): quality-vs-cost curves of always each model, a
random mix, allot routing and oracle routing with up to --b-max samples per prompt, and
the cost saved at the quality of each fixed policy. Writes REPORT_DIR/report.md,
routing.svg and results.json, and the savings into the router's manifest (metrics.test_*).

A thinking-budget predictor (its manifest lists thinking levels; --data collected with
--thinking-budgets): tokens saved at the accuracy of each uniform thinking budget by the
best fixed (budget, k), allot's best-of-k at a fixed budget, allot's budget per prompt
(one sample), the joint (budget × k, up to --b-max samples) and the sequential core in
rounds, against their oracles. Writes REPORT_DIR/report.md, thinking.svg and
results.json, and the savings into the manifest (metrics.test_*).`;

/** What the predictor's manifest says it is: a router, a thinking-budget predictor, or a best-of-k one. */
async function kindOf(predictor: string): Promise<"route" | "thinking" | "best-of-k"> {
  try {
    const m = JSON.parse(await readFile(`${predictor}.manifest.json`, "utf8"));
    return "route" in m ? "route" : "thinking" in m ? "thinking" : "best-of-k";
  } catch {
    return "best-of-k"; // evaluatePredictor reports a missing or broken manifest
  }
}

async function runThinkingEval(data: string, predictor: string, out: string, kMax: number): Promise<void> {
  const r = await evaluateThinking({ dataPath: data, predictor, outDir: out, kMax }).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  await recordEvalMetrics(predictor, thinkingEvalMetrics(r));
  process.stdout.write(
    `${r.predictor} on ${r.prompts} prompts × ${r.samplesPerLevel} samples at each of ${r.levels.length} thinking budgets; tokens saved at the uniform budget's accuracy:\n` +
      thinkingSummary(r) +
      `  wrote ${out}/report.md, and its figures into ${predictor}.manifest.json (metrics.test_*)\n`,
  );
}

async function runRouteEval(data: string, predictor: string, out: string, kMax: number): Promise<void> {
  let test: [string, string][];
  try {
    test = parseModelFiles(data, "data");
  } catch (e) {
    throw new CliError(`${(e as Error).message} (${predictor} is a router)`);
  }
  const r = await evaluateRouter({ test, predictor, outDir: out, kMax }).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  await recordEvalMetrics(predictor, routerEvalMetrics(r));
  process.stdout.write(
    `${r.manifest.name} on ${r.prompts} prompts:\n` +
      r.savings.map((s) => `  at the quality of ${s.reference} (${s.quality.toFixed(3)}, cost ${s.cost}): allot saves ${pct(s.saved.allot)}, oracle ${pct(s.saved.oracle)}\n`).join("") +
      `  wrote ${out}/report.md, and its figures into ${predictor}.manifest.json (metrics.test_*)\n`,
  );
}

export async function runEval(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    data: { type: "string" },
    predictor: { type: "string" },
    out: { type: "string" },
    "b-max": { type: "string" },
    tranche: { type: "string" },
  });
  if (!f.data || !f.predictor || !f.out) throw new CliError("--data, --predictor and --out are required");
  const kind = await kindOf(String(f.predictor));
  if (kind === "route") return runRouteEval(String(f.data), String(f.predictor), String(f.out), intFlag(f["b-max"], "b-max", 8, 1));
  if (kind === "thinking") return runThinkingEval(String(f.data), String(f.predictor), String(f.out), intFlag(f["b-max"], "b-max", 8, 1));
  const tranche = numberFlag(f.tranche, "tranche", 0.25);
  if (!(tranche > 0 && tranche <= 0.5)) throw new CliError("--tranche must be in (0, 0.5]");
  const r = await evaluatePredictor({
    dataPath: String(f.data),
    predictor: String(f.predictor),
    outDir: String(f.out),
    bMax: intFlag(f["b-max"], "b-max", 16, 2),
    tranche,
  }).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  await recordEvalMetrics(String(f.predictor), predictorEvalMetrics(r));
  const line = (name: string) =>
    r.mixes[name].savings
      .map((s) => `B=${s.budget}: saves ${s.saved.learned === null ? "—" : (100 * s.saved.learned).toFixed(0) + "%"} (oracle ${s.saved.oracle === null ? "—" : (100 * s.saved.oracle).toFixed(0) + "%"})`)
      .join(", ");
  process.stdout.write(
    `${r.manifest.name} on ${r.prompts} prompts × ${r.samplesPerPrompt} samples: Spearman ${r.spearman.toFixed(3)}` +
      (r.ece !== null ? `, ECE ${r.ece.toFixed(3)}` : "") +
      `\n  full:     ${line("full")}\n  tranches: ${line("tranches")}\n  wrote ${f.out}/report.md, and its figures into ${f.predictor}.manifest.json (metrics.test_*)\n`,
  );
}
