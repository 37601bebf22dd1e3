/**
 * The reference task of strong and weak: integer arithmetic, `<a><op><b>=` → `<result>`, op in + and *,
 * operands of 1–5 digits. Answers are checkable by a program (like unit tests for code)
 * and difficulty is graded by the operation and the operands' digits: the "cell".
 *
 * Pure: used by the reference LM server (rewards), the prompt generator and the tests.
 */
import { mulberry32 } from "../../core/allocation/select.js";

export const MAX_DIGITS = 5;
export const OPS = ["+", "*"] as const;
export type Op = (typeof OPS)[number];

export interface Problem {
  readonly a: number;
  readonly op: Op;
  readonly b: number;
  /** The prompt the model sees, e.g. "12+345=". */
  readonly prompt: string;
  /** The correct completion, e.g. "357". */
  readonly answer: string;
  /** The difficulty cell, e.g. "2+3": the digits of a, the op, the digits of b. */
  readonly cell: string;
}

export function problem(a: number, op: Op, b: number): Problem {
  const answer = String(op === "+" ? a + b : a * b);
  return { a, op, b, prompt: `${a}${op}${b}=`, answer, cell: `${String(a).length}${op}${String(b).length}` };
}

/** Every cell, e.g. ["1+1", "1+2", …, "5*5"]. */
export function allCells(): string[] {
  const cells: string[] = [];
  for (const op of OPS) for (let da = 1; da <= MAX_DIGITS; da++) for (let db = 1; db <= MAX_DIGITS; db++) cells.push(`${da}${op}${db}`);
  return cells;
}

const CELL = /^([1-5])([+*])([1-5])$/;

export function parseCell(cell: string): { da: number; op: Op; db: number } | null {
  const m = CELL.exec(cell);
  return m ? { da: Number(m[1]), op: m[2] as Op, db: Number(m[3]) } : null;
}

function operand(rand: () => number, digits: number): number {
  const lo = digits === 1 ? 0 : 10 ** (digits - 1);
  return lo + Math.floor(rand() * (10 ** digits - lo));
}

/** A uniformly random problem of one cell. */
export function randomProblem(rand: () => number, cell: string): Problem {
  const c = parseCell(cell);
  if (!c) throw new Error(`unknown cell ${cell}`);
  return problem(operand(rand, c.da), c.op, operand(rand, c.db));
}

const PROBLEM = /^(\d{1,5})([+*])(\d{1,5})=/;

/** Splits "prompt + completion" text into the problem and what follows its "=". */
export function parseScored(text: string): { problem: Problem; completion: string } | null {
  const m = PROBLEM.exec(text);
  if (!m) return null;
  const a = Number(m[1]);
  const b = Number(m[3]);
  // Operands are written without leading zeros, as the generator writes them.
  if (String(a) !== m[1] || String(b) !== m[3]) return null;
  return { problem: problem(a, m[2] as Op, b), completion: text.slice(m[0].length) };
}

/** The thinking model's markers: a completion's answer is what follows its last `</think>`. */
export const THINK_START = "<think>";
export const THINK_END = "</think>";

/**
 * The answer a completion gives: the text after its last `</think>` (all of it when it
 * does not think; nothing when its thinking never closed), up to its first newline,
 * trimmed of spaces.
 *
 * @example answerOf("<think>322+9+48=331+48</think>379") // "379"
 */
export function answerOf(completion: string): string {
  let text = completion;
  const end = text.lastIndexOf(THINK_END);
  if (end >= 0) text = text.slice(end + THINK_END.length);
  else if (text.includes(THINK_START)) return "";
  const nl = text.indexOf("\n");
  return (nl >= 0 ? text.slice(0, nl) : text).trim();
}

/** What a verifier needs of a problem: its answer. */
export interface Answered {
  readonly answer: string;
}

/** Binary reward: 1 if the completion's answer is exactly the right number, else 0. */
export function binaryReward(p: Answered, completion: string): number {
  return answerOf(completion) === p.answer ? 1 : 0;
}

/**
 * Graded reward in [0, 1]: partial credit for the digits that are right, aligned from the
 * units digit (the way the sum is built), over the longer of the two numbers. A wrong
 * length costs the digits it misses; anything that is not a number earns 0.
 *
 * @example gradedReward(problem(12, "+", 34), "47") // 0.5: units wrong, tens right
 */
export function gradedReward(p: Answered, completion: string): number {
  const got = answerOf(completion);
  if (!/^\d+$/.test(got)) return 0;
  const want = p.answer;
  let right = 0;
  for (let k = 1; k <= Math.min(got.length, want.length); k++) if (got[got.length - k] === want[want.length - k]) right++;
  return right / Math.max(got.length, want.length);
}

export const SPLITS = ["train", "validation", "test"] as const;
export type Split = (typeof SPLITS)[number];

/**
 * Which split a problem belongs to, from a hash of its prompt (80/10/10), so the splits
 * are disjoint whatever seed or count generated them.
 */
export function splitOf(prompt: string): Split {
  let h = 2166136261;
  for (let i = 0; i < prompt.length; i++) h = Math.imul(h ^ prompt.charCodeAt(i), 16777619);
  const bucket = (h >>> 0) % 10;
  return bucket < 8 ? "train" : bucket === 8 ? "validation" : "test";
}

export interface PromptRecord {
  readonly id: string;
  readonly prompt: string;
  readonly answer: string;
  readonly cell: string;
  readonly split: Split;
}

/**
 * `count` problems of one split, drawn uniformly over `cells` and then uniformly within
 * the cell (rejecting problems that hash to another split), seeded. Small cells have few
 * distinct problems (1+1 has 100), so problems may repeat across records.
 */
export function promptSet(split: Split, count: number, seed: number, cells: readonly string[] = allCells()): PromptRecord[] {
  const rand = mulberry32(seed);
  const out: PromptRecord[] = [];
  for (let i = 0; i < count; i++) {
    const cell = cells[Math.floor(rand() * cells.length)];
    let p = randomProblem(rand, cell);
    for (let tries = 0; splitOf(p.prompt) !== split; tries++) {
      if (tries > 10_000) throw new Error(`cell ${cell} has no problems in split ${split}`);
      p = randomProblem(rand, cell);
    }
    out.push({ id: `${split}-${seed}-${i}`, prompt: p.prompt, answer: p.answer, cell: p.cell, split });
  }
  return out;
}
