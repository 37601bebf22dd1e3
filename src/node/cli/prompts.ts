import { SPLITS, type Split } from "../reference-lm/task.js";
import { TASKS, type TaskName } from "../reference-lm/tasks.js";
import { intFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot prompts [--task arithmetic|sums] [--split train|validation|test] [--count 1000] [--seed 1] [--cells 2+2,3*1]

Writes reference-task prompts as JSONL: {"id", "prompt", "answer", "cell", "split"}.
--task arithmetic (default): strong's and weak's task, cells like 2+3 or 3*1;
--task sums: the thinking model's, sums of 2-6 operands of 1-3 digits, cells like 4x2.
Splits are disjoint (by a hash of the problem), whatever the seed.`;

export async function runPrompts(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    task: { type: "string", default: "arithmetic" },
    split: { type: "string", default: "train" },
    count: { type: "string" },
    seed: { type: "string" },
    cells: { type: "string" },
  });
  const task = TASKS[flags.task as TaskName];
  if (!task) throw new CliError(`--task must be one of ${Object.keys(TASKS).join(", ")}, got ${flags.task}`);
  const split = flags.split as Split;
  if (!SPLITS.includes(split)) throw new CliError(`--split must be one of ${SPLITS.join(", ")}, got ${split}`);
  const cells = flags.cells ? String(flags.cells).split(",") : task.cells();
  for (const c of cells) if (!task.isCell(c)) throw new CliError(`--cells: "${c}" is not a cell like ${task.cellExample}`);
  const records = task.promptSet(split, intFlag(flags.count, "count", 1000, 1), intFlag(flags.seed, "seed", 1), cells);
  process.stdout.write(records.map((r) => JSON.stringify(r)).join("\n") + "\n");
}
