/**
 * A one-hidden-layer MLP (d → h → o, ReLU) with its two heads, trained with Adam in plain
 * TypeScript: the predictor is small (d ≈ 128, h = 64) and a few thousand prompts train
 * in seconds, so a numerics library would add megabytes for nothing, and plain Float64
 * code is exactly reproducible from a seed.
 *
 * Heads:
 * - "bernoulli": a logit z_j per output, p_j = σ(z_j); the loss is the binomial negative
 *   log-likelihood of s_j passes out of K samples (divided by K), whose gradient in z_j
 *   is σ(z_j) − s_j/K. One output for best-of-k; one per model for a router.
 * - "curve": o outputs z_j, Δ_j = softplus(z_j) ≥ 0 and q(b) = Σ_{j≤b} Δ_j, so the
 *   predicted best-of-b curve is non-decreasing by construction. The loss is on the
 *   increments Δ_j, not on q: allocation compares increments across prompts, and they
 *   are small (≈0.01) next to q (≈0.5), so an MSE on q fits them loosely. Each
 *   increment's error is divided by that increment's RMS over the training targets, so
 *   the late, tiny increments count as much as the first.
 * - "levels": success at each of o increasing thinking budgets, non-decreasing in the
 *   budget by construction: logits c_1 = z_1 and c_ℓ = c_{ℓ−1} + softplus(z_ℓ), so each
 *   level adds a non-negative increment, and p_ℓ = σ(c_ℓ). The loss is the binomial
 *   negative log-likelihood of each level's s_ℓ passes out of K (summed over levels, like
 *   a router's outputs); its gradient in c_ℓ is g_ℓ = σ(c_ℓ) − s_ℓ/K, so
 *   ∂/∂z_1 = Σ_ℓ g_ℓ and ∂/∂z_m = σ(z_m)·Σ_{ℓ≥m} g_ℓ. Monotone logits rather than a
 *   projection afterwards: every level is fitted on what it is (a budget never helps
 *   less than a smaller one, since a longer scratchpad only adds lines), and a predicted
 *   curve needs no repair before allocation.
 * - "thinking": the levels head on the first o/2 outputs, and on the other o/2 the tokens a
 *   sample generates at each level, t_ℓ = Σ_{m≤ℓ} softplus(u_m) (non-decreasing: a larger
 *   budget never cuts the thinking shorter), fitted to the prompt's mean tokens per level
 *   by squared error over each level's spread (σ_ℓ, the targets' standard deviation),
 *   (w/L)·Σ_ℓ ((t̂_ℓ − t_ℓ)/σ_ℓ)², beside the levels' likelihood, w the row's K.
 */
import { mulberry32, shuffleInPlace } from "../../core/allocation/select.js";

export type Head = "bernoulli" | "curve" | "levels" | "thinking";

export interface MlpParams {
  readonly d: number;
  readonly h: number;
  readonly o: number;
  /** [d × h], row-major: w1[i * h + k]. */
  readonly w1: Float64Array;
  readonly b1: Float64Array;
  /** [h × o], row-major. */
  readonly w2: Float64Array;
  readonly b2: Float64Array;
}

export interface TrainOptions {
  readonly head: Head;
  readonly hidden: number;
  readonly seed: number;
  readonly lr: number;
  readonly weightDecay: number;
  readonly batch: number;
  readonly maxEpochs: number;
  /** Stop when validation loss has not improved for this many epochs. */
  readonly patience: number;
  /** Initial output biases (default 0), e.g. to start the thinking head's tokens near their mean. */
  readonly bias?: readonly number[];
}

export const defaultTrainOptions = (head: Head): TrainOptions => ({
  head,
  hidden: 64,
  seed: 1,
  // The curve head's scaled-increment loss converges slowly at 1e-3 (still improving at
  // 300 epochs on the reference data); 3e-3 and a longer cap reach its minimum.
  lr: head === "curve" ? 3e-3 : 1e-3,
  weightDecay: 1e-4,
  batch: 64,
  maxEpochs: head === "curve" ? 800 : 300,
  patience: 25,
});

/** Training rows: standardized inputs and, per head, the targets. */
export interface Rows {
  readonly x: readonly Float64Array[];
  /** bernoulli and levels: [s_j/K] per output; curve: the target q(1..o). */
  readonly y: readonly Float64Array[];
  /** bernoulli and levels: K per row, the weight of its outcomes; curve: 1. */
  readonly weight: readonly number[];
}

export function initParams(d: number, h: number, o: number, seed: number): MlpParams {
  const rand = mulberry32(seed);
  const uniform = (n: number, scale: number) => Float64Array.from({ length: n }, () => (2 * rand() - 1) * scale);
  return { d, h, o, w1: uniform(d * h, Math.sqrt(6 / d)), b1: new Float64Array(h), w2: uniform(h * o, Math.sqrt(6 / (h + o))), b2: new Float64Array(o) };
}

/** log(1 + e^z), without overflow. */
export const softplus = (z: number) => (z > 20 ? z : Math.log1p(Math.exp(z)));
export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Raw outputs z (logit, or the curve's pre-softplus increments) for one input. */
export function forwardRaw(p: MlpParams, x: Float64Array, hiddenOut?: Float64Array): Float64Array {
  const a = hiddenOut ?? new Float64Array(p.h);
  for (let k = 0; k < p.h; k++) a[k] = p.b1[k];
  for (let i = 0; i < p.d; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    const row = i * p.h;
    for (let k = 0; k < p.h; k++) a[k] += xi * p.w1[row + k];
  }
  for (let k = 0; k < p.h; k++) if (a[k] < 0) a[k] = 0;
  const z = Float64Array.from(p.b2);
  for (let k = 0; k < p.h; k++) {
    const ak = a[k];
    if (ak === 0) continue;
    for (let j = 0; j < p.o; j++) z[j] += ak * p.w2[k * p.o + j];
  }
  return z;
}

/**
 * The levels head's logits from the raw outputs: c_1 = z_1 / t(0), c_ℓ = c_{ℓ−1} +
 * softplus(z_ℓ) / t(ℓ−1), each level's temperature on its own increment (1 while training).
 */
export function levelLogits(z: ArrayLike<number>, t: (j: number) => number = () => 1): Float64Array {
  const c = new Float64Array(z.length);
  let acc = 0;
  for (let j = 0; j < z.length; j++) c[j] = acc += j === 0 ? z[0] / t(0) : softplus(z[j]) / t(j);
  return c;
}

/** The head's prediction: p_j for bernoulli, q(1..o) for curve, p at each level for levels. */
export function predict(p: MlpParams, head: Head, x: Float64Array): Float64Array {
  const z = forwardRaw(p, x);
  if (head === "bernoulli") return z.map(sigmoid);
  if (head === "levels") return levelLogits(z).map(sigmoid);
  if (head === "thinking") {
    const L = z.length / 2;
    let acc = 0;
    return Float64Array.from([...levelLogits(z.subarray(0, L)).map(sigmoid), ...Array.from(z.subarray(L), (u) => (acc += softplus(u)))]);
  }
  const q = new Float64Array(p.o);
  let acc = 0;
  for (let j = 0; j < p.o; j++) q[j] = acc += softplus(z[j]);
  return q;
}

/** Loss of one row and, if `grad` is given, dLoss/dz into it. `scale`: curve increments' RMS. */
function rowLoss(head: Head, z: Float64Array, y: Float64Array, weight: number, scale: Float64Array, grad?: Float64Array): number {
  if (head === "bernoulli") {
    let loss = 0;
    for (let j = 0; j < z.length; j++) {
      // Binomial NLL per sample, in a numerically stable form.
      loss += softplus(z[j]) - y[j] * z[j];
      if (grad) grad[j] = (sigmoid(z[j]) - y[j]) * weight;
    }
    return loss * weight;
  }
  if (head === "levels" || head === "thinking") {
    const L = head === "levels" ? z.length : z.length / 2;
    const c = levelLogits(z.subarray(0, L));
    let loss = 0;
    let tail = 0; // Σ_{ℓ ≥ j} g_ℓ, accumulated from the last level down
    for (let j = L - 1; j >= 0; j--) {
      loss += softplus(c[j]) - y[j] * c[j];
      tail += (sigmoid(c[j]) - y[j]) * weight;
      if (grad) grad[j] = j === 0 ? tail : sigmoid(z[j]) * tail;
    }
    if (head === "levels") return loss * weight;
    let tokens = 0;
    let squared = 0;
    const t = new Float64Array(L);
    for (let j = 0; j < L; j++) t[j] = tokens += softplus(z[L + j]);
    tail = 0;
    for (let j = L - 1; j >= 0; j--) {
      const e = (t[j] - y[L + j]) / scale[L + j];
      squared += (e * e) / L;
      tail += ((2 * e) / scale[L + j] / L) * weight;
      if (grad) grad[L + j] = sigmoid(z[L + j]) * tail;
    }
    return (loss + squared) * weight;
  }
  const o = z.length;
  let loss = 0;
  for (let j = 0; j < o; j++) {
    const target = y[j] - (j > 0 ? y[j - 1] : 0);
    const e = (softplus(z[j]) - target) / scale[j];
    loss += (e * e) / o;
    if (grad) grad[j] = ((2 * e) / scale[j] / o) * sigmoid(z[j]) * weight; // softplus' = σ
  }
  return loss * weight;
}

/** The thinking head's scales: 1 for the levels' outputs, each level's token targets' standard deviation (at least 1) for the tokens'. */
export function tokenScale(rows: Rows, o: number): Float64Array {
  const L = o / 2;
  const s = new Float64Array(o).fill(1);
  for (let j = 0; j < L; j++) {
    const ts = rows.y.map((y) => y[L + j]);
    const mean = ts.reduce((a, b) => a + b, 0) / ts.length;
    s[L + j] = Math.max(1, Math.sqrt(ts.reduce((a, b) => a + (b - mean) ** 2, 0) / ts.length));
  }
  return s;
}

/** Per-increment RMS of the curve targets (ones for the bernoulli head). */
export function incrementScale(rows: Rows, o: number): Float64Array {
  const s = new Float64Array(o);
  for (const y of rows.y) for (let j = 0; j < o && y.length === o; j++) s[j] += (y[j] - (j > 0 ? y[j - 1] : 0)) ** 2 / rows.y.length;
  return Float64Array.from(s, (v) => Math.max(Math.sqrt(v), 1e-4));
}

/** Mean loss over rows (weighted). */
export function meanLoss(p: MlpParams, head: Head, rows: Rows, scale: Float64Array): number {
  let total = 0;
  let weights = 0;
  for (let r = 0; r < rows.x.length; r++) {
    total += rowLoss(head, forwardRaw(p, rows.x[r]), rows.y[r], rows.weight[r], scale);
    weights += rows.weight[r];
  }
  return total / weights;
}

export interface TrainResult {
  readonly params: MlpParams;
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly trainLoss: number;
  readonly validationLoss: number;
}

/** Adam with decoupled weight decay, minibatches in a seeded order, early stopping. */
export function train(trainRows: Rows, validationRows: Rows, o: number, opt: TrainOptions): TrainResult {
  const d = trainRows.x[0].length;
  const scale = opt.head === "curve" ? incrementScale(trainRows, o) : opt.head === "thinking" ? tokenScale(trainRows, o) : new Float64Array(o).fill(1);
  let params = initParams(d, opt.hidden, o, opt.seed);
  opt.bias?.forEach((b, j) => (params.b2[j] = b));
  const tensors = [params.w1, params.b1, params.w2, params.b2];
  const m = tensors.map((t) => new Float64Array(t.length));
  const v = tensors.map((t) => new Float64Array(t.length));
  const g = tensors.map((t) => new Float64Array(t.length));
  const rand = mulberry32(opt.seed ^ 0x9e3779b9);
  const order = Array.from({ length: trainRows.x.length }, (_, i) => i);
  const a = new Float64Array(opt.hidden);
  const dz = new Float64Array(o);
  const da = new Float64Array(opt.hidden);
  let step = 0;
  let best = { loss: Infinity, epoch: 0, snapshot: tensors.map((t) => t.slice()) };
  let epoch = 0;
  for (; epoch < opt.maxEpochs && epoch - best.epoch <= opt.patience; epoch++) {
    shuffleInPlace(order, rand);
    for (let start = 0; start < order.length; start += opt.batch) {
      const batch = order.slice(start, start + opt.batch);
      for (const t of g) t.fill(0);
      let wsum = 0;
      for (const r of batch) {
        const x = trainRows.x[r];
        const z = forwardRaw(params, x, a);
        rowLoss(opt.head, z, trainRows.y[r], trainRows.weight[r], scale, dz);
        wsum += trainRows.weight[r];
        da.fill(0);
        for (let k = 0; k < opt.hidden; k++) {
          if (a[k] === 0) continue;
          for (let j = 0; j < o; j++) {
            g[2][k * o + j] += a[k] * dz[j];
            da[k] += params.w2[k * o + j] * dz[j];
          }
        }
        for (let j = 0; j < o; j++) g[3][j] += dz[j];
        for (let k = 0; k < opt.hidden; k++) if (a[k] > 0) g[1][k] += da[k];
        for (let i = 0; i < d; i++) {
          const xi = x[i];
          if (xi === 0) continue;
          for (let k = 0; k < opt.hidden; k++) if (a[k] > 0) g[0][i * opt.hidden + k] += xi * da[k];
        }
      }
      step++;
      const b1c = 1 - 0.9 ** step;
      const b2c = 1 - 0.999 ** step;
      tensors.forEach((t, ti) => {
        const decay = ti % 2 === 0 ? opt.weightDecay : 0; // weights only, not biases
        for (let k = 0; k < t.length; k++) {
          const grad = g[ti][k] / wsum;
          m[ti][k] = 0.9 * m[ti][k] + 0.1 * grad;
          v[ti][k] = 0.999 * v[ti][k] + 0.001 * grad * grad;
          t[k] -= opt.lr * ((m[ti][k] / b1c) / (Math.sqrt(v[ti][k] / b2c) + 1e-8) + decay * t[k]);
        }
      });
    }
    const loss = meanLoss(params, opt.head, validationRows, scale);
    if (loss < best.loss - 1e-9) best = { loss, epoch, snapshot: tensors.map((t) => t.slice()) };
  }
  params = { d, h: opt.hidden, o, w1: best.snapshot[0], b1: best.snapshot[1], w2: best.snapshot[2], b2: best.snapshot[3] };
  return { params, epochs: epoch, bestEpoch: best.epoch, trainLoss: meanLoss(params, opt.head, trainRows, scale), validationLoss: best.loss };
}
