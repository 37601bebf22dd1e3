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

/**
 * The gateway's settings for a reference LM server at `url`: it serves every role (it
 * generates, pools hidden states and serves its verifiers, which no one vLLM instance
 * does), so each role's URL is set to it explicitly; the gateway has no such defaults.
 */
export const referenceLmVars = (url: string): Record<string, string> => ({ HIDDEN_STATES_URL: url, REWARD_URL: url, REWARD_MODEL: "verifier-binary" });
