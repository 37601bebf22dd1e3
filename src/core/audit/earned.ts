/**
 * What allot earned, measured on audited prompts: unbiased, with its error. Pure.
 *
 * An audited prompt is picked at random (a tenant's `audit_rate`), whatever its
 * prediction, and gets its full sample set drawn and scored: K rewards. allot's policy is
 * replayed on them (core/sequential on the recorded rewards, in order), which gives the
 * answer the client gets and what the policy spent; uniform best-of-B is evaluated on the
 * same rewards exactly: the expected best of B drawn from the K without replacement,
 *   U_i(B) = Σ_j r_(j) · C(j − 1, B − 1) / C(K, B)      (r_(1) ≤ … ≤ r_(K)),
 * an unbiased estimate of best-of-B on prompt i (for binary rewards it is pass@B). Both
 * sides are measured on the same prompts and samples (a paired comparison), and because
 * audits are a random sample of the traffic, the means over them are unbiased estimates
 * over the traffic. Intervals are percentile bootstraps over the audited prompts.
 *
 *   quality  = mean of allot's answers' rewards          m = allot's mean units
 *   uniform  = U(m) = mean_i U_i at m (⌊m⌋ and ⌈m⌉ mixed) gain = quality − uniform
 *   B*       = the B at which U(B) reaches allot's quality saved = 1 − m / B*
 * Past the audit size (U(K) below allot's quality) B* is unknown: saved is then a lower bound.
 */
import { mulberry32 } from "../allocation/select.js";

/** One audited prompt as recorded. */
export interface Audit {
  /** The full sample set's rewards (all K), in the order the policy was replayed on them. */
  readonly rewards: readonly number[];
  /** What allot's policy drew of them (units: samples × cost, one model) and the reward of its answer. */
  readonly units: number;
  readonly reward: number;
}

export interface AuditedEarned {
  /** Audited prompts it is measured on. */
  readonly prompts: number;
  /** allot's mean units per prompt, and its answers' mean reward. */
  readonly mean_units: number;
  readonly quality: number;
  /** Uniform best-of-mean_units on the same prompts and samples. */
  readonly uniform_quality: number;
  readonly gain: number;
  readonly gain_ci95: readonly [number, number];
  /** 1 − mean_units / B*; null when too few prompts to tell. */
  readonly saved: number | null;
  readonly saved_ci95: readonly [number, number] | null;
  /** B*: uniform's units for allot's quality; `saved` is a lower bound when it lies past the audit size. */
  readonly uniform_units: number | null;
  readonly beyond_audit_size: boolean;
}

/** log C(n, k). */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/**
 * The expected best of `b` samples drawn without replacement from `rewards` (1 ≤ b ≤ K).
 *
 * @example bestOf([0, 0, 1, 1], 2) // 1 − C(2,2)/C(4,2) = 5/6
 */
export function bestOf(rewards: readonly number[], b: number): number {
  const K = rewards.length;
  if (b < 1 || b > K) throw new RangeError(`b must be in 1..${K}, got ${b}`);
  const r = [...rewards].sort((x, y) => x - y);
  const total = logChoose(K, b);
  let e = 0;
  for (let j = b; j <= K; j++) e += r[j - 1] * Math.exp(logChoose(j - 1, b - 1) - total);
  return e;
}

/** Σ over prompts of best-of-k, k = 1..K: the table's column sums (once per estimate, so each U(B) below is O(1)). */
function columnSums(table: readonly Float64Array[], K: number): Float64Array {
  const sums = new Float64Array(K);
  for (const t of table) for (let k = 0; k < K; k++) sums[k] += t[k];
  return sums;
}

/** Mean over the n prompts of best-of-B at a fractional B (⌊B⌋ and ⌈B⌉ mixed), B in [1, K], from the column sums. */
function uniformAt(sums: Float64Array, n: number, B: number): number {
  const lo = Math.floor(B);
  const w = B - lo;
  const at = (k: number) => sums[Math.min(k, sums.length) - 1];
  return ((1 - w) * at(lo) + (w > 0 ? w * at(lo + 1) : 0)) / n;
}

/** Point estimates on one set of prompts (a resample, or all of them). */
function estimate(audits: readonly Audit[], table: readonly Float64Array[], K: number) {
  const n = audits.length;
  const m = audits.reduce((s, a) => s + a.units, 0) / n;
  const quality = audits.reduce((s, a) => s + a.reward, 0) / n;
  const sums = columnSums(table, K);
  const uniform = uniformAt(sums, n, Math.min(K, Math.max(1, m)));
  let B: number | null = null;
  if (quality <= uniformAt(sums, n, 1)) B = 1;
  else
    for (let k = 1; k < K; k++) {
      const a = uniformAt(sums, n, k);
      const b = uniformAt(sums, n, k + 1);
      if (b >= quality) {
        B = b === a ? k + 1 : k + (quality - a) / (b - a);
        break;
      }
    }
  const beyond = B === null;
  const saved = 1 - m / (B ?? K);
  return { m, quality, uniform, gain: quality - uniform, B, saved, beyond };
}

/** Prompts needed before a figure is reported: fewer, and the interval says nothing. */
export const MIN_AUDITS = 30;

/** Audited prompts kept: the last ones. Enough for an interval of a few points on `saved`; a bootstrap over them takes about 0.4 s, which the Worker computes, not the ledger. */
export const AUDIT_RETENTION = 2_000;

/**
 * The audited estimate, with 95% intervals from `resamples` bootstrap resamples of the
 * prompts (seeded: the same audits give the same figures). Null without audits; `saved`
 * is null with fewer than MIN_AUDITS.
 *
 * @example auditedEarned([{ rewards: [0, 1, 1, 1], units: 1, reward: 0 }, …])
 */
export function auditedEarned(audits: readonly Audit[], resamples = 1000, seed = 1): AuditedEarned | null {
  if (audits.length === 0) return null;
  const K = Math.min(...audits.map((a) => a.rewards.length));
  const table = audits.map((a) => Float64Array.from({ length: K }, (_, k) => bestOf(a.rewards.slice(0, a.rewards.length), Math.min(k + 1, a.rewards.length))));
  const all = estimate(audits, table, K);
  const rand = mulberry32(seed);
  const gains: number[] = [];
  const saveds: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const idx = Array.from({ length: audits.length }, () => Math.floor(rand() * audits.length));
    const e = estimate(idx.map((i) => audits[i]), idx.map((i) => table[i]), K);
    gains.push(e.gain);
    saveds.push(e.saved);
  }
  const ci = (xs: number[]): [number, number] => {
    const s = [...xs].sort((a, b) => a - b);
    return [s[Math.floor(0.025 * (s.length - 1))], s[Math.ceil(0.975 * (s.length - 1))]];
  };
  const enough = audits.length >= MIN_AUDITS;
  return {
    prompts: audits.length,
    mean_units: all.m,
    quality: all.quality,
    uniform_quality: all.uniform,
    gain: all.gain,
    gain_ci95: ci(gains),
    saved: enough ? all.saved : null,
    saved_ci95: enough ? ci(saveds) : null,
    uniform_units: all.B,
    beyond_audit_size: all.beyond,
  };
}
