/** `.dev.vars`, where `wrangler dev` reads the Worker's local secrets, as `NAME=value` lines. */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** The value of `name` in `dir`/.dev.vars, or undefined. */
export function devVar(dir: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.+)$`, "m").exec(read(join(dir, ".dev.vars")))?.[1]?.trim();
}

/** The value of `name`, written as a fresh random secret first if it is missing. */
export function ensureDevSecret(dir: string, name: string): string {
  const existing = devVar(dir, name);
  if (existing) return existing;
  const path = join(dir, ".dev.vars");
  const value = randomBytes(24).toString("hex");
  const before = read(path);
  writeFileSync(path, `${before}${before === "" || before.endsWith("\n") ? "" : "\n"}${name}=${value}\n`);
  return value;
}
