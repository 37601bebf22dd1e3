import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ReferenceLM } from "./model.js";

/** The committed reference models, beside the package (so `npx allot` works from any folder). */
export const DEFAULT_MODELS_DIR = fileURLToPath(new URL("../../../models", import.meta.url));

/** Names of the models whose manifests are in `dir`. */
export async function modelNames(dir: string): Promise<string[]> {
  const files = await readdir(dir);
  return files
    .filter((f) => f.endsWith(".manifest.json"))
    .map((f) => f.slice(0, -".manifest.json".length))
    .sort();
}

export async function loadModels(dir: string, names?: readonly string[]): Promise<ReferenceLM[]> {
  const wanted = names ?? (await modelNames(dir));
  if (wanted.length === 0) throw new Error(`no reference models (*.manifest.json) in ${dir}`);
  return Promise.all(wanted.map((n) => ReferenceLM.load(dir, n)));
}
