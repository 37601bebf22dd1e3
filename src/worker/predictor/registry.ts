/**
 * Which predictors exist, and which serves which LM. Two sources: the ones the Worker
 * ships (imported as Data modules) and the ones operators publish to the PREDICTORS R2
 * bucket (`allot publish`, PUT /admin/predictors/{name}); a published predictor with a
 * shipped one's name replaces it. The manifest says whose hidden states a predictor
 * reads, so a request's `model` finds its predictor through the manifests. Each is loaded
 * into onnxruntime-web once per isolate per version (its sha256), on first use.
 */
import strongBinaryManifest from "../../../models/predictors/strong-binary.manifest.json";
import strongBinary from "../../../models/predictors/strong-binary.onnx";
import strongGradedManifest from "../../../models/predictors/strong-graded.manifest.json";
import strongGraded from "../../../models/predictors/strong-graded.onnx";
import weakBinaryManifest from "../../../models/predictors/weak-binary.manifest.json";
import weakBinary from "../../../models/predictors/weak-binary.onnx";
import routeManifest from "../../../models/predictors/route.manifest.json";
import route from "../../../models/predictors/route.onnx";
import { settings } from "../config.js";
import strongBinaryChatManifest from "../../../models/predictors/strong-binary-chat.manifest.json";
import strongBinaryChat from "../../../models/predictors/strong-binary-chat.onnx";
import strongGradedChatManifest from "../../../models/predictors/strong-graded-chat.manifest.json";
import strongGradedChat from "../../../models/predictors/strong-graded-chat.onnx";
import weakBinaryChatManifest from "../../../models/predictors/weak-binary-chat.manifest.json";
import weakBinaryChat from "../../../models/predictors/weak-binary-chat.onnx";
import routeChatManifest from "../../../models/predictors/route-chat.manifest.json";
import routeChat from "../../../models/predictors/route-chat.onnx";
import thinkingManifest from "../../../models/predictors/thinking.manifest.json";
import thinking from "../../../models/predictors/thinking.onnx";
import thinkingChatManifest from "../../../models/predictors/thinking-chat.manifest.json";
import thinkingChat from "../../../models/predictors/thinking-chat.onnx";
import type { Env } from "../env.js";
import { type PredictorManifest, PredictorManifestSchema, inputForm } from "../../core/predictor/manifest.js";
import { EdgePredictor } from "./runtime-web.js";
import { publishedPredictors } from "./store.js";

export interface Predictor {
  readonly manifest: PredictorManifest;
  readonly source: "shipped" | "published";
  /** The ONNX bytes (read from R2 on first load for a published one). */
  readonly model: () => Promise<ArrayBuffer | Uint8Array>;
}

/**
 * Binary (verifier) predictors first: for a model with several, the default is binary.
 * Each serves one input form: the -chat ones were trained on conversations (allot collect
 * --chat) and predict chat requests, the others prompts (predict.ts forForm).
 */
export const SHIPPED: readonly Predictor[] = [
  [strongBinaryManifest, strongBinary],
  [weakBinaryManifest, weakBinary],
  [strongGradedManifest, strongGraded],
  // The router: a request (or batch) naming it as its model is routed between weak and strong.
  [routeManifest, route],
  [strongBinaryChatManifest, strongBinaryChat],
  [weakBinaryChatManifest, weakBinaryChat],
  [strongGradedChatManifest, strongGradedChat],
  [routeChatManifest, routeChat],
  // The thinking reference LM's: p and tokens at each thinking budget (THINKING_MODELS serves its budgets).
  [thinkingManifest, thinking],
  [thinkingChatManifest, thinkingChat],
].map(([m, bytes]) => ({ manifest: PredictorManifestSchema.parse(m), source: "shipped" as const, model: async () => bytes as ArrayBuffer }));

/** Every predictor and router this gateway can use now: published ones first, then the shipped ones they do not replace. */
export async function catalog(env: Env): Promise<Predictor[]> {
  const published = await publishedPredictors(env);
  const names = new Set(published.map((p) => p.manifest.name));
  return [...published, ...SHIPPED.filter((s) => !names.has(s.manifest.name))];
}

/**
 * The predictor `name`, or the default one for an LM model (a published one before a
 * shipped one, a binary one before a curve); null if there is none. Routers read an LM's
 * hidden states too, but predict for other models: never a default.
 */
export async function findPredictor(env: Env, opts: { name?: string; lmModel?: string }): Promise<Predictor | null> {
  const all = await catalog(env);
  if (opts.name) return all.find((s) => s.manifest.name === opts.name) ?? null;
  // Published before shipped (an operator's upload is what they mean to serve), then the
  // bare-prompt form (forForm swaps in its chat twin for a conversation), binary before curve.
  const rank = (s: Predictor) => (s.source === "published" ? 0 : 4) + (inputForm(s.manifest) === "prompt" ? 0 : 2) + (s.manifest.kind === "bernoulli" ? 0 : 1);
  const fits = all.filter((s) => !s.manifest.route && s.manifest.lm.model === opts.lmModel);
  return fits.sort((a, b) => rank(a) - rank(b))[0] ?? null;
}

/** The router named `name` (a request's `model` when it asks allot to route); null if none. */
export async function findRouter(env: Env, name: string): Promise<Predictor | null> {
  return (await catalog(env)).find((s) => s.manifest.route && s.manifest.name === name) ?? null;
}

/**
 * Whether a client may name `model`: a predictor reads its hidden states or a router has
 * its name, or the deployment names it (LM_MODEL, LM_URLS, LM_MODELS). Anything else is
 * refused before any LM call, so a made-up name never reaches the servers.
 */
export async function knownModel(env: Env, model: string): Promise<boolean> {
  const s = settings(env);
  if (model === s.LM_MODEL || s.LM_URLS?.has(model) || s.LM_MODELS?.some((re) => re.test(model))) return true;
  return (await servedModels(env)).some((m) => m.id === model);
}

/**
 * The models a client may name: each LM with a predictor, and each router (a chat-form
 * router that has a prompt-form one of the same menu is that one's twin, named by it:
 * predict.ts forForm serves each form its own).
 */
export async function servedModels(env: Env): Promise<{ id: string; predictor: string; router: boolean }[]> {
  const out = new Map<string, { id: string; predictor: string; router: boolean }>();
  const all = await catalog(env);
  const menu = (m: PredictorManifest) => `${m.lm.model} ${JSON.stringify(m.route?.options)}`;
  const promptMenus = new Set(all.filter((p) => p.manifest.route && inputForm(p.manifest) === "prompt").map((p) => menu(p.manifest)));
  for (const p of all) {
    if (p.manifest.route && inputForm(p.manifest) === "chat" && promptMenus.has(menu(p.manifest))) continue;
    const id = p.manifest.route ? p.manifest.name : p.manifest.lm.model;
    if (!out.has(id)) out.set(id, { id, predictor: p.manifest.name, router: !!p.manifest.route });
  }
  return [...out.values()];
}

const loaded = new Map<string, Promise<EdgePredictor>>();

/** The predictor in onnxruntime-web, loaded once per isolate per version. */
export function loadPredictor(p: Predictor): Promise<EdgePredictor> {
  const key = `${p.manifest.name}@${p.manifest.sha256}`;
  let session = loaded.get(key);
  if (!session) {
    session = p.model().then((bytes) => EdgePredictor.create(bytes, p.manifest));
    // A failed load is not cached, so the next request tries again.
    session.catch(() => loaded.delete(key));
    // An older version of the same predictor is not used again: let it go.
    for (const k of loaded.keys()) if (k.startsWith(`${p.manifest.name}@`)) loaded.delete(k);
    loaded.set(key, session);
  }
  return session;
}
