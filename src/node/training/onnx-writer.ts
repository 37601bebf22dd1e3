/**
 * Writes the predictor MLP as an ONNX model (protobuf), without any ONNX library: the
 * graph is four or five standard operators, and the encoder below covers exactly the
 * fields it needs (onnx.proto3 field numbers cited inline).
 *
 * Graph: hidden [N, d] → Gemm(W1, b1) → Relu → Gemm(W2, b2) = z →
 *   bernoulli: Sigmoid → p [N, o]
 *   curve:     Softplus → CumSum(axis 1) → q [N, o]
 *   levels:    z ⊙ first + Softplus(z) ⊙ scale → CumSum(axis 1) → Sigmoid → p [N, o]
 *              (first = [1, 0, …, 0]; scale = [0, 1/T_2, …, 1/T_o]: the first logit, then
 *              each level's non-negative increment over its own temperature)
 *   thinking:  the levels graph from Gemm(W2[:, :L], b2[:L]) → p [N, L], and from a second
 *              Gemm(W2[:, L:], b2[L:]) → Softplus → CumSum(axis 1) → tokens [N, L]
 * Input standardisation and the calibration temperature are folded into the weights (all
 * but the levels' increments, which the scale vector divides), so the model takes the raw
 * hidden state and needs no pre- or post-processing.
 */
import { type Head, type MlpParams, levelLogits, sigmoid, softplus } from "./mlp.js";

class Writer {
  private readonly chunks: number[] = [];

  varint(v: number | bigint): this {
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) byte |= 0x80;
      this.chunks.push(byte);
    } while (n > 0n);
    return this;
  }
  private key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.key(field, 0).varint(v);
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.key(field, 5);
    this.chunks.push(...b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const INT64 = 7;

function tensor(w: Writer, name: string, dims: number[], data: Float32Array | BigInt64Array, type: number) {
  // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian)
  for (const d of dims) w.int(1, d);
  w.int(2, type).string(8, name).bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function valueInfo(w: Writer, name: string, dims: (number | string)[]) {
  // ValueInfoProto: name = 1, type = 2; TypeProto.tensor_type = 1; Tensor: elem_type = 1,
  // shape = 2; TensorShapeProto.dim = 1; Dimension: dim_value = 1, dim_param = 2.
  w.string(1, name).message(2, (t) =>
    t.message(1, (tt) =>
      tt.int(1, FLOAT).message(2, (s) => {
        for (const d of dims) s.message(1, (dim) => (typeof d === "number" ? dim.int(1, d) : dim.string(2, d)));
      }),
    ),
  );
}

function node(w: Writer, op: string, inputs: string[], outputs: string[], attrs: { name: string; int?: number }[] = []) {
  // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5;
  // AttributeProto: name = 1, i = 3, type = 20 (INT = 2).
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  w.string(3, `${op}_${outputs[0]}`).string(4, op);
  for (const a of attrs) w.message(5, (aw) => aw.string(1, a.name).int(3, a.int!).int(20, 2));
}

export interface ExportInput {
  readonly params: MlpParams;
  readonly head: Head;
  /** Per-feature mean and standard deviation the MLP was trained on. */
  readonly mean: Float64Array;
  readonly std: Float64Array;
  /** Calibration temperature (bernoulli, levels), one for all outputs or one per output; 1 for none. */
  readonly temperature: number | readonly number[];
  readonly metadata: Record<string, string>;
}

/** Folds standardisation and temperature into the weights: the ONNX model's own weights. */
export function foldedWeights(e: ExportInput): { w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array } {
  const { d, h, o } = e.params;
  const w1 = new Float32Array(d * h);
  const b1 = Float32Array.from(e.params.b1);
  const b1acc = Float64Array.from(e.params.b1);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < h; k++) {
      const scaled = e.params.w1[i * h + k] / e.std[i];
      w1[i * h + k] = scaled;
      b1acc[k] -= scaled * e.mean[i];
    }
  }
  b1.set(b1acc);
  // Output j's logit is divided by its temperature: its column of W2 and its bias. For
  // levels only the first output is a logit; the increments' temperatures come after the softplus.
  const t = (j: number) => (e.head === "curve" || (e.head !== "bernoulli" && j > 0) ? 1 : temperatureOf(e, j));
  const w2 = Float32Array.from(e.params.w2, (x, i) => x / t(i % o));
  const b2 = Float32Array.from(e.params.b2, (x, j) => x / t(j));
  return { w1, b1, w2, b2 };
}

/** Output j's calibration temperature. */
const temperatureOf = (e: ExportInput, j: number): number => (typeof e.temperature === "number" ? e.temperature : e.temperature[j]);

/** The levels head's constant vectors: which output is the first logit, and each increment's 1/T. */
function levelVectors(e: ExportInput): { first: Float32Array; scale: Float32Array } {
  const o = e.head === "thinking" ? e.params.o / 2 : e.params.o;
  return { first: Float32Array.from({ length: o }, (_, j) => (j === 0 ? 1 : 0)), scale: Float32Array.from({ length: o }, (_, j) => (j === 0 ? 0 : 1 / temperatureOf(e, j))) };
}

/** The output's name: p for success probabilities, q for a curve. */
export const outputName = (head: Head): "p" | "q" => (head === "curve" ? "q" : "p");

/** Outputs of the exported graph and their widths (the thinking head has a second, the tokens per level). */
export const outputsOf = (head: Head, o: number): { name: string; width: number }[] =>
  head === "thinking" ? [{ name: "p", width: o / 2 }, { name: "tokens", width: o / 2 }] : [{ name: outputName(head), width: o }];

/** The ONNX model's bytes. */
export function exportOnnx(e: ExportInput): Uint8Array {
  const { d, h, o } = e.params;
  const { w1, b1, w2, b2 } = foldedWeights(e);
  const out = outputName(e.head);
  const w = new Writer();
  // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, graph = 7,
  // opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2), metadata_props = 14.
  w.int(1, 8).string(2, "allot").string(3, "1");
  w.message(7, (g) => {
    // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
    g.message(1, (n) => node(n, "Gemm", ["hidden", "W1", "b1"], ["h1"]));
    g.message(1, (n) => node(n, "Relu", ["h1"], ["a1"]));
    g.message(1, (n) => node(n, "Gemm", ["a1", "W2", "b2"], ["z"]));
    if (e.head === "thinking") g.message(1, (n) => node(n, "Gemm", ["a1", "W2t", "b2t"], ["u"]));
    if (e.head === "bernoulli") {
      g.message(1, (n) => node(n, "Sigmoid", ["z"], [out]));
    } else if (e.head === "curve") {
      g.message(1, (n) => node(n, "Softplus", ["z"], ["delta"]));
      g.message(1, (n) => node(n, "CumSum", ["delta", "axis"], [out]));
    } else {
      g.message(1, (n) => node(n, "Mul", ["z", "first"], ["z1"]));
      g.message(1, (n) => node(n, "Softplus", ["z"], ["sp"]));
      g.message(1, (n) => node(n, "Mul", ["sp", "scale"], ["inc"]));
      g.message(1, (n) => node(n, "Add", ["z1", "inc"], ["steps"]));
      g.message(1, (n) => node(n, "CumSum", ["steps", "axis"], ["logit"]));
      g.message(1, (n) => node(n, "Sigmoid", ["logit"], [out]));
    }
    if (e.head === "thinking") {
      g.message(1, (n) => node(n, "Softplus", ["u"], ["tokens_step"]));
      g.message(1, (n) => node(n, "CumSum", ["tokens_step", "axis"], ["tokens"]));
    }
    g.string(2, `allot-predictor-${e.head}`);
    g.message(5, (t) => tensor(t, "W1", [d, h], w1, FLOAT));
    g.message(5, (t) => tensor(t, "b1", [h], b1, FLOAT));
    if (e.head === "thinking") {
      // The first half of W2's columns feeds p, the second the tokens.
      const L = o / 2;
      const cols = (from: number) => Float32Array.from({ length: h * L }, (_, i) => w2[Math.floor(i / L) * o + from + (i % L)]);
      g.message(5, (t) => tensor(t, "W2", [h, L], cols(0), FLOAT));
      g.message(5, (t) => tensor(t, "b2", [L], b2.slice(0, L), FLOAT));
      g.message(5, (t) => tensor(t, "W2t", [h, L], cols(L), FLOAT));
      g.message(5, (t) => tensor(t, "b2t", [L], b2.slice(L), FLOAT));
    } else {
      g.message(5, (t) => tensor(t, "W2", [h, o], w2, FLOAT));
      g.message(5, (t) => tensor(t, "b2", [o], b2, FLOAT));
    }
    if (e.head !== "bernoulli") g.message(5, (t) => tensor(t, "axis", [], BigInt64Array.of(1n), INT64));
    if (e.head === "levels" || e.head === "thinking") {
      const { first, scale } = levelVectors(e);
      g.message(5, (t) => tensor(t, "first", [first.length], first, FLOAT));
      g.message(5, (t) => tensor(t, "scale", [scale.length], scale, FLOAT));
    }
    g.message(11, (v) => valueInfo(v, "hidden", ["N", d]));
    g.message(12, (v) => valueInfo(v, out, ["N", e.head === "thinking" ? o / 2 : o]));
    if (e.head === "thinking") g.message(12, (v) => valueInfo(v, "tokens", ["N", o / 2]));
  });
  w.message(8, (op) => op.string(1, "").int(2, 14));
  for (const [key, value] of Object.entries(e.metadata)) w.message(14, (m) => m.string(1, key).string(2, value));
  return w.finish();
}

/**
 * What the exported graph computes, in TypeScript (float64), for parity checks. The
 * weights are folded once; the returned function evaluates one input row.
 */
export function foldedForward(e: ExportInput): (x: ArrayLike<number>) => Float64Array {
  const { d, h, o } = e.params;
  const { w1, b1, w2, b2 } = foldedWeights(e);
  return (x) => {
    const a = Float64Array.from(b1);
    for (let i = 0; i < d; i++) for (let k = 0; k < h; k++) a[k] += x[i] * w1[i * h + k];
    const z = Float64Array.from(b2);
    for (let k = 0; k < h; k++) if (a[k] > 0) for (let j = 0; j < o; j++) z[j] += a[k] * w2[k * o + j];
    if (e.head === "bernoulli") return z.map(sigmoid);
    if (e.head === "levels" || e.head === "thinking") {
      // The graph's own order of operations: z_1 (temperature folded), then Softplus(z_j)·(1/T_j) in float32.
      const { scale } = levelVectors(e);
      const L = scale.length;
      const p = levelLogits(z.subarray(0, L), (j) => (j === 0 ? 1 : 1 / scale[j])).map(sigmoid);
      if (e.head === "levels") return p;
      let acc = 0;
      return Float64Array.from([...p, ...Array.from(z.subarray(L), (u) => (acc += softplus(u)))]);
    }
    let acc = 0;
    return Float64Array.from(z, (zj) => (acc += softplus(zj)));
  };
}
