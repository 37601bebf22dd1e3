/**
 * The predictors the Worker ships (imported as Data modules), and which serves which LM:
 * the manifest says whose hidden states a predictor reads. Each is loaded into
 * onnxruntime-web once per isolate, on first use, and reused.
 */
import strongBinaryManifest from "../../models/predictors/strong-binary.manifest.json";
import strongBinary from "../../models/predictors/strong-binary.onnx";
import strongGradedManifest from "../../models/predictors/strong-graded.manifest.json";
import strongGraded from "../../models/predictors/strong-graded.onnx";
import weakBinaryManifest from "../../models/predictors/weak-binary.manifest.json";
import weakBinary from "../../models/predictors/weak-binary.onnx";
import routeManifest from "../../models/predictors/route.manifest.json";
import route from "../../models/predictors/route.onnx";
import { type PredictorManifest, PredictorManifestSchema } from "./manifest.js";
import { EdgePredictor } from "./runtime-web.js";

export interface Shipped {
  readonly manifest: PredictorManifest;
  readonly model: ArrayBuffer;
}

/** Binary (verifier) predictors first: for a model with several, the default is binary. */
export const SHIPPED: readonly Shipped[] = [
  { manifest: PredictorManifestSchema.parse(strongBinaryManifest), model: strongBinary },
  { manifest: PredictorManifestSchema.parse(weakBinaryManifest), model: weakBinary },
  { manifest: PredictorManifestSchema.parse(strongGradedManifest), model: strongGraded },
  // The router: a request (or batch) naming it as its model is routed between weak and strong.
  { manifest: PredictorManifestSchema.parse(routeManifest), model: route },
];

const loaded = new Map<string, Promise<EdgePredictor>>();

/** The predictor `name`, or the default one for an LM model; null if there is none. */
export function findPredictor(opts: { name?: string; lmModel?: string }): Shipped | null {
  if (opts.name) return SHIPPED.find((s) => s.manifest.name === opts.name) ?? null;
  // A router reads an LM's hidden states too, but predicts for other models: never a default.
  return SHIPPED.find((s) => !s.manifest.route && s.manifest.lm.model === opts.lmModel) ?? null;
}

/** The router named `name` (a request's `model` when it asks allot to route); null if none. */
export function findRouter(name: string): Shipped | null {
  return SHIPPED.find((s) => s.manifest.route && s.manifest.name === name) ?? null;
}

export function loadPredictor(s: Shipped): Promise<EdgePredictor> {
  let p = loaded.get(s.manifest.name);
  if (!p) {
    p = EdgePredictor.create(s.model, s.manifest);
    // A failed load is not cached, so the next request tries again.
    p.catch(() => loaded.delete(s.manifest.name));
    loaded.set(s.manifest.name, p);
  }
  return p;
}
