/**
 * npm run bench:audits — is the audited "earned" figure right? (issue 24, docs/audits.md)
 *
 * Traffic the project does not train on: held-out (test-split) prompts of the reference
 * task from a fresh seed, weighted to mid-difficulty cells (MIX below: 75% of prompts from
 * the eight cells where one sample of the strong model succeeds 25–68% of the time, 12.5%
 * easy, 12.5% hard). Through the local gateway (allot serve-gateway) and the reference LM:
 *
 *   1. online: every prompt as one POST /v1/completions (model "strong", the tenant's
 *      price deciding the samples in waves, target_units `--target`, max_units 16), with
 *      audit_rate 1 so that every request is audited; the audits are waited for and
 *      `earned.audited` read from GET /v1/usage;
 *   2. measured: the same prompts as uniform batches at every integer budget from 1 up to
 *      where uniform reaches both policies' quality, and two more (`--replicates` seeds
 *      each; the samples of one seed are nested across budgets), and a waves batch at the
 *      online mean spend.
 *
 * "saved" is defined as in core/audit/earned.ts: m = allot's mean units (samples; no
 * prefill), Q = allot's quality (mean reward of the answers), B* = the units at which
 * uniform best-of-B reaches Q (linear between integers), saved = 1 − m / B*. Audited: Q
 * is the online answers', uniform's curve is the exact best-of-B on each prompt's 16
 * recorded samples. Measured: the same online answers against uniform batches actually
 * run (fresh samples); and, for comparison, a waves batch (under a budget, not at a price)
 * against the same uniform batches. Intervals of the measured figures: percentile
 * bootstrap over the prompts, as earned.ts does for the audited one. Last, the online
 * answers against the waves batch's, paired on the prompts (the first 200 requests, while
 * the price settles, and the rest): what the policies differ by.
 *
 *   3. the waves batch is itself audited (the tenant's audit_rate 1 when it is submitted, 0
 *      for the uniform batches): its own `audits.audited` (GET /v1/batches/{id}) beside its
 *      saving measured against the uniform batches;
 *   4. recalibration, replayed: the online audits split in two halves (even and odd
 *      requests); the predictor's temperature and prior strength refitted on one half
 *      (core/audit/calibration.ts refit, as the ledger does), and waves replayed on the
 *      other half's recorded 16 samples (src/node/pipeline/sequential.ts, as `allot eval`)
 *      at B = --target with the predictor as shipped, with the refit, and with the oracle
 *      (each prompt's pass rate over its 16 samples known): the saving of each against
 *      uniform best-of-B on the same samples; then the halves swapped.
 *
 * Options: --prompts 2000 (at most AUDIT_RETENTION: the usage API reads the audits kept) --target 4
 *          --clients 4 --seed 2424 --replicates 3 --max-rounds 4
 */
import { promptSet } from "../src/node/reference-lm/task.js";
import { mulberry32 } from "../src/core/allocation/select.js";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { AUDIT_RETENTION, bestOf } from "../src/core/audit/earned.js";
import { refit, scaled } from "../src/core/audit/calibration.js";
import { type RecordedPrompt, oracleBelief, predictedBelief, replayWaves } from "../src/node/pipeline/sequential.js";
import { readFileSync } from "node:fs";
import { arg } from "./args.js";

const N = Number(arg("prompts", "2000"));
const target = Number(arg("target", "4"));
const clients = Number(arg("clients", "4"));
const seed = Number(arg("seed", "2424"));
const replicates = Number(arg("replicates", "3"));
/** The tenant's max_rounds: the default 4, or more to see what the online policy's round cap costs against a batch's uncapped waves. */
const maxRounds = Number(arg("max-rounds", "4"));
if (N > AUDIT_RETENTION) throw new Error(`--prompts ${N}: at most ${AUDIT_RETENTION}, the audits a tenant keeps (earned.audited would cover only the last ones)`);
const MAX_UNITS = 16;

/**
 * The traffic mix: cells with weights (a cell listed w times is drawn w times as often).
 * Strong model's single-sample success per cell (docs/results.md, "Success per cell") in comments.
 */
const MID = ["3+3", "1*3", "1*4", "1*5", "3*1", "4*1", "5*1", "2*2"]; // 57, 68, 46, 32, 55, 36, 29, 25 %
const EASY = ["2+2", "3+2", "2*1", "1*2"]; // 99, 93, 97, 96 %
const HARD = ["4+4", "5+4", "2*3", "3*2"]; // 9, 0, 7, 5 %
const MIX = [...MID, ...MID, ...MID, ...EASY, ...HARD]; // weights 3 : 1 : 1 per cell

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

type Audited = {
  prompts: number;
  mean_units: number;
  quality: number;
  uniform_quality: number;
  gain: number;
  gain_ci95: [number, number];
  saved: number | null;
  saved_ci95: [number, number] | null;
  uniform_units: number | null;
  beyond_audit_size: boolean;
};
type BatchAuditsView = { rate: number; picked: number; prompts: number; units: number; note: string | null; audited: Audited | null };
type ExportedAudit = { predictor: string | null; predicted: number | null; rewards: number[]; samples: number; units: number };
type Usage = { earned: { audited: Audited | null; audits: { prompts: number; units: number; note: string | null }; predicted: { uniform_quality: number | null; gain: number | null; saved: number | null } | null } };

/** Uniform's quality at a fractional B from per-budget means (linear between integers), as earned.ts's uniformAt. */
function uniformAt(curve: ReadonlyMap<number, number>, B: number): number | null {
  const lo = Math.floor(B);
  const w = B - lo;
  const a = curve.get(lo);
  if (a === undefined) return null;
  if (w === 0) return a;
  const b = curve.get(lo + 1);
  return b === undefined ? null : (1 - w) * a + w * b;
}

/** B* at which the curve reaches q (as earned.ts: the first integer step that reaches it, linear within); null if not bracketed. */
function unitsFor(curve: ReadonlyMap<number, number>, q: number): number | null {
  const ks = [...curve.keys()].sort((a, b) => a - b);
  if (q <= curve.get(ks[0])!) return ks[0] === 1 ? 1 : null; // below the lowest budget run (earned.ts: 1)
  for (let j = 0; j + 1 < ks.length; j++) {
    if (ks[j + 1] !== ks[j] + 1) return null; // a gap: not the same interpolation as earned.ts
    const a = curve.get(ks[j])!;
    const b = curve.get(ks[j + 1])!;
    if (b >= q) return b === a ? ks[j + 1] : ks[j] + (q - a) / (b - a);
  }
  return null;
}

const lm = await startLmServer();
const gw = await startGateway(lm.url);
const admin = { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" };
const t0 = performance.now();
const elapsed = () => ((performance.now() - t0) / 1000).toFixed(0);
try {
  const records = promptSet("test", N, seed, MIX);
  const tenant = await createTenant(gw, { day: 1_000_000_000 }, { max_batch_size: 10_000, max_concurrent_batches: 4 });
  const th = { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" };
  const setAuditRate = async (rate: number) => {
    const put = await fetch(`${gw.url}/admin/tenants/${tenant.id}/online`, { method: "PUT", headers: admin, body: JSON.stringify({ target_units: target, min_units: 1, max_units: MAX_UNITS, max_rounds: maxRounds, audit_rate: rate }) });
    if (!put.ok) throw new Error(`online settings: ${put.status} ${await put.text()}`);
  };
  await setAuditRate(1);

  // 1. Online, every request audited.
  const online: { units: number; reward: number; rounds: number; price: number }[] = new Array(N);
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < N) {
        const i = next++;
        const res = await fetch(`${gw.url}/v1/completions`, {
          method: "POST",
          headers: th,
          body: JSON.stringify({ model: "strong", prompt: records[i].prompt, temperature: 0.8, max_tokens: 16, seed: 1_000_000 + i }),
        });
        if (!res.ok) throw new Error(`request ${i}: ${res.status} ${await res.text()}`);
        const { allot } = (await res.json()) as { allot: { price: number; choices: { units: number; reward: number | null; rounds: number }[] } };
        online[i] = { units: allot.choices[0].units, reward: allot.choices[0].reward ?? 0, rounds: allot.choices[0].rounds, price: allot.price };
      }
    }),
  );
  const onlineSeconds = elapsed();
  // Audits draw after the answer (waitUntil): wait until every one is recorded, or their count stops growing.
  let usage: Usage;
  let last = -1;
  let still = 0;
  for (let waited = 0; ; waited++) {
    usage = (await (await fetch(`${gw.url}/v1/usage`, { headers: th })).json()) as Usage;
    const n = usage.earned.audits.prompts;
    still = n === last ? still + 1 : 0;
    last = n;
    if (n >= N || still >= 10 || waited > 300) break;
    await sleep(1000);
  }
  const audited = usage.earned.audited;
  if (!audited) throw new Error(`no audited figure: ${usage.earned.audits.note}`);
  const m = mean(online.map((o) => o.units));
  const Q = mean(online.map((o) => o.reward));
  console.error(`[${elapsed()} s] online done (${onlineSeconds} s), ${usage.earned.audits.prompts} audits; m = ${m.toFixed(3)}, quality ${Q.toFixed(3)}`);

  // 2. Batches on the same prompts.
  const prompts = records.map((r, i) => ({ id: String(i), prompt: r.prompt }));
  const batch = async (allocation: "uniform" | "waves", average: number, s: number, audited = false) => {
    const res = await fetch(`${gw.url}/v1/batches`, {
      method: "POST",
      headers: th,
      body: JSON.stringify({ prompts, allocation, budget: { average, min: 1, max: MAX_UNITS }, sampling: { seed: s, max_tokens: 16, temperature: 0.8 } }),
    });
    if (!res.ok) throw new Error(`batch ${allocation} ${average}: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    // Only the batch meant to be audited is: the rate is read at submission, so it is set back to 0 at once.
    if (audited) await setAuditRate(0);
    let st: { status: string; progress: { failed: number }; audits: BatchAuditsView | null };
    do {
      await sleep(300);
      st = (await (await fetch(`${gw.url}/v1/batches/${id}`, { headers: th })).json()) as typeof st;
    } while (!["done", "failed", "cancelled"].includes(st.status) || (st.status === "done" && st.audits !== null && st.audits.prompts < st.audits.picked));
    if (st.status !== "done" || st.progress.failed > 0) throw new Error(`batch ${allocation} ${average}: ${st.status}, ${st.progress.failed} failed`);
    const lines = (await (await fetch(`${gw.url}/v1/batches/${id}/results`, { headers: th })).text()).trim().split("\n");
    const reward = new Array<number>(N);
    const units = new Array<number>(N);
    for (const l of lines) {
      const r = JSON.parse(l) as { id: string; reward: number | null; units: number };
      reward[Number(r.id)] = r.reward ?? 0;
      units[Number(r.id)] = r.units;
    }
    return { reward, units, audits: st.audits };
  };

  // Uniform: per prompt, its reward averaged over the replicates, per budget.
  const uniform = new Map<number, number[]>();
  /** The same, one seed at a time: the measured figure's own sampling noise. */
  const bySeed = new Map<number, number[][]>();
  const seeds = Array.from({ length: replicates }, (_, r) => 2_000_000 + 100_000 * r);
  const runUniform = async (B: number) => {
    if (uniform.has(B) || B < 1 || B > MAX_UNITS) return;
    const runs: number[][] = [];
    for (const s of seeds) runs.push((await batch("uniform", B, s)).reward);
    uniform.set(B, records.map((_, i) => mean(runs.map((r) => r[i]))));
    bySeed.set(B, runs);
    console.error(`[${elapsed()} s] uniform B = ${B}: ${mean(uniform.get(B)!).toFixed(3)}`);
  };
  const quality = (B: number) => mean(uniform.get(B)!);

  /** The tenant's audits, oldest first (GET /admin/tenants/{id}/audits, as `allot audits export`). */
  async function exportAudits(): Promise<ExportedAudit[]> {
    const out: ExportedAudit[] = [];
    for (let after = 0; ; ) {
      const page = (await (await fetch(`${gw.url}/admin/tenants/${tenant.id}/audits?limit=100&after=${after}`, { headers: admin })).json()) as { data: ExportedAudit[]; last_id: number | null; has_more: boolean };
      out.push(...page.data);
      if (!page.has_more || page.last_id === null) return out;
      after = page.last_id;
    }
  }

  // The waves batch at the online mean spend (a budget in hundredths of a unit).
  const wavesAverage = Math.round(m * 100) / 100;
  // Exported before the batch's audits join them: the online audits, with the predictor's shipped p.
  const exported = await exportAudits();
  const waves = await batch("waves", wavesAverage, 3_000_000, true);
  const mW = mean(waves.units);
  const QW = mean(waves.reward);
  console.error(`[${elapsed()} s] waves at ${wavesAverage}: ${mW.toFixed(3)} units, quality ${QW.toFixed(3)}`);

  // Uniform at every integer budget from 1 up to where it reaches both policies' quality, and two more (so the bootstrap's resamples stay bracketed).
  await runUniform(1);
  let top = 1;
  while (top < MAX_UNITS && (top < Math.ceil(Math.max(m, mW)) || quality(top) < Math.max(Q, QW))) await runUniform(++top);
  for (let k = 0; k < 2 && top < MAX_UNITS; k++) await runUniform(++top);

  // Measured figures, and their bootstrap intervals over the prompts.
  const figures = (idx: readonly number[], allot: { units: readonly number[]; reward: readonly number[] }, cols: ReadonlyMap<number, readonly number[]> = uniform) => {
    const curve = new Map([...cols].map(([B, r]) => [B, mean(idx.map((i) => r[i]))]));
    const mm = mean(idx.map((i) => allot.units[i]));
    const q = mean(idx.map((i) => allot.reward[i]));
    const u = uniformAt(curve, Math.max(1, mm));
    const Bstar = unitsFor(curve, q);
    return { m: mm, q, u, gain: u === null ? null : q - u, Bstar, saved: Bstar === null ? null : 1 - mm / Bstar };
  };
  const all = records.map((_, i) => i);
  const onlineCols = { units: online.map((o) => o.units), reward: online.map((o) => o.reward) };
  const interval = (allot: typeof onlineCols) => {
    const rand = mulberry32(7);
    const saved: number[] = [];
    const gain: number[] = [];
    let unbracketed = 0;
    for (let r = 0; r < 1000; r++) {
      const idx = all.map(() => Math.floor(rand() * N));
      const f = figures(idx, allot);
      if (f.saved === null || f.gain === null) unbracketed++;
      else {
        saved.push(f.saved);
        gain.push(f.gain);
      }
    }
    const ci = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return [s[Math.floor(0.025 * (s.length - 1))], s[Math.ceil(0.975 * (s.length - 1))]] as const;
    };
    return { saved: ci(saved), gain: ci(gain), unbracketed };
  };
  const measured = figures(all, onlineCols);
  const measuredCi = interval(onlineCols);
  const wavesFig = figures(all, waves);
  const wavesCi = interval(waves);
  const perSeed = seeds.map((_, r) => figures(all, onlineCols, new Map([...bySeed].map(([B, runs]) => [B, runs[r]]))).saved);

  const f3 = (x: number | null | undefined) => (x === null || x === undefined ? "—" : x.toFixed(3));
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)}%`);
  const ci = (c: readonly [number, number] | null | undefined, f = pct) => (c ? `[${f(c[0])}, ${f(c[1])}]` : "");
  const contains = (c: readonly [number, number] | null, x: number | null) => (c && x !== null ? (x >= c[0] && x <= c[1] ? "yes" : "no") : "—");

  console.log(`${N} test-split prompts of the reference task, seed ${seed}, cells ${MID.join(",")} ×3 and ${[...EASY, ...HARD].join(",")} ×1; strong model, temperature 0.8, max_tokens 16`);
  console.log(`online: target_units ${target}, min 1, max ${MAX_UNITS}, max_rounds ${maxRounds}, audit_rate 1, ${clients} concurrent clients; uniform batches: ${replicates} seed(s) per budget, budgets ${[...uniform.keys()].sort((a, b) => a - b).join(", ")}\n`);
  console.log("| figure | prompts | mean units m | allot quality | uniform at m | gain [95%] | uniform's units B* for allot's quality | saved [95%] |");
  console.log("|---|---|---|---|---|---|---|---|");
  console.log(
    `| audited (earned.audited: online answers vs uniform on their 16 audit samples) | ${audited.prompts} | ${f3(audited.mean_units)} | ${f3(audited.quality)} | ${f3(audited.uniform_quality)} | ${f3(audited.gain)} ${ci(audited.gain_ci95, f3)} | ${f3(audited.uniform_units)}${audited.beyond_audit_size ? " (beyond 16)" : ""} | ${pct(audited.saved)} ${ci(audited.saved_ci95)} |`,
  );
  console.log(`| measured: the same online answers vs uniform batches | ${N} | ${f3(measured.m)} | ${f3(measured.q)} | ${f3(measured.u)} | ${f3(measured.gain)} ${ci(measuredCi.gain, f3)} | ${f3(measured.Bstar)} | ${pct(measured.saved)} ${ci(measuredCi.saved)} |`);
  console.log(`| measured: waves batch at ${wavesAverage} vs uniform batches | ${N} | ${f3(wavesFig.m)} | ${f3(wavesFig.q)} | ${f3(wavesFig.u)} | ${f3(wavesFig.gain)} ${ci(wavesCi.gain, f3)} | ${f3(wavesFig.Bstar)} | ${pct(wavesFig.saved)} ${ci(wavesCi.saved)} |`);
  console.log(`\nUniform batches (quality, mean over ${replicates} seed(s)): ${[...uniform.keys()].sort((a, b) => a - b).map((B) => `B=${B}: ${quality(B).toFixed(3)}`).join(", ")}`);
  console.log(`Measured saving of the online answers against each seed's uniform batches alone: ${perSeed.map(pct).join(", ")}`);
  console.log(`Audited interval contains the measured saving (online answers vs uniform batches): ${contains(audited.saved_ci95, measured.saved)}; the waves batch's: ${contains(audited.saved_ci95, wavesFig.saved)}`);
  console.log(`Audited gain interval contains the measured gain: ${contains(audited.gain_ci95, measured.gain)}; the waves batch's: ${contains(audited.gain_ci95, wavesFig.gain)}`);
  const p = usage.earned.predicted;
  console.log(`Model-based prediction (earned.predicted) beside it: uniform at m ${f3(p?.uniform_quality)}, gain ${f3(p?.gain)}, saved ${pct(p?.saved)}`);
  console.log(`Audits: ${usage.earned.audits.prompts} recorded of ${N} requests, ${usage.earned.audits.units.toFixed(0)} audit units (${(usage.earned.audits.units / N).toFixed(2)} per request, against ${m.toFixed(2)} the policy spent)`);
  if (measuredCi.unbracketed + wavesCi.unbracketed > 0) console.log(`(bootstrap resamples where uniform's measured budgets did not bracket allot's quality, left out: ${measuredCi.unbracketed} online, ${wavesCi.unbracketed} waves)`);
  // Online (at a price, request by request) against the waves batch (a budget shared over the batch), paired on the prompts.
  const stretch = (from: number, to: number) => {
    const idx = all.slice(from, to);
    const rand = mulberry32(11);
    const d = (ix: readonly number[]) => mean(ix.map((i) => waves.reward[i] - online[i].reward));
    const boot = Array.from({ length: 1000 }, () => d(idx.map(() => idx[Math.floor(rand() * idx.length)]))).sort((a, b) => a - b);
    const on = idx.map((i) => online[i]);
    return (
      `| ${from + 1}–${to} | ${mean(on.map((o) => o.units)).toFixed(2)} | ${mean(idx.map((i) => waves.units[i])).toFixed(2)} | ${mean(on.map((o) => o.reward)).toFixed(3)} | ${mean(idx.map((i) => waves.reward[i])).toFixed(3)} | ` +
      `${d(idx).toFixed(3)} [${boot[24].toFixed(3)}, ${boot[975].toFixed(3)}] | ${mean(on.map((o) => o.rounds)).toFixed(2)} | ${on[on.length - 1].price.toPrecision(3)} |`
    );
  };
  console.log("\nOnline policy against the waves batch on the same prompts (requests in the order sent):\n");
  console.log("| requests | online units | batch units | online quality | batch quality | batch − online [95%] | online rounds | price at the end |");
  console.log("|---|---|---|---|---|---|---|---|");
  console.log(stretch(0, Math.min(200, N)));
  if (N > 200) console.log(stretch(200, N) + "\n" + stretch(0, N));

  // 3. The waves batch's own audited figure against its measured saving.
  const wa = waves.audits;
  console.log(`\nThe waves batch's own audits (GET /v1/batches/{id} audits): ${wa ? `${wa.prompts} of ${wa.picked} picked, ${wa.units.toFixed(0)} audit units` : "none"}\n`);
  console.log("| waves batch | prompts | mean units m | quality | uniform at m | gain [95%] | B* | saved [95%] |");
  console.log("|---|---|---|---|---|---|---|---|");
  const wb = wa?.audited ?? null;
  if (wb) console.log(`| audited (its own audits) | ${wb.prompts} | ${f3(wb.mean_units)} | ${f3(wb.quality)} | ${f3(wb.uniform_quality)} | ${f3(wb.gain)} ${ci(wb.gain_ci95, f3)} | ${f3(wb.uniform_units)}${wb.beyond_audit_size ? " (beyond 16)" : ""} | ${pct(wb.saved)} ${ci(wb.saved_ci95)} |`);
  console.log(`| measured (uniform batches) | ${N} | ${f3(wavesFig.m)} | ${f3(wavesFig.q)} | ${f3(wavesFig.u)} | ${f3(wavesFig.gain)} ${ci(wavesCi.gain, f3)} | ${f3(wavesFig.Bstar)} | ${pct(wavesFig.saved)} ${ci(wavesCi.saved)} |`);
  console.log(`The batch's audited saving interval contains its measured saving: ${contains(wb?.saved_ci95 ?? null, wavesFig.saved)}; its gain interval the measured gain: ${contains(wb?.gain_ci95 ?? null, wavesFig.gain)}`);

  // 4. Recalibration, replayed on held-out audited prompts.
  const labelled = exported.filter((a) => a.predicted !== null && a.predictor !== null && a.rewards.length === MAX_UNITS);
  const predictorName = labelled[0]?.predictor;
  if (predictorName) {
    const manifest = JSON.parse(readFileSync(new URL(`../models/predictors/${predictorName}.manifest.json`, import.meta.url), "utf8")) as { prior_strength: number };
    const halves = [labelled.filter((_, i) => i % 2 === 0), labelled.filter((_, i) => i % 2 === 1)];
    console.log(`\nRecalibration (${predictorName}, shipped prior strength ${manifest.prior_strength.toFixed(3)}): refitted on one half of the online audits, waves replayed at B = ${target} on the other half's 16 recorded samples (8 orders each):\n`);
    console.log("| fitted on → replayed on | prompts | T | strength | ECE before → after | waves shipped: quality, saved | waves refit: quality, saved | waves oracle: quality, saved | refit's share of the oracle's saving (shipped's) |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const [fit, test, name] of [[halves[0], halves[1], "even → odd"], [halves[1], halves[0], "odd → even"]] as const) {
      const r = refit(fit.map((a) => ({ p: a.predicted!, successes: a.rewards.reduce((x, y) => x + Math.min(1, Math.max(0, y)), 0), samples: a.rewards.length })));
      const shippedRec: RecordedPrompt[] = test.map((a) => ({ p: a.predicted!, outcomes: a.rewards }));
      const refitRec: RecordedPrompt[] = test.map((a) => ({ p: scaled(a.predicted!, r.temperature), outcomes: a.rewards }));
      const opts = { max: MAX_UNITS, orders: 8 };
      const runs = {
        shipped: replayWaves(shippedRec, predictedBelief(shippedRec, manifest.prior_strength), target, opts),
        refit: replayWaves(refitRec, predictedBelief(refitRec, r.strength), target, opts),
        oracle: replayWaves(shippedRec, oracleBelief(shippedRec), target, opts),
      };
      // Uniform best-of-B on the same recorded samples, exactly (earned.ts bestOf), B = 1..16.
      const curve = new Map(Array.from({ length: MAX_UNITS }, (_, k) => [k + 1, mean(test.map((a) => bestOf(a.rewards, k + 1)))] as const));
      const savedOf = (x: { quality: number; used: number }) => {
        const B = unitsFor(curve, x.quality);
        return B === null ? null : 1 - x.used / B;
      };
      const [ss, sr, so] = [savedOf(runs.shipped), savedOf(runs.refit), savedOf(runs.oracle)];
      const share = (x: number | null) => (x !== null && so !== null && so > 0 ? pct(x / so) : "—");
      console.log(
        `| ${name} | ${fit.length} → ${test.length} | ${r.temperature.toFixed(3)} | ${r.strength.toFixed(3)} | ${r.ece_before.toFixed(3)} → ${r.ece_after.toFixed(3)} | ${f3(runs.shipped.quality)} (${runs.shipped.used.toFixed(2)} u), ${pct(ss)} | ${f3(runs.refit.quality)} (${runs.refit.used.toFixed(2)} u), ${pct(sr)} | ${f3(runs.oracle.quality)} (${runs.oracle.used.toFixed(2)} u), ${pct(so)} | ${share(sr)} (${share(ss)}) |`,
      );
    }
  }

  // The audit overhead at the default AUDIT_RATE: each audited prompt's extra units (measured here at rate 1) times the rate, over what the policy spends.
  const perOnline = usage.earned.audits.units / usage.earned.audits.prompts;
  const perBatch = wa && wa.prompts > 0 ? wa.units / wa.prompts : null;
  console.log(`\nAudit overhead at the default AUDIT_RATE 0.05: online 0.05 × ${perOnline.toFixed(2)} / ${m.toFixed(2)} = ${pct((0.05 * perOnline) / m)} more sampling` + (perBatch === null ? "" : `; the waves batch 0.05 × ${perBatch.toFixed(2)} / ${mW.toFixed(2)} = ${pct((0.05 * perBatch) / mW)}`));
  console.log(`wall ${elapsed()} s (online ${onlineSeconds} s)`);
} finally {
  await gw.stop();
  await lm.stop();
}
