import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { mulberry32 } from "../../core/allocation/select.js";
import { type LmManifest, LmManifestSchema } from "./manifest.js";
import { rowSeed, sampleToken } from "./sampling.js";
import { CharTokenizer } from "./tokenizer.js";

export interface SamplingParams {
  readonly n: number;
  readonly temperature: number;
  readonly topP: number;
  readonly maxTokens: number;
  readonly stop: readonly string[];
  readonly seed: number;
  /**
   * Told each sample's text as it is generated (for a stream): the new text of prompt
   * `prompt`'s sample `sample`, and on its last call why it finished. Text that could be
   * the start of a stop string is held back until it is known not to be.
   */
  readonly onText?: (prompt: number, sample: number, text: string, finish: Sample["finishReason"] | null) => void;
  /**
   * A thinking model's budget: at most this many thinking tokens (those after its start
   * marker); undefined is unlimited. Ignored by a model that does not think.
   */
  readonly thinkingBudget?: number;
}

export interface Sample {
  readonly text: string;
  /** Tokens generated, the end-of-sequence token included: the compute spent. */
  readonly tokens: number;
  /** The generated token ids, the end-of-sequence token included (vLLM's return_token_ids). */
  readonly tokenIds: readonly number[];
  /** Of those, the thinking tokens: the ones between the start and end markers, not the markers. */
  readonly thinkingTokens: number;
  readonly finishReason: "stop" | "length";
}

/**
 * Where a row of a thinking model is: before its first token (`start`), inside its
 * scratchpad (`think`), or answering (`answer`, also a row that answered without opening
 * its scratchpad).
 */
type Phase = "start" | "think" | "answer";

/** Rows (prompts × n) decoded together in one forward pass at most. */
const MAX_ROWS_PER_PASS = 512;

interface Cache {
  keys: ort.Tensor;
  values: ort.Tensor;
}

/**
 * One reference LM: an ONNX character transformer with a KV cache, run by
 * onnxruntime-node. Prompts of equal length are prefilled together; each prompt's cache
 * is then repeated for its n samples, and all rows decode in lockstep, finished rows
 * dropped from the batch as they end.
 *
 * Budget forcing (a thinking model, SamplingParams.thinkingBudget = N): every step draws
 * each row's token as usual, so a row's random stream does not depend on N; a row that is
 * thinking and has spent N thinking tokens gets the end marker instead of what it drew.
 * Phases: `start` → `think` on the start marker (any other first token answers directly);
 * `think` → `answer` on the end marker, and every other token but end-of-sequence counts
 * one thinking token; end-of-sequence ends a row in any phase. Markers are text like any
 * token (`<think>…</think>379`) and count in the tokens generated, forced ones included.
 */
export class ReferenceLM {
  readonly tokenizer: CharTokenizer;

  private constructor(
    readonly manifest: LmManifest,
    private readonly session: ort.InferenceSession,
  ) {
    this.tokenizer = new CharTokenizer(manifest.vocab);
  }

  /** Loads `<dir>/<name>.manifest.json` and its ONNX file, refusing a file whose sha256 differs. */
  static async load(dir: string, name: string, threads = 1): Promise<ReferenceLM> {
    const path = join(dir, `${name}.manifest.json`);
    const parsed = LmManifestSchema.safeParse(JSON.parse(await readFile(path, "utf8")));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${path} is not a reference LM manifest (${issue.path.join(".")}: ${issue.message})`);
    }
    const manifest = parsed.data;
    const bytes = await readFile(join(dir, manifest.file));
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (sha !== manifest.sha256) throw new Error(`${manifest.file}: sha256 ${sha} does not match its manifest (${manifest.sha256})`);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    return new ReferenceLM(manifest, session);
  }

  get name(): string {
    return this.manifest.name;
  }

  private emptyCache(batch: number): Cache {
    const m = this.manifest;
    const dims = [m.layers, batch, m.heads, 0, m.head_dim];
    return { keys: new ort.Tensor("float32", new Float32Array(0), dims), values: new ort.Tensor("float32", new Float32Array(0), dims) };
  }

  /** One forward pass over rows of equal length T on top of a cache of length P. */
  private async forward(rows: readonly (readonly number[])[], cache: Cache) {
    const T = rows[0].length;
    const ids = new BigInt64Array(rows.length * T);
    rows.forEach((r, i) => r.forEach((t, j) => (ids[i * T + j] = BigInt(t))));
    const out = await this.session.run({
      input_ids: new ort.Tensor("int64", ids, [rows.length, T]),
      past_keys: cache.keys,
      past_values: cache.values,
    });
    return {
      logits: out.logits.data as Float32Array,
      hidden: out.hidden.data as Float32Array,
      cache: { keys: out.present_keys, values: out.present_values } as Cache,
      T,
    };
  }

  /**
   * The last layer's hidden state (after the final LayerNorm) at every token of each
   * prompt: rows[i] holds prompt i's T × d values, token-major.
   */
  async tokenStates(prompts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const d = this.manifest.hidden_size;
    const out: Float32Array[] = new Array(prompts.length);
    for (const group of groupByLength(prompts, MAX_ROWS_PER_PASS)) {
      const { hidden, T } = await this.forward(group.map((i) => prompts[i]), this.emptyCache(group.length));
      group.forEach((p, row) => (out[p] = hidden.slice(row * T * d, (row + 1) * T * d)));
    }
    return out;
  }

  /**
   * The hidden state at each prompt's last token: what vLLM's pooling runner returns
   * with LAST pooling and no activation (raw, not L2-normalised).
   */
  async hiddenStates(prompts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const d = this.manifest.hidden_size;
    return (await this.tokenStates(prompts)).map((rows) => rows.slice(rows.length - d));
  }

  /** n samples for each prompt. samples[i][k] is prompt i's k-th sample. */
  async generate(prompts: readonly (readonly number[])[], params: SamplingParams): Promise<Sample[][]> {
    const out: Sample[][] = prompts.map(() => new Array<Sample>(params.n));
    const perPass = Math.max(1, Math.floor(MAX_ROWS_PER_PASS / params.n));
    for (const group of groupByLength(prompts, perPass)) await this.generateGroup(prompts, group, params, out);
    return out;
  }

  private async generateGroup(
    prompts: readonly (readonly number[])[],
    group: number[],
    params: SamplingParams,
    out: Sample[][],
  ): Promise<void> {
    const m = this.manifest;
    const V = m.vocab.length;
    const { n } = params;
    const prefill = await this.forward(group.map((i) => prompts[i]), this.emptyCache(group.length));
    const promptLen = prefill.T;
    // Rows: prompt-major, sample-minor; each row has its own generator.
    type Row = { prompt: number; sample: number; rand: () => number; tokens: number[]; text: string; sent: number; phase: Phase; thought: number };
    let rows: Row[] = [];
    for (const p of group) {
      for (let k = 0; k < n; k++) rows.push({ prompt: p, sample: k, rand: mulberry32(rowSeed(params.seed, p, k)), tokens: [], text: "", sent: 0, phase: "start", thought: 0 });
    }
    const holdBack = Math.max(0, ...params.stop.map((s) => s.length - 1));
    const tell = (row: Row, finish: Sample["finishReason"] | null) => {
      if (!params.onText) return;
      const upTo = finish ? row.text.length : Math.max(row.sent, row.text.length - holdBack);
      if (upTo > row.sent || finish) params.onText(row.prompt, row.sample, row.text.slice(row.sent, upTo), finish);
      row.sent = upTo;
    };
    const thinking = m.thinking;
    const budget = thinking ? params.thinkingBudget : undefined;
    let cache = repeatRows(prefill.cache, n);
    // Logits for each row's next token: the prompt's last position, then each step's.
    let logits: Float32Array = new Float32Array(rows.length * V);
    group.forEach((_, g) => {
      const last = prefill.logits.subarray((g * promptLen + promptLen - 1) * V, (g * promptLen + promptLen) * V);
      for (let k = 0; k < n; k++) logits.set(last, (g * n + k) * V);
    });
    while (rows.length > 0) {
      const keep: number[] = [];
      rows.forEach((row, r) => {
        let t = sampleToken(logits, r * V, V, params.temperature, params.topP, row.rand);
        if (thinking) {
          if (row.phase === "think" && budget !== undefined && row.thought >= budget) t = thinking.end_token;
          if (row.phase === "start") row.phase = t === thinking.start_token ? "think" : "answer";
          else if (row.phase === "think") {
            if (t === thinking.end_token) row.phase = "answer";
            else if (t !== m.eos_token) row.thought++;
          }
        }
        row.tokens.push(t);
        let finish: Sample["finishReason"] | null = null;
        if (t === m.eos_token) finish = "stop";
        else {
          row.text += m.vocab[t];
          const hit = firstStop(row.text, params.stop);
          if (hit >= 0) {
            row.text = row.text.slice(0, hit);
            finish = "stop";
          } else if (row.tokens.length >= params.maxTokens || promptLen + row.tokens.length >= m.context_length) {
            finish = "length";
          }
        }
        tell(row, finish);
        if (finish) out[row.prompt][row.sample] = { text: row.text, tokens: row.tokens.length, tokenIds: row.tokens, thinkingTokens: row.thought, finishReason: finish };
        else keep.push(r);
      });
      if (keep.length === 0) break;
      if (keep.length < rows.length) {
        cache = selectRows(cache, keep);
        rows = keep.map((r) => rows[r]);
      }
      const step = await this.forward(rows.map((r) => [r.tokens[r.tokens.length - 1]]), cache);
      cache = step.cache;
      logits = step.logits;
    }
  }
}

/** Indices of prompts grouped by token length, each group at most `size` prompts. */
function groupByLength(prompts: readonly (readonly number[])[], size: number): number[][] {
  const byLen = new Map<number, number[]>();
  prompts.forEach((p, i) => byLen.set(p.length, [...(byLen.get(p.length) ?? []), i]));
  const groups: number[][] = [];
  for (const idx of byLen.values()) for (let s = 0; s < idx.length; s += size) groups.push(idx.slice(s, s + size));
  return groups;
}

function firstStop(text: string, stop: readonly string[]): number {
  let at = -1;
  for (const s of stop) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Cache [L, B, H, P, dh] → [L, B·n, H, P, dh], each batch row repeated n times. */
function repeatRows(cache: Cache, n: number): Cache {
  if (n === 1) return cache;
  const [L, B, H, P, dh] = cache.keys.dims as number[];
  const block = H * P * dh;
  const rep = (t: ort.Tensor) => {
    const src = t.data as Float32Array;
    const dst = new Float32Array(src.length * n);
    for (let l = 0; l < L; l++)
      for (let b = 0; b < B; b++) {
        const from = src.subarray((l * B + b) * block, (l * B + b + 1) * block);
        for (let k = 0; k < n; k++) dst.set(from, ((l * B + b) * n + k) * block);
      }
    return new ort.Tensor("float32", dst, [L, B * n, H, P, dh]);
  };
  return { keys: rep(cache.keys), values: rep(cache.values) };
}

/** Cache [L, B, H, P, dh] → [L, |rows|, H, P, dh], keeping the given batch rows. */
function selectRows(cache: Cache, rows: readonly number[]): Cache {
  const [L, B, H, P, dh] = cache.keys.dims as number[];
  const block = H * P * dh;
  const sel = (t: ort.Tensor) => {
    const src = t.data as Float32Array;
    const dst = new Float32Array(L * rows.length * block);
    for (let l = 0; l < L; l++) rows.forEach((r, i) => dst.set(src.subarray((l * B + r) * block, (l * B + r + 1) * block), (l * rows.length + i) * block));
    return new ort.Tensor("float32", dst, [L, rows.length, H, P, dh]);
  };
  return { keys: sel(cache.keys), values: sel(cache.values) };
}
