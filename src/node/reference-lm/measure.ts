import type { SuccessTable } from "./manifest.js";
import type { ReferenceLM } from "./model.js";
import { binaryReward } from "./task.js";
import { taskOf } from "./tasks.js";

export interface MeasureOptions {
  readonly samplesPerCell: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
  readonly cells?: readonly string[];
  /**
   * A thinking model's budgets to measure besides unlimited thinking (null: unlimited);
   * default none. Each budget's table is measured on the same problems.
   */
  readonly budgets?: readonly number[];
}

/**
 * Single-sample success rate per difficulty cell of the model's task on test-split
 * problems: one sample each of `samplesPerCell` problems drawn from the cell, checked by
 * the binary verifier (the answer after the thinking, for a thinking model). A thinking
 * model is measured with unlimited thinking (`cells`, and the mean thinking tokens it spends
 * in `thinking_tokens`) and at each of `budgets` (`thinking_budgets`), its end forced as the
 * server forces it.
 */
export async function measureSuccess(lm: ReferenceLM, o: MeasureOptions): Promise<SuccessTable> {
  const task = taskOf(lm.manifest);
  const thinks = lm.manifest.thinking !== undefined;
  const cells: Record<string, number> = {};
  const byBudget: Record<string, Record<string, number>> = {};
  const thought: Record<string, number> = {};
  for (const cell of o.cells ?? task.cells()) {
    const records = task.promptSet("test", o.samplesPerCell, o.seed, [cell]);
    const ids = records.map((r) => (lm.tokenizer.encode(r.prompt) as { ids: number[] }).ids);
    const maxTokens = lm.manifest.context_length - Math.max(...ids.map((p) => p.length));
    for (const budget of [undefined, ...(thinks ? (o.budgets ?? []) : [])]) {
      const samples = await lm.generate(ids, { n: 1, temperature: o.temperature, topP: o.topP, maxTokens, stop: [], seed: o.seed, thinkingBudget: budget });
      let passed = 0;
      // The same verifier the server's verifier-binary reward model runs.
      records.forEach((r, i) => (passed += binaryReward(r, samples[i][0].text)));
      if (budget === undefined) {
        cells[cell] = passed / records.length;
        if (thinks) thought[cell] = samples.reduce((s, [x]) => s + x.thinkingTokens, 0) / records.length;
      } else (byBudget[String(budget)] ??= {})[cell] = passed / records.length;
    }
  }
  return {
    temperature: o.temperature,
    top_p: o.topP,
    samples_per_cell: o.samplesPerCell,
    seed: o.seed,
    split: "test",
    measured_at: new Date().toISOString().slice(0, 10),
    cells,
    ...(thinks ? { thinking_budgets: byBudget, thinking_tokens: thought } : {}),
  };
}

const percent = (v: number | undefined) => (v === undefined ? "" : `${(100 * v).toFixed(0)}%`);

/**
 * The table as markdown. Arithmetic: one row per (op, digits of a), one column per digits
 * of b. A thinking model: one row per cell, one column per thinking budget (and unlimited),
 * with the thinking it spends unlimited, and the mean over cells.
 */
export function successMarkdown(table: SuccessTable): string {
  if (table.thinking_budgets) {
    const budgets = Object.keys(table.thinking_budgets).sort((a, b) => Number(a) - Number(b));
    const lines = [
      `| cell | thinking used | ${budgets.map((b) => `N=${b}`).join(" | ")} | unlimited |`,
      `|---|---|${budgets.map(() => "---|").join("")}---|`,
    ];
    const cells = Object.keys(table.cells);
    for (const cell of cells) {
      lines.push(`| ${cell} | ${table.thinking_tokens?.[cell]?.toFixed(1) ?? ""} | ${budgets.map((b) => percent(table.thinking_budgets![b][cell])).join(" | ")} | ${percent(table.cells[cell])} |`);
    }
    const mean = (row: Record<string, number>) => cells.reduce((s, c) => s + (row[c] ?? 0), 0) / cells.length;
    lines.push(`| **mean** | | ${budgets.map((b) => `**${percent(mean(table.thinking_budgets![b]))}**`).join(" | ")} | **${percent(mean(table.cells))}** |`);
    return lines.join("\n");
  }
  const lines = ["| a \\ b digits | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|"];
  for (const op of ["+", "*"]) {
    for (let da = 1; da <= 5; da++) {
      const row = [1, 2, 3, 4, 5].map((db) => percent(table.cells[`${da}${op}${db}`]));
      if (row.some((x) => x)) lines.push(`| ${da} ${op} | ${row.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}
