import { evaluatePredictor } from "../pipeline/eval-report.js";
import { intFlag, numberFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot eval --data TEST.jsonl --predictor models/NAME --out REPORT_DIR [--b-max 16] [--tranche 0.25]

Quality-vs-average-budget curves of uniform best-of-k, allot's learned allocation, the
oracle (each prompt's empirical curve) and a random allocation, on held-out prompts
collected with K samples each; compute saved at equal quality and quality gained at equal
budget at B = 2, 4, 8, on the full mix and on "tranches" (easiest + hardest prompts).
Writes REPORT_DIR/report.md, full.svg, tranches.svg and results.json.`;

export async function runEval(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    data: { type: "string" },
    predictor: { type: "string" },
    out: { type: "string" },
    "b-max": { type: "string" },
    tranche: { type: "string" },
  });
  if (!f.data || !f.predictor || !f.out) throw new CliError("--data, --predictor and --out are required");
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
  const line = (name: string) =>
    r.mixes[name].savings
      .map((s) => `B=${s.budget}: saves ${s.saved.learned === null ? "—" : (100 * s.saved.learned).toFixed(0) + "%"} (oracle ${s.saved.oracle === null ? "—" : (100 * s.saved.oracle).toFixed(0) + "%"})`)
      .join(", ");
  process.stdout.write(
    `${r.manifest.name} on ${r.prompts} prompts × ${r.samplesPerPrompt} samples: Spearman ${r.spearman.toFixed(3)}` +
      (r.ece !== null ? `, ECE ${r.ece.toFixed(3)}` : "") +
      `\n  full:     ${line("full")}\n  tranches: ${line("tranches")}\n  wrote ${f.out}/report.md\n`,
  );
}
