/**
 * Published predictors in the PREDICTORS R2 bucket. Every version is immutable and
 * addressed by its hash: `predictors/<name>/v/<sha256>/model.onnx` and `parity.json`;
 * `predictors/<name>/manifest.json` is the pointer to the current one (the manifest names
 * its sha256), written last. So publishing writes the bytes first and switches the pointer
 * last, a reader that chose a manifest reads exactly the bytes it describes (and checks
 * their hash before a session is built), and a request in flight during a swap is served
 * by one version or the other, never a mix. The version before the current one is kept
 * (requests that read the old pointer may still load it); older ones are deleted on publish.
 * The list is cached per isolate for PREDICTOR_CACHE_SECONDS: a new or updated predictor is
 * used within that time, without a redeploy, and a busy gateway does not list the bucket
 * per request.
 */
import { Unavailable } from "../../core/errors.js";
import { printable } from "../../core/log.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { type PredictorManifest, PredictorManifestSchema } from "../../core/predictor/manifest.js";
import type { Predictor } from "./registry.js";

const PREFIX = "predictors/";
const pointer = (name: string) => `${PREFIX}${name}/manifest.json`;
const version = (name: string, sha: string, file: "model.onnx" | "parity.json") => `${PREFIX}${name}/v/${sha}/${file}`;

/** The bytes' sha256, hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A predictor's name: what `model` or `predictor` names in requests, and its folder in R2. */
export const PREDICTOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

let cache: { at: number; bucket: R2Bucket; list: Promise<Predictor[]> } | null = null;

async function readAll(bucket: R2Bucket): Promise<Predictor[]> {
  const manifests: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: PREFIX, cursor });
    manifests.push(...page.objects.map((o) => o.key).filter((k) => /^predictors\/[^/]+\/manifest\.json$/.test(k)));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  const out: Predictor[] = [];
  for (const k of manifests.sort()) {
    const obj = await bucket.get(k);
    if (!obj) continue; // deleted between list and get
    const parsed = PredictorManifestSchema.safeParse(await obj.json());
    // Validated on upload; one that no longer parses (an older schema) is skipped, not fatal.
    if (!parsed.success) {
      console.error(`${printable(k)}: not a valid manifest, skipped`);
      continue;
    }
    const manifest = parsed.data;
    out.push({
      manifest,
      source: "published",
      // The version this manifest describes, and only it: its bytes are checked against the hash before use.
      model: async () => {
        const onnx = await bucket.get(version(manifest.name, manifest.sha256, "model.onnx"));
        // Replaced twice since it was listed: the next listing offers the current one.
        if (!onnx) throw new Unavailable({ message: `predictor ${manifest.name}: version ${manifest.sha256.slice(0, 12)} is no longer in the bucket` });
        const bytes = new Uint8Array(await onnx.arrayBuffer());
        const sha = await sha256Hex(bytes);
        if (sha !== manifest.sha256) throw new Unavailable({ message: `predictor ${manifest.name}: the bucket's bytes hash to ${sha}, not the manifest's ${manifest.sha256}`, retryable: false });
        return bytes;
      },
    });
  }
  return out;
}

/** The published predictors (none when no bucket is bound). */
export function publishedPredictors(env: Env): Promise<Predictor[]> {
  const bucket = env.PREDICTORS;
  if (!bucket) return Promise.resolve([]);
  const now = Date.now();
  if (!cache || cache.bucket !== bucket || now - cache.at >= settings(env).PREDICTOR_CACHE_SECONDS * 1000) {
    const list = readAll(bucket);
    cache = { at: now, bucket, list };
    list.catch(() => (cache = null));
  }
  return cache.list;
}

/** The sha256 of the version a name's pointer names now, or null. */
async function current(bucket: R2Bucket, name: string): Promise<string | null> {
  const obj = await bucket.get(pointer(name));
  if (!obj) return null;
  const parsed = PredictorManifestSchema.safeParse(await obj.json());
  return parsed.success ? parsed.data.sha256 : null;
}

/** Every version folder of a name, but `keep`. */
async function versionsBut(bucket: R2Bucket, name: string, keep: readonly (string | null)[]): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: `${PREFIX}${name}/v/`, cursor });
    keys.push(...page.objects.map((o) => o.key).filter((k) => !keep.some((sha) => sha !== null && k.startsWith(`${PREFIX}${name}/v/${sha}/`))));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/**
 * Publishes a validated predictor: its version's bytes first, then the pointer, so a
 * reader never sees a manifest without its bytes. The previous version stays (readers of
 * the old pointer); older ones go.
 */
export async function putPredictor(bucket: R2Bucket, manifest: PredictorManifest, onnx: Uint8Array, parity: unknown): Promise<void> {
  const previous = await current(bucket, manifest.name);
  await bucket.put(version(manifest.name, manifest.sha256, "model.onnx"), onnx);
  await bucket.put(version(manifest.name, manifest.sha256, "parity.json"), JSON.stringify(parity));
  await bucket.put(pointer(manifest.name), JSON.stringify(manifest));
  const stale = await versionsBut(bucket, manifest.name, [manifest.sha256, previous]);
  if (stale.length > 0) await bucket.delete(stale);
  cache = null;
}

/** Removes a published predictor (the pointer first, then every version); false if there was none. */
export async function deletePredictor(bucket: R2Bucket, name: string): Promise<boolean> {
  if (!(await bucket.head(pointer(name)))) return false;
  await bucket.delete(pointer(name));
  const all = await versionsBut(bucket, name, []);
  if (all.length > 0) await bucket.delete(all);
  cache = null;
  return true;
}
