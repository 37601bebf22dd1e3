import { open, readFile, stat, truncate } from "node:fs/promises";
import type { ZodType } from "zod";

/** Parses a JSONL file line by line with `schema`, naming the line of the first bad one. */
export async function readJsonl<T>(path: string, schema: ZodType<T>): Promise<T[]> {
  const text = await readFile(path, "utf8");
  const out: T[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
    const r = schema.safeParse(json);
    if (!r.success) throw new Error(`${path}:${i + 1}: ${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message}`);
    out.push(r.data);
  });
  return out;
}

/**
 * Reads the complete records of an append-only JSONL file, after cutting off a last line
 * that a crash left half-written (everything after the last newline that does not parse).
 */
export async function recoverJsonl<T>(path: string, schema: ZodType<T>): Promise<T[]> {
  try {
    await stat(path);
  } catch {
    return [];
  }
  const text = await readFile(path, "utf8");
  const cut = text.lastIndexOf("\n") + 1;
  if (cut < text.length) await truncate(path, Buffer.byteLength(text.slice(0, cut)));
  const out: T[] = [];
  for (const [i, line] of text.slice(0, cut).split("\n").entries()) {
    if (line === "") continue;
    const r = schema.safeParse(JSON.parse(line));
    if (!r.success) throw new Error(`${path}:${i + 1}: not a record of this dataset`);
    out.push(r.data);
  }
  return out;
}

/** Appends lines with one write, flushed to disk before it resolves. */
export async function appendLines(path: string, lines: readonly string[]): Promise<void> {
  const f = await open(path, "a");
  try {
    await f.write(lines.map((l) => l + "\n").join(""));
    await f.sync();
  } finally {
    await f.close();
  }
}
