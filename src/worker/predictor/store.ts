/**
 * Published predictors in the PREDICTORS R2 bucket, one folder each:
 * `predictors/<name>/model.onnx`, `parity.json`, and `manifest.json`, written last, so a
 * predictor exists exactly when its manifest does. The list is cached per isolate for
 * PREDICTOR_CACHE_SECONDS (default 30): a new or updated predictor is used within that
 * time, without a redeploy, and a busy gateway does not list the bucket per request.
 */
import { Unavailable } from "../../core/errors.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { type PredictorManifest, PredictorManifestSchema } from "../../core/predictor/manifest.js";
import type { Predictor } from "./registry.js";

const PREFIX = "predictors/";
const key = (name: string, file: "manifest.json" | "model.onnx" | "parity.json") => `${PREFIX}${name}/${file}`;

/** A predictor's name: what `model` or `predictor` names in requests, and its folder in R2. */
export const PREDICTOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

let cache: { at: number; bucket: R2Bucket; list: Promise<Predictor[]> } | null = null;

async function readAll(bucket: R2Bucket): Promise<Predictor[]> {
  const manifests: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: PREFIX, cursor });
    manifests.push(...page.objects.map((o) => o.key).filter((k) => k.endsWith("/manifest.json")));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  const out: Predictor[] = [];
  for (const k of manifests.sort()) {
    const obj = await bucket.get(k);
    if (!obj) continue; // deleted between list and get
    const parsed = PredictorManifestSchema.safeParse(await obj.json());
    // Validated on upload; one that no longer parses (an older schema) is skipped, not fatal.
    if (!parsed.success) {
      console.error(`${k}: not a valid manifest, skipped`);
      continue;
    }
    const manifest = parsed.data;
    out.push({
      manifest,
      source: "published",
      model: async () => {
        const onnx = await bucket.get(key(manifest.name, "model.onnx"));
        // Deleted since it was listed: the next listing will not offer it.
        if (!onnx) throw new Unavailable({ message: `predictor ${manifest.name}: its model.onnx is missing from the bucket` });
        return new Uint8Array(await onnx.arrayBuffer());
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

/** Writes a validated predictor; the manifest goes last, so readers never see half of one. */
export async function putPredictor(bucket: R2Bucket, manifest: PredictorManifest, onnx: Uint8Array, parity: unknown): Promise<void> {
  await bucket.put(key(manifest.name, "model.onnx"), onnx);
  await bucket.put(key(manifest.name, "parity.json"), JSON.stringify(parity));
  await bucket.put(key(manifest.name, "manifest.json"), JSON.stringify(manifest));
  cache = null;
}

/** Removes a published predictor (the manifest first); false if there was none. */
export async function deletePredictor(bucket: R2Bucket, name: string): Promise<boolean> {
  if (!(await bucket.head(key(name, "manifest.json")))) return false;
  await bucket.delete(key(name, "manifest.json"));
  await bucket.delete([key(name, "model.onnx"), key(name, "parity.json")]);
  cache = null;
  return true;
}
