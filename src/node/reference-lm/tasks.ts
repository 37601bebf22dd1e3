/**
 * The reference tasks as data: strong and weak do arithmetic (task.ts), the thinking model
 * multi-operand sums (sums.ts). Each says its cells and writes seeded prompt sets; a
 * model's task follows from its manifest, and the verifiers score either.
 */
import type { LmManifest } from "./manifest.js";
import { parseScoredSum, parseSumCell, sumCells, sumPromptSet } from "./sums.js";
import { type Answered, type PromptRecord, type Split, allCells, parseCell, parseScored, promptSet } from "./task.js";

export interface ReferenceTask {
  readonly name: TaskName;
  /** What a cell looks like, for error messages. */
  readonly cellExample: string;
  readonly cells: () => string[];
  readonly isCell: (cell: string) => boolean;
  readonly promptSet: (split: Split, count: number, seed: number, cells?: readonly string[]) => PromptRecord[];
}

export const TASKS = {
  arithmetic: { name: "arithmetic", cellExample: "2+3 or 3*1 (digits 1-5)", cells: allCells, isCell: (c: string) => parseCell(c) !== null, promptSet },
  sums: { name: "sums", cellExample: "4x2 (operands 2-6, digits 1-3)", cells: sumCells, isCell: (c: string) => parseSumCell(c) !== null, promptSet: sumPromptSet },
} as const satisfies Record<string, Omit<ReferenceTask, "name"> & { name: string }>;
export type TaskName = keyof typeof TASKS;

/** The task a reference LM was trained on: sums for a thinking model, else arithmetic. */
export const taskOf = (m: Pick<LmManifest, "thinking">): ReferenceTask => (m.thinking ? TASKS.sums : TASKS.arithmetic);

/**
 * "prompt + completion" of either task split into what the verifiers need: the problem's
 * answer and the completion.
 *
 * @example scoredOf("1+2+3=<think>3+3</think>6")?.problem.answer // "6"
 */
export function scoredOf(text: string): { problem: Answered; completion: string } | null {
  return parseScored(text) ?? parseScoredSum(text);
}
