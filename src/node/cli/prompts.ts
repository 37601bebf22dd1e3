import { SPLITS, type Split, allCells, parseCell, promptSet } from "../reference-lm/task.js";
import { intFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot prompts [--split train|validation|test] [--count 1000] [--seed 1] [--cells 2+2,3*1]

Writes reference-task prompts as JSONL: {"id", "prompt", "answer", "cell", "split"}.
Splits are disjoint (by a hash of the problem), whatever the seed.`;

export async function runPrompts(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    split: { type: "string", default: "train" },
    count: { type: "string" },
    seed: { type: "string" },
    cells: { type: "string" },
  });
  const split = flags.split as Split;
  if (!SPLITS.includes(split)) throw new CliError(`--split must be one of ${SPLITS.join(", ")}, got ${split}`);
  const cells = flags.cells ? String(flags.cells).split(",") : allCells();
  for (const c of cells) if (!parseCell(c)) throw new CliError(`--cells: "${c}" is not a cell like 2+3 or 3*1 (digits 1-5)`);
  const records = promptSet(split, intFlag(flags.count, "count", 1000, 1), intFlag(flags.seed, "seed", 1), cells);
  process.stdout.write(records.map((r) => JSON.stringify(r)).join("\n") + "\n");
}
