/**
 * The thinking model's task: sums of 2 to 6 operands of 1 to 3 digits, `17+305+9+48=`,
 * answered after a scratchpad that rewrites the sum line by line, adding its first two
 * terms each time until two are left: `<think>322+9+48=331+48</think>379`. A 2-operand
 * sum needs no thinking; a 6-operand sum of 3-digit numbers needs 59 thinking tokens.
 * Difficulty is graded by the cell `<n>x<d>`: n operands of exactly d digits.
 *
 * Pure: used by the reference LM server (rewards), the prompt generator, measure-lm and
 * the tests. Splits are the arithmetic task's (a hash of the prompt), so they are
 * disjoint whatever the seed.
 */
import { mulberry32 } from "../../core/allocation/select.js";
import { type PromptRecord, type Split, splitOf } from "./task.js";

export const MIN_OPERANDS = 2;
export const MAX_OPERANDS = 6;
export const MAX_SUM_DIGITS = 3;

export interface SumProblem {
  readonly operands: readonly number[];
  /** The prompt the model sees, e.g. "17+305+9+48=". */
  readonly prompt: string;
  /** The correct answer, e.g. "379". */
  readonly answer: string;
  /** The full scratchpad, e.g. "322+9+48=331+48" (empty for two operands). */
  readonly scratchpad: string;
  /** The cell: operands × the most digits of any operand, e.g. "4x3". */
  readonly cell: string;
}

/**
 * The problem of these operands, with its scratchpad.
 *
 * @example sumProblem([17, 305, 9, 48]).scratchpad // "322+9+48=331+48"
 */
export function sumProblem(operands: readonly number[]): SumProblem {
  const lines: string[] = [];
  let cur = [...operands];
  while (cur.length > 2) {
    cur = [cur[0] + cur[1], ...cur.slice(2)];
    lines.push(cur.join("+"));
  }
  const digits = Math.max(...operands.map((x) => String(x).length));
  return {
    operands,
    prompt: `${operands.join("+")}=`,
    answer: String(operands.reduce((a, b) => a + b, 0)),
    scratchpad: lines.join("="),
    cell: `${operands.length}x${digits}`,
  };
}

/** Every cell: "2x1", "2x2", …, "6x3". */
export function sumCells(): string[] {
  const cells: string[] = [];
  for (let n = MIN_OPERANDS; n <= MAX_OPERANDS; n++) for (let d = 1; d <= MAX_SUM_DIGITS; d++) cells.push(`${n}x${d}`);
  return cells;
}

const CELL = /^([2-6])x([1-3])$/;

export function parseSumCell(cell: string): { n: number; d: number } | null {
  const m = CELL.exec(cell);
  return m ? { n: Number(m[1]), d: Number(m[2]) } : null;
}

function operand(rand: () => number, digits: number): number {
  const lo = digits === 1 ? 0 : 10 ** (digits - 1);
  return lo + Math.floor(rand() * (10 ** digits - lo));
}

/** A uniformly random problem of one cell: n operands of exactly d digits. */
export function randomSumProblem(rand: () => number, cell: string): SumProblem {
  const c = parseSumCell(cell);
  if (!c) throw new Error(`unknown cell ${cell}`);
  return sumProblem(Array.from({ length: c.n }, () => operand(rand, c.d)));
}

const PROMPT = /^(\d{1,3}(?:\+\d{1,3}){1,5})=/;

/** Splits "prompt + completion" text into the problem and what follows its "=". */
export function parseScoredSum(text: string): { problem: SumProblem; completion: string } | null {
  const m = PROMPT.exec(text);
  if (!m) return null;
  const parts = m[1].split("+");
  const operands = parts.map(Number);
  // Operands are written without leading zeros, as the generator writes them.
  if (operands.some((x, i) => String(x) !== parts[i])) return null;
  return { problem: sumProblem(operands), completion: text.slice(m[0].length) };
}

/**
 * `count` problems of one split, uniform over `cells` and then within the cell (rejecting
 * problems that hash to another split), seeded; the records of `allot prompts --task sums`.
 */
export function sumPromptSet(split: Split, count: number, seed: number, cells: readonly string[] = sumCells()): PromptRecord[] {
  const rand = mulberry32(seed);
  const out: PromptRecord[] = [];
  for (let i = 0; i < count; i++) {
    const cell = cells[Math.floor(rand() * cells.length)];
    let p = randomSumProblem(rand, cell);
    for (let tries = 0; splitOf(p.prompt) !== split; tries++) {
      if (tries > 10_000) throw new Error(`cell ${cell} has no problems in split ${split}`);
      p = randomSumProblem(rand, cell);
    }
    out.push({ id: `${split}-${seed}-${i}`, prompt: p.prompt, answer: p.answer, cell: p.cell, split });
  }
  return out;
}
