/**
 * The predictor at the edge: onnxruntime-web (WebAssembly) inside workerd.
 *
 * workerd refuses to compile WebAssembly from bytes at run time; wrangler instead turns
 * the imported .wasm file into a precompiled WebAssembly.Module. onnxruntime-web's glue
 * (imported from "onnxruntime-web/wasm", so it needs no dynamic import) is given a
 * placeholder wasmBinary, and while a session is created, WebAssembly.instantiate is
 * answered with that precompiled Module instead of compiling the placeholder.
 */
import * as ort from "onnxruntime-web/wasm";
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import { type PredictorManifest, outputWidth } from "../../core/predictor/manifest.js";

let configured = false;

function configure(): void {
  if (configured) return;
  configured = true;
  ort.env.wasm.numThreads = 1; // no threads (no SharedArrayBuffer workers) in workerd
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = new Uint8Array(8); // placeholder: never compiled, see below
}

/**
 * Session creations one at a time. The patch below swaps a global: two creations
 * overlapping would each save and restore it, and the one finishing first would restore
 * the other's patched function (or the second would save the first's patch as the
 * "original"). Serialised, every creation patches and restores around only itself.
 */
let creating: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = creating.then(fn, fn);
  creating = run.catch(() => undefined);
  return run;
}

/** Runs `fn` with WebAssembly.instantiate(bytes) answered by the precompiled ORT module. */
function withPrecompiledOrt<T>(fn: () => Promise<T>): Promise<T> {
  return oneAtATime(() => answeredByPrecompiled(fn));
}

async function answeredByPrecompiled<T>(fn: () => Promise<T>): Promise<T> {
  const original = WebAssembly.instantiate;
  const patched = async (source: unknown, imports?: WebAssembly.Imports) => {
    if (source instanceof WebAssembly.Module) return original(source, imports);
    const instance = await original(ortWasm, imports);
    return { module: ortWasm, instance };
  };
  (WebAssembly as { instantiate: unknown }).instantiate = patched;
  try {
    return await fn();
  } finally {
    WebAssembly.instantiate = original;
  }
}

/** One loaded predictor: hidden states in, p or q(1..b_max) out. */
export class EdgePredictor {
  private constructor(
    readonly manifest: PredictorManifest,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(model: ArrayBuffer | Uint8Array, manifest: PredictorManifest): Promise<EdgePredictor> {
    configure();
    const bytes = model instanceof Uint8Array ? model : new Uint8Array(model);
    const session = await withPrecompiledOrt(() => ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] }));
    return new EdgePredictor(manifest, session);
  }

  /** One row of outputs per hidden state (see outputWidth). */
  async predict(hidden: readonly ArrayLike<number>[]): Promise<Float32Array[]> {
    return (await this.run(hidden, [this.manifest.output]))[0];
  }

  /**
   * A thinking predictor's two outputs, one row per hidden state and a value per level:
   * p (a sample's chance of passing at each budget) and its expected tokens per sample.
   */
  async predictThinking(hidden: readonly ArrayLike<number>[]): Promise<{ p: Float32Array[]; tokens: Float32Array[] }> {
    const t = this.manifest.thinking;
    if (!t) throw new RangeError(`${this.manifest.name} does not predict thinking budgets`);
    const [p, own] = await this.run(hidden, [this.manifest.output, ...(t.tokens_output ? [t.tokens_output] : [])]);
    // Without a tokens output every prompt is expected to spend the training prompts' mean.
    return { p, tokens: own ?? p.map(() => Float32Array.from(t.expected_tokens)) };
  }

  /** The named outputs, each as one row per hidden state of outputWidth values. */
  private async run(hidden: readonly ArrayLike<number>[], names: readonly string[]): Promise<Float32Array[][]> {
    const d = this.manifest.input_size;
    const flat = new Float32Array(hidden.length * d);
    hidden.forEach((h, i) => {
      if (h.length !== d) throw new RangeError(`hidden state ${i} has ${h.length} values; ${this.manifest.name} takes ${d}`);
      flat.set(h, i * d);
    });
    const out = await this.session.run({ hidden: new ort.Tensor("float32", flat, [hidden.length, d]) });
    const width = outputWidth(this.manifest);
    return names.map((name) => {
      const tensor = out[name];
      if (!tensor) throw new RangeError(`${this.manifest.name} has no output named "${name}"`);
      const data = tensor.data as Float32Array;
      if (data.length !== hidden.length * width) {
        throw new RangeError(`${this.manifest.name} gave ${data.length} values of ${name} for ${hidden.length} inputs; its manifest says ${width} each`);
      }
      return hidden.map((_, i) => data.slice(i * width, (i + 1) * width));
    });
  }
}
