import { parseArgs } from "node:util";
import { CliError } from "./io.js";

type Options = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

/** node:util parseArgs with unknown flags and stray arguments reported as usage errors. */
export function parseFlags<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export function intFlag(value: string | boolean | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isInteger(n) || n < min) throw new CliError(`--${name} must be an integer ≥ ${min}, got ${String(value)}`);
  return n;
}

export function numberFlag(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isFinite(n)) throw new CliError(`--${name} must be a number, got ${String(value)}`);
  return n;
}
