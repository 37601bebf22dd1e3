import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { measureSuccess, successMarkdown } from "../reference-lm/measure.js";
import { ReferenceLM } from "../reference-lm/model.js";
import { DEFAULT_MODELS_DIR } from "../reference-lm/registry.js";
import { taskOf } from "../reference-lm/tasks.js";
import { intFlag, numberFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

/** The thinking budgets measured by default (reports/thinking's, up to the longest scratchpad). */
export const DEFAULT_BUDGETS = [0, 2, 4, 8, 16, 32, 64];

export const usage = `allot measure-lm --model strong [--samples 400] [--temperature 0.8] [--top-p 1] [--seed 1]
                 [--cells 2+2,3*1] [--budgets 0,2,4,8,16,32,64] [--write] [--models-dir DIR]

Measures a reference LM's single-sample success rate per difficulty cell on test-split
problems of its task and prints it as a markdown table. A thinking model (model
thinking: cells like 4x2) is measured with unlimited thinking and at each --budgets
thinking budget, the end of its thinking forced as the server forces it. --write records
the table in the model's manifest.`;

export async function runMeasureLm(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    model: { type: "string" },
    samples: { type: "string" },
    temperature: { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    cells: { type: "string" },
    budgets: { type: "string" },
    write: { type: "boolean", default: false },
    "models-dir": { type: "string", default: DEFAULT_MODELS_DIR },
  });
  if (!flags.model) throw new CliError("--model is required (e.g. --model strong)");
  const dir = flags["models-dir"] as string;
  const lm = await ReferenceLM.load(dir, String(flags.model)).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  const task = taskOf(lm.manifest);
  const cells = flags.cells ? String(flags.cells).split(",") : undefined;
  for (const c of cells ?? []) if (!task.isCell(c)) throw new CliError(`--cells: "${c}" is not a cell of ${lm.name}'s task (${task.name}), like ${task.cellExample}`);
  const budgets = flags.budgets === undefined ? DEFAULT_BUDGETS : String(flags.budgets).split(",").map((b) => intFlag(b, "budgets", 0, 0));
  if (flags.budgets !== undefined && !lm.manifest.thinking) throw new CliError(`--budgets: ${lm.name} does not think`);
  const t0 = performance.now();
  const table = await measureSuccess(lm, {
    samplesPerCell: intFlag(flags.samples, "samples", 400, 1),
    temperature: numberFlag(flags.temperature, "temperature", 0.8),
    topP: numberFlag(flags["top-p"], "top-p", 1),
    seed: intFlag(flags.seed, "seed", 1),
    cells,
    budgets,
  });
  process.stdout.write(
    `${lm.name}: single-sample success at temperature ${table.temperature}, ${table.samples_per_cell} test problems per cell ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n\n${successMarkdown(table)}\n`,
  );
  if (flags.write) {
    const path = join(dir, `${lm.name}.manifest.json`);
    const manifest = JSON.parse(await readFile(path, "utf8"));
    manifest.success = table;
    await writeFile(path, JSON.stringify(manifest, null, 2) + "\n");
    process.stdout.write(`\nwrote the table to ${path}\n`);
  }
}
