import type { SuccessTable } from "./manifest.js";
import type { ReferenceLM } from "./model.js";
import { allCells, binaryReward, parseScored, promptSet } from "./task.js";

export interface MeasureOptions {
  readonly samplesPerCell: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
  readonly cells?: readonly string[];
}

/**
 * Single-sample success rate per difficulty cell on test-split problems: one sample each
 * of `samplesPerCell` problems drawn from the cell, checked by the binary verifier.
 */
export async function measureSuccess(lm: ReferenceLM, o: MeasureOptions): Promise<SuccessTable> {
  const cells: Record<string, number> = {};
  for (const cell of o.cells ?? allCells()) {
    const records = promptSet("test", o.samplesPerCell, o.seed, [cell]);
    const ids = records.map((r) => (lm.tokenizer.encode(r.prompt) as { ids: number[] }).ids);
    const maxTokens = lm.manifest.context_length - Math.max(...ids.map((p) => p.length));
    const samples = await lm.generate(ids, { n: 1, temperature: o.temperature, topP: o.topP, maxTokens, stop: [], seed: o.seed });
    let passed = 0;
    // The same verifier the server's verifier-binary reward model runs.
    records.forEach((r, i) => (passed += binaryReward(parseScored(r.prompt)!.problem, samples[i][0].text)));
    cells[cell] = passed / records.length;
  }
  return {
    temperature: o.temperature,
    top_p: o.topP,
    samples_per_cell: o.samplesPerCell,
    seed: o.seed,
    split: "test",
    measured_at: new Date().toISOString().slice(0, 10),
    cells,
  };
}

/** The table as markdown: one row per (op, digits of a), one column per digits of b. */
export function successMarkdown(table: SuccessTable): string {
  const lines = ["| a \\ b digits | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|"];
  for (const op of ["+", "*"]) {
    for (let da = 1; da <= 5; da++) {
      const row = [1, 2, 3, 4, 5].map((db) => {
        const v = table.cells[`${da}${op}${db}`];
        return v === undefined ? "" : `${(100 * v).toFixed(0)}%`;
      });
      if (row.some((x) => x)) lines.push(`| ${da} ${op} | ${row.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

