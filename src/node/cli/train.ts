import { readFile } from "node:fs/promises";
import { trainPredictor } from "../pipeline/train.js";
import { TrainingSettingsSchema } from "../../core/predictor/dataset.js";
import { intFlag, numberFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot train --train TRAIN.jsonl --validation VAL.jsonl --out models/NAME
            [--kind auto|bernoulli|curve|thinking] [--b-max 16] [--hidden 64] [--seed 1] [--tokens-per-unit 1]

Trains the marginal-reward predictor on datasets from \`allot collect\` (or \`allot audits export\`): an MLP on the
hidden state that predicts p (binary rewards) or the best-of-b curve (real-valued), with
early stopping and temperature calibration on the validation set; writes NAME.onnx and
NAME.manifest.json. Same data and seed, same model. The manifest records the form the
data's hidden states were read in (a prompt, or a conversation: allot collect --chat);
the gateway serves the predictor that form only.

On data collected with --thinking-budgets (--kind auto or thinking): p at each budget
level, non-decreasing in the level, calibrated per level; the manifest lists the levels,
each level's expected tokens per sample and --tokens-per-unit.`;

export async function runTrain(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    train: { type: "string" },
    validation: { type: "string" },
    out: { type: "string" },
    kind: { type: "string", default: "auto" },
    "b-max": { type: "string" },
    hidden: { type: "string" },
    seed: { type: "string" },
    "tokens-per-unit": { type: "string" },
  });
  if (!f.train || !f.validation || !f.out) throw new CliError("--train, --validation and --out are required");
  const kind = String(f.kind);
  if (!["auto", "bernoulli", "curve", "thinking"].includes(kind)) throw new CliError(`--kind must be auto, bernoulli, curve or thinking, got ${kind}`);
  const tokensPerUnit = numberFlag(f["tokens-per-unit"], "tokens-per-unit", 1);
  if (!(tokensPerUnit > 0)) throw new CliError("--tokens-per-unit must be positive");
  let settings;
  try {
    settings = TrainingSettingsSchema.parse(JSON.parse(await readFile(`${f.train}.meta.json`, "utf8")));
  } catch {
    throw new CliError(`${f.train}.meta.json is missing or invalid: train on a dataset written by allot collect or allot audits export`);
  }
  const manifest = await trainPredictor({
    trainPath: String(f.train),
    validationPath: String(f.validation),
    out: String(f.out),
    kind: kind as "auto",
    bMax: intFlag(f["b-max"], "b-max", 16, 1),
    hidden: intFlag(f.hidden, "hidden", 64, 1),
    seed: intFlag(f.seed, "seed", 1),
    lmModel: settings.model,
    rewardModel: settings.reward_model,
    inputForm: settings.form ?? "prompt",
    tokensPerUnit,
  }).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  const m = manifest.metrics;
  const fmt = (x: number | undefined) => (x === undefined ? "—" : x.toFixed(4));
  process.stdout.write(
    `${manifest.name}: ${manifest.kind} predictor on ${manifest.lm.model} hidden states (${manifest.input_size})\n` +
      `  epochs ${manifest.training.epochs} (best ${manifest.training.best_epoch}), validation loss ${fmt(m.validation_loss)}\n` +
      (manifest.thinking ? `  levels ${manifest.thinking.levels.join(", ")}: expected tokens per sample ${manifest.thinking.expected_tokens.map((t) => t.toFixed(1)).join(", ")}\n` : "") +
      (manifest.kind === "bernoulli" ? `  temperature ${[manifest.temperature].flat().map((t) => t.toFixed(3)).join(", ")}, ECE ${fmt(m.ece_validation_before)} → ${fmt(m.ece_validation)} (validation)\n` : "") +
      `  Spearman vs empirical ${fmt(m.spearman_validation)} (validation), ONNX parity ${m.onnx_parity_max_abs.toExponential(1)}\n` +
      `  wrote ${f.out}.onnx and ${f.out}.manifest.json\n`,
  );
}
