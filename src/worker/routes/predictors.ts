import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireAdmin } from "../auth/middleware.js";
import type { AppEnv, Env } from "../env.js";
import { Invalid, Misconfigured, NotFound } from "../../core/errors.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { validationHook } from "../http/validation.js";
import { PredictorManifestSchema } from "../../core/predictor/manifest.js";
import { hiddenStates } from "../predictor/predict.js";
import { catalog } from "../predictor/registry.js";
import { EdgePredictor } from "../predictor/runtime-web.js";
import { PREDICTOR_NAME, deletePredictor, putPredictor, sha256Hex } from "../predictor/store.js";

/** What a published predictor's outputs may differ from its fixtures by: float32 inference against the trainer's float64. */
const PARITY_TOLERANCE = 1e-4;

const Name = z.object({ name: z.string().regex(PREDICTOR_NAME, "a predictor name is 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit") });

const Upload = z
  .strictObject({
    manifest: PredictorManifestSchema.describe("NAME.manifest.json as `allot train` or `allot train-route` wrote it"),
    onnx: z.string().min(1).describe("NAME.onnx, base64"),
    parity: z
      .array(z.object({ hidden: z.array(z.number()), expected: z.array(z.number()) }))
      .min(1)
      .describe("NAME.parity.json: inputs and the outputs the trainer computed for them"),
  })
  .openapi("PredictorUpload");

const Summary = z
  .object({
    name: z.string(),
    source: z.enum(["shipped", "published"]),
    kind: z.enum(["bernoulli", "curve"]),
    lm_model: z.string(),
    input_size: z.int(),
    reward_model: z.string(),
    route: z.array(z.object({ model: z.string(), cost: z.int() })).nullable(),
    sha256: z.string(),
    metrics: z.record(z.string(), z.number()),
  })
  .openapi("PredictorSummary");

const summary = (p: Awaited<ReturnType<typeof catalog>>[number]) => ({
  name: p.manifest.name,
  source: p.source,
  kind: p.manifest.kind,
  lm_model: p.manifest.lm.model,
  input_size: p.manifest.input_size,
  reward_model: p.manifest.reward_model,
  route: p.manifest.route?.options ?? null,
  sha256: p.manifest.sha256,
  metrics: p.manifest.metrics,
});

function base64Bytes(text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    throw new Invalid({ message: "onnx is not base64", param: "onnx" });
  }
}


/**
 * Checks an upload the way the gateway will use it: the ONNX is the manifest's (sha256),
 * onnxruntime-web opens it, it takes the manifest's input size and gives its output
 * width, and it reproduces the trainer's outputs on the parity fixtures.
 */
async function validated(env: Env, name: string, upload: z.infer<typeof Upload>): Promise<Uint8Array> {
  const { manifest, parity } = upload;
  const bad = (message: string, param: string) => new Invalid({ message, param });
  if (manifest.name !== name) throw bad(`the manifest names "${manifest.name}", the URL "${name}"`, "manifest.name");
  const size = JSON.stringify(manifest).length;
  if (size > MAX_MANIFEST_BYTES) throw bad(`the manifest is ${size} bytes of JSON; at most ${MAX_MANIFEST_BYTES} are taken`, "manifest");
  if (manifest.lm.hidden_size !== manifest.input_size) throw bad(`input_size ${manifest.input_size} is not the LM's hidden_size ${manifest.lm.hidden_size}`, "manifest.input_size");
  const served = await servedWidth(env, manifest.lm.model);
  if (served && served.width !== manifest.input_size) {
    throw bad(`${manifest.lm.model}'s hidden states are ${served.width} wide (${served.from}); this predictor takes ${manifest.input_size}: it would fail every request for ${manifest.lm.model}`, "manifest.input_size");
  }
  const onnx = base64Bytes(upload.onnx);
  const sha = await sha256Hex(onnx);
  if (sha !== manifest.sha256) throw bad(`the ONNX's sha256 is ${sha}, the manifest says ${manifest.sha256}: not the model this manifest describes`, "onnx");
  let predictor: EdgePredictor;
  try {
    predictor = await EdgePredictor.create(onnx, manifest);
  } catch (e) {
    throw bad(`onnxruntime-web cannot open the ONNX: ${(e as Error).message}`, "onnx");
  }
  parity.forEach((f, i) => {
    if (f.hidden.length !== manifest.input_size) throw bad(`fixture ${i} has ${f.hidden.length} inputs; the manifest says ${manifest.input_size}`, `parity[${i}].hidden`);
  });
  let out: Float32Array[];
  try {
    out = await predictor.predict(parity.map((f) => f.hidden));
  } catch (e) {
    throw bad(`the ONNX does not run on ${manifest.input_size} inputs with the manifest's outputs: ${(e as Error).message}`, "onnx");
  }
  parity.forEach((f, i) => {
    if (f.expected.length !== out[i].length) throw bad(`fixture ${i} expects ${f.expected.length} outputs; the model gives ${out[i].length}`, `parity[${i}].expected`);
    f.expected.forEach((want, j) => {
      const diff = Math.abs(out[i][j] - want);
      if (!(diff <= PARITY_TOLERANCE)) throw bad(`fixture ${i}, output ${j}: the model gives ${out[i][j]}, the trainer ${want} (off by ${diff}, more than ${PARITY_TOLERANCE})`, `parity[${i}].expected`);
    });
  });
  return onnx;
}

/** A manifest's JSON at most: it is read on every listing, and its free-form fields (training, metrics) must stay small. */
const MAX_MANIFEST_BYTES = 64 * 1024;

/**
 * How wide `model`'s hidden states are: what its hidden-state server returns for a short
 * prompt (the truth), else what the predictors already serving it take (the one being
 * replaced among them); null when neither can say.
 */
async function servedWidth(env: Env, model: string): Promise<{ width: number; from: string } | null> {
  try {
    const [h] = await hiddenStates(env, model, ["1"]);
    return { width: h.length, from: "what its hidden-state server returns" };
  } catch {
    const sibling = (await catalog(env)).find((p) => p.manifest.lm.model === model);
    return sibling ? { width: sibling.manifest.input_size, from: `what predictor ${sibling.manifest.name} takes` } : null;
  }
}

function bucket(env: Env): R2Bucket {
  if (!env.PREDICTORS) throw new Misconfigured({ setting: "PREDICTORS", message: "publishing predictors needs an R2 bucket bound as PREDICTORS (wrangler.toml [[r2_buckets]])" });
  return env.PREDICTORS;
}

const security = [{ adminToken: [] }];
export const predictors = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
predictors.use("/admin/predictors/*", requireAdmin);
predictors.use("/admin/predictors", requireAdmin);

predictors.openapi(
  createRoute({
    method: "put",
    path: "/admin/predictors/{name}",
    summary: "Publish a predictor or router (what allot train / train-route wrote), validated before it is stored",
    description:
      "The ONNX must be the manifest's (sha256), open in onnxruntime-web, take the manifest's input size and reproduce " +
      `its parity fixtures to ${PARITY_TOLERANCE}; otherwise 400 naming what failed. Requests use it within ` +
      "PREDICTOR_CACHE_SECONDS, without a redeploy; a published predictor replaces a shipped one of the same name.",
    tags: ["admin"],
    security,
    request: { params: Name, body: { required: true, content: { "application/json": { schema: Upload } } } },
    responses: {
      201: jsonResponse(Summary, "Published."),
      400: errorDoc("Malformed, or the model does not pass validation."),
      401: errorDoc("Missing or wrong admin token."),
      503: errorDoc("No PREDICTORS bucket is bound."),
    },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const r2 = bucket(c.env);
    const upload = c.req.valid("json");
    const onnx = await validated(c.env, name, upload);
    await putPredictor(r2, upload.manifest, onnx, upload.parity);
    return c.json(summary({ manifest: upload.manifest, source: "published", model: async () => onnx }), 201);
  },
);

predictors.openapi(
  createRoute({
    method: "get",
    path: "/admin/predictors",
    summary: "Every predictor and router the gateway can use: published ones, and the shipped ones they do not replace",
    tags: ["admin"],
    security,
    responses: { 200: jsonResponse(z.object({ data: z.array(Summary) }), "The predictors."), 401: errorDoc("Missing or wrong admin token.") },
  }),
  async (c) => c.json({ data: (await catalog(c.env)).map(summary) }, 200),
);

predictors.openapi(
  createRoute({
    method: "delete",
    path: "/admin/predictors/{name}",
    summary: "Remove a published predictor (a shipped one of the same name is used again)",
    tags: ["admin"],
    security,
    request: { params: Name },
    responses: { 204: { description: "Removed." }, 401: errorDoc("Missing or wrong admin token."), 404: errorDoc("No published predictor of that name.") },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    if (!(await deletePredictor(bucket(c.env), name))) throw new NotFound({ what: "predictor", message: `no published predictor "${name}"`, param: "name" });
    return c.body(null, 204);
  },
);
