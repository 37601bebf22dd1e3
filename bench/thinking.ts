/**
 * npm run bench:thinking — thinking budgets served through the gateway, measured end to end
 * (issue 25, docs/thinking.md "Measured through the gateway").
 *
 * Traffic the thinking predictor never trained on: test-split sums (sums.ts; the splits are
 * disjoint by prompt) from a seed the predictor's data did not use (it used 1, 2 and 3).
 * Through the local gateway (allot serve-gateway) and the reference LM:
 *
 *   1. uniform: every prompt as one POST /v1/completions to model "thinking" with the
 *      client's own thinking_token_budget at each level (0, 4, 8, 16, 32, 64 and -1,
 *      unlimited) and x-allot-units 1 (one sample: no prefill read, nothing predicted);
 *      each call paired, in the same client loop, with the same call sent straight to the
 *      reference LM, so that "added latency" compares calls made at the same time under
 *      the same load;
 *   2. online: every prompt once more without a budget, allot choosing each prompt's
 *      budgets in rounds at the tenant's price, for each `--targets` units;
 *   3. saved: allot's mean tokens per prompt against the uniform curve's tokens at allot's
 *      accuracy (B*, linear between levels' (tokens, accuracy) points, as core/audit/earned.ts
 *      defines it: saved = 1 − m / B*), with a percentile bootstrap over the prompts; the
 *      same in thinking tokens; and against the cheapest fixed budget that reaches allot's
 *      accuracy (chosen on these prompts);
 *   4. batches: the same prompts as a waves and a learned batch at the online mean spend,
 *      and a uniform batch at the same budget.
 *
 * Accuracy is the binary reward of the answer returned (its text against the sum, as the
 * reference verifier scores it). Tokens are completion tokens (all samples, thinking,
 * markers and answer); units are the gateway's charge (tokens / 16, and 0.1 prefill a prompt).
 * allot's own latency is read from the tenant's usage series (admin API: total time minus
 * the time any model-server call was in flight, so prediction's hidden states and the
 * verifier count as the model server's).
 *
 * Options: --prompts 600 --targets 1,2 --clients 4 --seed 2525 --batches 1 (0: skip them) --out calls.json
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { mulberry32 } from "../src/core/allocation/select.js";
import { answerAllowance } from "../src/core/allocation/thinking.js";
import { sumPromptSet } from "../src/node/reference-lm/sums.js";
import { binaryReward, type PromptRecord } from "../src/node/reference-lm/task.js";
import { createTenant, startGateway, type RunningGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { arg } from "./args.js";

const N = Number(arg("prompts", "600"));
const targets = arg("targets", "1,2").split(",").map(Number);
const clients = Number(arg("clients", "4"));
const seed = Number(arg("seed", "2525"));
const withBatches = arg("batches", "1") !== "0";
/** A file to write every call's outcome to (JSON), to look into a figure afterwards. */
const out = arg("out", "");
/**
 * The uniform policies: one sample at each level (0 … 64, and −1: unlimited), and 2 and 4
 * samples at 64 (the verifier keeps a passing one), which reach the accuracy of allot's
 * rounds, where one sample at any budget does not.
 */
const UNIFORM = [...[0, 4, 8, 16, 32, 64, -1].map((budget) => ({ budget, k: 1 })), { budget: 64, k: 2 }, { budget: 64, k: 4 }];
const labelOf = (u: { budget: number; k: number }) => `${u.budget < 0 ? "unlimited (−1)" : u.budget}${u.k > 1 ? `, k = ${u.k}` : ""}`;
const TOKENS_PER_UNIT = 16; // wrangler.toml's THINKING_MODELS
const MAX_UNITS = 8;

const readJson = (path: string) => JSON.parse(readFileSync(fileURLToPath(new URL(path, import.meta.url)), "utf8"));
/**
 * max_tokens of a pinned call, sent by the client on both paths. Without it the gateway
 * sends the largest level and the answer's allowance (plan-thinking.ts: 64 + 9 = 73), which
 * the reference LM refuses for the longest sums (24 prompt tokens, 96 in its context): so the
 * client caps it at what the longest prompt leaves. The longest think (59 tokens, 6x3) fits.
 */
const manifest = readJson("../models/predictors/thinking.manifest.json").thinking;
const CONTEXT = readJson("../models/thinking.manifest.json").context_length as number;
const LONGEST_PROMPT = 6 * 4; // six 3-digit operands, five "+", one "=": one token a character
const PINNED_MAX_TOKENS = Math.min(Math.max(...manifest.levels) + answerAllowance(manifest), CONTEXT - LONGEST_PROMPT);

/** One request's outcome (a refused request: reward 0, nothing generated, its reason). */
type Call = { error?: string; reward: number; tokens: number; thinking: number; units: number; ms: number; samples: number; rounds: number; budgets: (number | null)[] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Runs `work(i)` for i < n with `clients` loops at a time. */
async function pool(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) await work(next++);
  }));
}

type Completion = {
  choices: { text: string }[];
  usage: { completion_tokens: number; completion_tokens_details?: { reasoning_tokens: number } };
  allot: { units: number; choices: { samples: number; rounds: number; thinking?: { budgets: (number | null)[] } }[] };
};

/** One completion through the gateway, scored on the answer it returns. */
async function viaGateway(gw: RunningGateway, key: string, r: PromptRecord, s: number, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Call> {
  const t = performance.now();
  const res = await fetch(`${gw.url}/v1/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "thinking", prompt: r.prompt, temperature: 0.8, seed: s, ...extra }),
  });
  const text = await res.text();
  const ms = performance.now() - t;
  // A 400 from the model server (a request it refuses) is counted and reported, not fatal; anything else is.
  if (res.status === 400) return { error: text, reward: 0, tokens: 0, thinking: 0, units: 0, ms, samples: 0, rounds: 0, budgets: [] };
  if (!res.ok) throw new Error(`gateway ${r.prompt}: ${res.status} ${text}`);
  const c = JSON.parse(text) as Completion;
  const ch = c.allot.choices[0];
  return {
    reward: binaryReward(r, c.choices[0].text),
    tokens: c.usage.completion_tokens,
    thinking: c.usage.completion_tokens_details?.reasoning_tokens ?? 0,
    units: c.allot.units,
    ms,
    samples: ch.samples,
    rounds: ch.rounds,
    budgets: ch.thinking?.budgets ?? [],
  };
}

/** The same one-sample call straight to the reference LM, bypassing the gateway. */
async function direct(lmUrl: string, r: PromptRecord, s: number, budget: number): Promise<Call> {
  const t = performance.now();
  const res = await fetch(`${lmUrl}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "thinking", prompt: r.prompt, temperature: 0.8, seed: s, max_tokens: PINNED_MAX_TOKENS, thinking_token_budget: budget }),
  });
  const text = await res.text();
  const ms = performance.now() - t;
  if (!res.ok) throw new Error(`direct ${r.prompt}: ${res.status} ${text}`);
  const c = JSON.parse(text) as Omit<Completion, "allot">;
  const tokens = c.usage.completion_tokens;
  return { reward: binaryReward(r, c.choices[0].text), tokens, thinking: c.usage.completion_tokens_details?.reasoning_tokens ?? 0, units: tokens / TOKENS_PER_UNIT, ms, samples: 1, rounds: 1, budgets: [budget] };
}

/** The tenant's added and model-server latency over the run, from its usage series (one day-long bucket). */
async function latencyOf(gw: RunningGateway, tenant: string): Promise<{ added: { p50: number | null; p99: number | null }; lm: { p50: number | null; p99: number | null } } | null> {
  const res = await fetch(`${gw.url}/admin/tenants/${tenant}/usage?step=day`, { headers: { authorization: `Bearer ${gw.admin}` } });
  if (!res.ok) return null;
  const { points } = (await res.json()) as { points: { requests: number; added_ms: { p50: number | null; p99: number | null }; lm_ms: { p50: number | null; p99: number | null } }[] };
  const used = points.filter((p) => p.requests > 0);
  // A run across midnight UTC spans two buckets, whose quantiles do not combine: say nothing then.
  return used.length === 1 ? { added: used[0].added_ms, lm: used[0].lm_ms } : null;
}

/** A uniform curve: each level's (mean cost, accuracy) over the prompts `idx`, cheapest first. */
type Curve = { cost: number; acc: number; level: string }[];
function curveOf(runs: ReadonlyMap<string, readonly Call[]>, idx: readonly number[], cost: (c: Call) => number): Curve {
  return [...runs].map(([level, cs]) => ({ level, cost: mean(idx.map((i) => cost(cs[i]))), acc: mean(idx.map((i) => cs[i].reward)) })).sort((a, b) => a.cost - b.cost);
}

/** B*: the cost at which the curve first reaches accuracy q (linear within the segment that does); null if it never does. */
function costFor(curve: Curve, q: number): number | null {
  if (q <= curve[0].acc) return curve[0].cost;
  for (let j = 0; j + 1 < curve.length; j++) {
    const a = curve[j];
    const b = curve[j + 1];
    // Every point before b is below q (else it would have returned), so b.acc > a.acc here. A dearer level that is
    // less accurate (unlimited against 64) is passed over: the next segment starts from it.
    if (b.acc >= q) return a.cost + ((q - a.acc) / (b.acc - a.acc)) * (b.cost - a.cost);
  }
  return null;
}

type Saved = { m: number; q: number; Bstar: number | null; saved: number | null };
function savedOf(runs: ReadonlyMap<string, readonly Call[]>, idx: readonly number[], cost: (c: Call) => number, allot: { cost: readonly number[]; reward: readonly number[] }): Saved {
  const m = mean(idx.map((i) => allot.cost[i]));
  const q = mean(idx.map((i) => allot.reward[i]));
  const Bstar = costFor(curveOf(runs, idx, cost), q);
  return { m, q, Bstar, saved: Bstar === null ? null : 1 - m / Bstar };
}

/** The saving on the prompts `all` and its 95% percentile bootstrap interval over them (resamples where uniform never reaches allot's accuracy are counted). */
function savedWithInterval(runs: ReadonlyMap<string, readonly Call[]>, cost: (c: Call) => number, allot: { cost: readonly number[]; reward: readonly number[] }, all: readonly number[]) {
  const point = savedOf(runs, all, cost, allot);
  const rand = mulberry32(7);
  const xs: number[] = [];
  let unreached = 0;
  for (let b = 0; b < 1000; b++) {
    const s = savedOf(runs, all.map(() => all[Math.floor(rand() * all.length)]), cost, allot).saved;
    if (s === null) unreached++;
    else xs.push(s);
  }
  xs.sort((a, b) => a - b);
  const ci = xs.length > 0 ? ([xs[Math.floor(0.025 * (xs.length - 1))], xs[Math.ceil(0.975 * (xs.length - 1))]] as const) : null;
  return { ...point, ci, unreached };
}

/** The cheapest fixed level whose accuracy on these prompts reaches q, and allot's saving against it. */
function bestFixed(runs: ReadonlyMap<string, readonly Call[]>, cost: (c: Call) => number, m: number, q: number, all: readonly number[]) {
  const reach = curveOf(runs, all, cost).filter((p) => p.acc >= q);
  if (reach.length === 0) return null;
  const best = reach[0];
  return { level: best.level, cost: best.cost, acc: best.acc, saved: 1 - m / best.cost };
}

const lm = await startLmServer();
const gw = await startGateway(lm.url);
const admin = { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" };
const t0 = performance.now();
const elapsed = () => ((performance.now() - t0) / 1000).toFixed(0);
const seedOf = (i: number) => 1_000_000 + i;
try {
  const records = sumPromptSet("test", N, seed);

  // 1. Uniform: the client pins each budget and one sample; each call paired with the same one sent direct.
  const uTenant = await createTenant(gw, { day: 1_000_000_000 });
  const uniform = new Map<string, Call[]>();
  /** The one-sample calls sent straight to the LM (k = 1 only: several samples are the gateway's own work). */
  const directs = new Map<string, Call[]>();
  const uniformStart = performance.now();
  for (const u of UNIFORM) {
    const gs: Call[] = new Array(N);
    const ds: Call[] = new Array(N);
    await pool(N, async (i) => {
      gs[i] = await viaGateway(gw, uTenant.key, records[i], seedOf(i), { thinking_token_budget: u.budget, max_tokens: PINNED_MAX_TOKENS }, { "x-allot-units": String(u.k) });
      if (u.k === 1) ds[i] = await direct(lm.url, records[i], seedOf(i), u.budget);
    });
    uniform.set(labelOf(u), gs);
    if (u.k === 1) directs.set(labelOf(u), ds);
    console.error(`[${elapsed()} s] ${labelOf(u)}: accuracy ${mean(gs.map((c) => c.reward)).toFixed(3)}${u.k === 1 ? ` (direct ${mean(ds.map((c) => c.reward)).toFixed(3)})` : ""}, tokens ${mean(gs.map((c) => c.tokens)).toFixed(2)}`);
  }
  const uniformSeconds = (performance.now() - uniformStart) / 1000;
  const uniformLatency = await latencyOf(gw, uTenant.id);

  // 2. Online at each target: allot chooses the budgets.
  const online: { target: number; calls: Call[]; seconds: number; latency: Awaited<ReturnType<typeof latencyOf>> }[] = [];
  for (const target of targets) {
    const tenant = await createTenant(gw, { day: 1_000_000_000 }, { max_batch_size: 10_000, max_concurrent_batches: 4 });
    const put = await fetch(`${gw.url}/admin/tenants/${tenant.id}/online`, { method: "PUT", headers: admin, body: JSON.stringify({ target_units: target, min_units: 1, max_units: MAX_UNITS }) });
    if (!put.ok) throw new Error(`online settings: ${put.status} ${await put.text()}`);
    const calls: Call[] = new Array(N);
    const start = performance.now();
    await pool(N, async (i) => {
      calls[i] = await viaGateway(gw, tenant.key, records[i], seedOf(i));
    });
    const seconds = (performance.now() - start) / 1000;
    online.push({ target, calls, seconds, latency: await latencyOf(gw, tenant.id) });
    const refused = calls.filter((c) => c.error);
    if (refused.length > 0) console.error(`${refused.length} refused, e.g. ${refused[0].error}`);
    console.error(`[${elapsed()} s] online target ${target}: accuracy ${mean(calls.map((c) => c.reward)).toFixed(3)}, tokens ${mean(calls.map((c) => c.tokens)).toFixed(2)}, units ${mean(calls.map((c) => c.units)).toFixed(3)}`);
  }

  // 4. Batches at each online mean spend (the samples' units, without the prefill, which a batch counts apart).
  type BatchRun = { allocation: string; average: number; reward: number[]; tokens: number[]; unitsUsed: number; prefill: number; seconds: number; agree: number; failed: number; failedIds: Set<number>; failure: string | null };
  const batches: BatchRun[] = [];
  const batchTenant = await createTenant(gw, { day: 1_000_000_000 }, { max_batch_size: 10_000, max_concurrent_batches: 4 });
  const th = { authorization: `Bearer ${batchTenant.key}`, "content-type": "application/json" };
  const runBatch = async (allocation: "waves" | "learned" | "uniform", average: number): Promise<BatchRun> => {
    const start = performance.now();
    const res = await fetch(`${gw.url}/v1/batches`, {
      method: "POST",
      headers: th,
      body: JSON.stringify({ model: "thinking", allocation, prompts: records.map((r, i) => ({ id: String(i), prompt: r.prompt })), budget: { average, min: 0, max: MAX_UNITS }, sampling: { seed: 3_000_000, temperature: 0.8 } }),
    });
    if (!res.ok) throw new Error(`batch ${allocation}: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    type Status = { status: string; progress: { failed: number }; allocation: { units_used: number; prefill_units: number } };
    let st: Status;
    do {
      await sleep(300);
      st = (await (await fetch(`${gw.url}/v1/batches/${id}`, { headers: th })).json()) as Status;
    } while (!["done", "failed", "cancelled"].includes(st.status));
    const seconds = (performance.now() - start) / 1000;
    // Prompts the model server refused are counted and reported (scored 0), not fatal.
    if (st.status !== "done") throw new Error(`batch ${allocation}: ${st.status}`);
    const rows = (await (await fetch(`${gw.url}/v1/batches/${id}/results`, { headers: th })).text()).trim().split("\n").map((l) => JSON.parse(l) as { id: string; best: string | null; reward: number | null; units: number; status: string; error?: string });
    const reward = new Array<number>(N).fill(0);
    const tokens = new Array<number>(N).fill(0);
    let agree = 0;
    for (const r of rows) {
      const i = Number(r.id);
      reward[i] = r.best === null ? 0 : binaryReward(records[i], r.best);
      tokens[i] = Math.round(r.units * TOKENS_PER_UNIT);
      if ((r.reward ?? 0) === reward[i]) agree++;
    }
    const failed = rows.filter((r) => r.status === "failed");
    return { allocation, average, reward, tokens, unitsUsed: st.allocation.units_used, prefill: st.allocation.prefill_units, seconds, agree, failed: failed.length, failedIds: new Set(failed.map((r) => Number(r.id))), failure: failed[0]?.error ?? null };
  };
  if (withBatches) {
    for (const o of online) {
      const average = Math.round(mean(o.calls.map((c) => c.tokens / TOKENS_PER_UNIT)) * 100) / 100;
      for (const allocation of ["waves", "learned", "uniform"] as const) {
        const b = await runBatch(allocation, average);
        batches.push(b);
        console.error(`[${elapsed()} s] ${allocation} batch at ${average}: accuracy ${mean(b.reward).toFixed(3)}, tokens ${mean(b.tokens).toFixed(2)}, ${b.seconds.toFixed(0)} s`);
      }
    }
  }

  if (out) writeFileSync(out, JSON.stringify({ records, uniform: Object.fromEntries(uniform), directs: Object.fromEntries(directs), online, batches: batches.map((b) => ({ ...b, failedIds: [...b.failedIds] })) }));

  // Tables.
  const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? "—" : x.toFixed(d));
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)}%`);
  const ci = (c: readonly [number, number] | null) => (c ? ` [${pct(c[0])}, ${pct(c[1])}]` : "");
  const lat = (cs: readonly Call[]) => `${quantile(cs.map((c) => c.ms), 0.5).toFixed(1)} / ${quantile(cs.map((c) => c.ms), 0.95).toFixed(1)}`;

  console.log(`${N} held-out test-split sums (sumPromptSet("test", ${N}, ${seed})), model "thinking", temperature 0.8, seeds 1000000 + i; ${clients} concurrent clients; 2-core machine shared with other work`);
  console.log(`\nUniform: the client pins thinking_token_budget and x-allot-units 1 and max_tokens ${PINNED_MAX_TOKENS} on both paths (2 and 4 samples at 64: through the gateway only); each gateway call paired with the same call direct to the reference LM (${uniformSeconds.toFixed(0)} s for all levels, both paths)\n`);
  console.log("| budget | accuracy (gateway) | accuracy (direct) | tokens | thinking tokens | units charged | gateway p50 / p95 ms | direct p50 / p95 ms | added p50 / p95 ms | refused |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const u of UNIFORM) {
    const g = uniform.get(labelOf(u))!;
    const d = directs.get(labelOf(u)) ?? null;
    const q = (cs: readonly Call[], x: number) => quantile(cs.map((c) => c.ms), x);
    if (!d) {
      console.log(`| ${labelOf(u)} | ${pct(mean(g.map((c) => c.reward)))} | — | ${f(mean(g.map((c) => c.tokens)))} | ${f(mean(g.map((c) => c.thinking)))} | ${f(mean(g.map((c) => c.units)), 3)} | ${lat(g)} | — | — | ${g.filter((c) => c.error).length} |`);
      continue;
    }
    console.log(`| ${labelOf(u)} | ${pct(mean(g.map((c) => c.reward)))} | ${pct(mean(d.map((c) => c.reward)))} | ${f(mean(g.map((c) => c.tokens)))} | ${f(mean(g.map((c) => c.thinking)))} | ${f(mean(g.map((c) => c.units)), 3)} | ${lat(g)} | ${lat(d)} | ${f(q(g, 0.5) - q(d, 0.5), 1)} / ${f(q(g, 0.95) - q(d, 0.95), 1)} | ${g.filter((c) => c.error).length} |`);
  }
  if (uniformLatency) console.log(`\nThe uniform tenant's usage series (all levels): allot's own time (total − model-server time) p50 ${f(uniformLatency.added.p50, 1)} / p99 ${f(uniformLatency.added.p99, 1)} ms; model-server time p50 ${f(uniformLatency.lm.p50, 1)} / p99 ${f(uniformLatency.lm.p99, 1)} ms`);

  const all = records.map((_, i) => i);
  console.log(`\nOnline: allot chooses each prompt's budgets in rounds at the tenant's price (target_units T, min 1, max ${MAX_UNITS}); units charged = tokens / 16 + 0.1 prefill\n`);
  console.log("| target T | accuracy | tokens | thinking tokens | units charged | samples | rounds | first budget (mean) | latency p50 / p95 ms | allot's own p50 / p99 ms | model-server p50 / p99 ms | minus direct calls at its budgets p50 / p95 ms | wall s | refused (400) |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const o of online) {
    const cs = o.calls;
    const firsts = cs.map((c) => c.budgets[0]).filter((b): b is number => typeof b === "number");
    // Each request against the direct one-sample calls of the same prompt at the budgets it drew, one a round (requests
    // that drew several samples in a round are left out): what the gateway added, prefill, prediction and verifier included.
    const overs = all.flatMap((i) => {
      const c = cs[i];
      const ds = c.budgets.map((b) => (typeof b === "number" ? directs.get(labelOf({ budget: b, k: 1 }))?.[i] : undefined));
      return c.error || c.samples !== c.rounds || ds.some((d) => !d) ? [] : [c.ms - ds.reduce((x, d) => x + d!.ms, 0)];
    });
    const over = overs.length > 0 ? `${f(quantile(overs, 0.5), 1)} / ${f(quantile(overs, 0.95), 1)} (${overs.length} requests)` : "—";
    const refused = cs.find((c) => c.error);
    if (refused) console.error(`online T = ${o.target}: a refused request: ${refused.error}`);
    console.log(
      `| ${o.target} | ${pct(mean(cs.map((c) => c.reward)))} | ${f(mean(cs.map((c) => c.tokens)))} | ${f(mean(cs.map((c) => c.thinking)))} | ${f(mean(cs.map((c) => c.units)), 3)} | ${f(mean(cs.map((c) => c.samples)))} | ${f(mean(cs.map((c) => c.rounds)))} | ${f(mean(firsts), 1)} | ${lat(cs)} | ` +
        `${f(o.latency?.added.p50, 1)} / ${f(o.latency?.added.p99, 1)} | ${f(o.latency?.lm.p50, 1)} / ${f(o.latency?.lm.p99, 1)} | ${over} | ${o.seconds.toFixed(0)} | ${cs.filter((c) => c.error).length} |`,
    );
  }

  const tokensOf = (c: Call) => c.tokens;
  const thinkingOf = (c: Call) => c.thinking;
  console.log(`\nSaved at equal accuracy: allot's mean per prompt m against B*, the uniform curve's (tokens, accuracy) points interpolated at allot's accuracy; saved = 1 − m / B* [95% bootstrap over prompts]; best fixed: the cheapest level reaching allot's accuracy on these prompts\n`);
  console.log("| policy | accuracy | tokens m | uniform B* (tokens) | tokens saved | best fixed: level, tokens, accuracy | saved vs it | thinking m | uniform B* (thinking) | thinking saved | saved vs best fixed (thinking) |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  const row = (label: string, allot: { tokens: readonly number[]; thinking: readonly number[] | null; reward: readonly number[] }, idx: readonly number[]) => {
    const t = savedWithInterval(uniform, tokensOf, { cost: allot.tokens, reward: allot.reward }, idx);
    const bf = bestFixed(uniform, tokensOf, t.m, t.q, idx);
    const th = allot.thinking ? savedWithInterval(uniform, thinkingOf, { cost: allot.thinking, reward: allot.reward }, idx) : null;
    const bfTh = th ? bestFixed(uniform, thinkingOf, th.m, th.q, idx) : null;
    console.log(
      `| ${label} | ${pct(t.q)} | ${f(t.m)} | ${f(t.Bstar)} | ${pct(t.saved)}${ci(t.ci)} | ${bf ? `${bf.level}, ${f(bf.cost)}, ${pct(bf.acc)}` : "none reaches it"} | ${pct(bf?.saved)} | ` +
        `${th ? f(th.m) : "—"} | ${th ? f(th.Bstar) : "—"} | ${th ? `${pct(th.saved)}${ci(th.ci)}` : "—"} | ${pct(bfTh?.saved)} |`,
    );
    return [t.unreached, th?.unreached ?? 0];
  };
  // Prompts some request or batch row was refused on (the gateway's max_tokens past the context) are scored wrong with
  // nothing generated on all prompts; the second set leaves them out of every policy alike.
  const refusedOn = new Set<number>([
    ...[...uniform.values(), ...online.map((o) => o.calls)].flatMap((cs) => all.filter((i) => cs[i].error)),
    ...batches.flatMap((b) => [...b.failedIds]),
  ]);
  const sets = [{ name: "all prompts", idx: all }, ...(refusedOn.size > 0 ? [{ name: `the ${N - refusedOn.size} prompts nothing was refused on`, idx: all.filter((i) => !refusedOn.has(i)) }] : [])];
  const unreached: string[] = [];
  for (const set of sets) {
    for (const o of online) {
      const u = row(`online, T = ${o.target} (${set.name})`, { tokens: o.calls.map(tokensOf), thinking: o.calls.map(thinkingOf), reward: o.calls.map((c) => c.reward) }, set.idx);
      if (u[0] + u[1] > 0) unreached.push(`online T = ${o.target}, ${set.name}: ${u[0]} (tokens), ${u[1]} (thinking)`);
    }
    for (const b of batches) {
      const u = row(`${b.allocation} batch at ${b.average} (${set.name})`, { tokens: b.tokens, thinking: null, reward: b.reward }, set.idx);
      if (u[0] > 0) unreached.push(`${b.allocation} batch at ${b.average}, ${set.name}: ${u[0]}`);
    }
  }
  if (unreached.length > 0) console.log(`\n(bootstrap resamples of 1000 where the uniform curve never reaches allot's accuracy, left out of the interval: ${unreached.join("; ")})`);

  if (batches.length > 0) {
    console.log(`\nBatches (budget average = the online tokens / 16 per prompt, min 0, max ${MAX_UNITS}; tokens = each row's units × 16; a batch's rows give no thinking tokens)\n`);
    console.log("| batch | budget average | accuracy | tokens per prompt | units used (with prefill) | of which prefill | wall s | failed prompts | rows whose reward agrees with the local score |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const b of batches) console.log(`| ${b.allocation} | ${b.average} | ${pct(mean(b.reward))} | ${f(mean(b.tokens))} | ${f(b.unitsUsed, 1)} | ${f(b.prefill, 1)} | ${b.seconds.toFixed(1)} | ${b.failed} | ${b.agree} / ${N} |`);
    for (const b of batches) if (b.failure) console.log(`${b.allocation} batch at ${b.average}: a failed prompt's error: ${b.failure}`);
  }
  console.log(`\nwall ${elapsed()} s`);
} finally {
  await gw.stop();
  await lm.stop();
}
