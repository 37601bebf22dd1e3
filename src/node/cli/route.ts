import { readFile } from "node:fs/promises";
import { CollectSettingsSchema } from "../../core/predictor/dataset.js";
import { parseModelFiles, parsePairs } from "../pipeline/route-data.js";
import { trainRouter } from "../pipeline/train-route.js";
import { intFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const trainUsage = `allot train-route --train weak=W.jsonl,strong=S.jsonl --validation weak=…,strong=…
                  --costs weak=1,strong=3 --input weak --out models/predictors/NAME
                  [--cost-basis TEXT] [--hidden 64] [--seed 1]

Trains a router from datasets of the same prompts collected from each model (allot
collect, binary rewards): an MLP on the --input model's hidden state with one calibrated
success probability per model, exported to ONNX; the manifest lists the menu of models
with their cost per sample (whole units: the ledger charges whole units).`;

function costs(spec: string): Map<string, number> {
  const out = new Map<string, number>();
  let pairs: [string, string][];
  try {
    pairs = parsePairs(spec, "costs");
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  for (const [model, value] of pairs) {
    const c = Number(value);
    if (!Number.isInteger(c) || c < 1) throw new CliError(`--costs: ${model}'s cost must be a whole number of units ≥ 1, got "${value}"`);
    out.set(model, c);
  }
  return out;
}

const pairs = (spec: unknown, flag: string) => {
  try {
    return parseModelFiles(String(spec), flag);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
};

export async function runTrainRoute(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    train: { type: "string" },
    validation: { type: "string" },
    costs: { type: "string" },
    input: { type: "string" },
    out: { type: "string" },
    "cost-basis": { type: "string" },
    "reward-model": { type: "string", default: "verifier-binary" },
    hidden: { type: "string" },
    seed: { type: "string" },
  });
  if (!f.train || !f.validation || !f.costs || !f.input || !f.out) throw new CliError("--train, --validation, --costs, --input and --out are required");
  const train = pairs(f.train, "train");
  const validation = pairs(f.validation, "validation");
  const c = costs(String(f.costs));
  const models = train.map(([m]) => m);
  if (validation.map(([m]) => m).join() !== models.join()) throw new CliError("--validation must name the same models as --train, in the same order");
  for (const m of models) if (!c.has(m)) throw new CliError(`--costs has no cost for ${m}`);
  // Every dataset's prompts were asked in one form (collect's --chat or not), which the router serves.
  const forms = new Set<string>();
  for (const [, path] of [...train, ...validation]) {
    try {
      forms.add(CollectSettingsSchema.parse(JSON.parse(await readFile(`${path}.meta.json`, "utf8"))).form ?? "prompt");
    } catch {
      forms.add("prompt"); // a dataset without collect's settings beside it: bare prompts, as collect wrote before --chat
    }
  }
  if (forms.size > 1) throw new CliError("the datasets mix prompts and conversations (allot collect --chat): collect them all one way");
  const manifest = await trainRouter({
    train,
    validation,
    options: models.map((model) => ({ model, cost: c.get(model)! })),
    costBasis: String(f["cost-basis"] ?? "as given to allot train-route"),
    input: String(f.input),
    rewardModel: String(f["reward-model"]),
    inputForm: [...forms][0] as "prompt" | "chat",
    out: String(f.out),
    seed: intFlag(f.seed, "seed", 1),
    hidden: intFlag(f.hidden, "hidden", 64, 1),
  }).catch((e: Error) => {
    throw e instanceof CliError ? e : new CliError(e.message, 1);
  });
  const m = manifest.metrics;
  process.stdout.write(
    `${manifest.name}: router over ${models.join(", ")} on ${manifest.lm.model} hidden states\n` +
      models.map((x) => `  ${x}: Spearman ${m[`spearman_validation_${x}`].toFixed(3)}, ECE ${m[`ece_validation_${x}`].toFixed(3)} (validation)\n`).join("") +
      `  ONNX parity ${m.onnx_parity_max_abs.toExponential(1)}; wrote ${f.out}.onnx and ${f.out}.manifest.json\n`,
  );
}
