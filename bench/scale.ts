/**
 * npm run bench:scale — allot's own ceilings, against a model server of fixed latency and
 * unlimited concurrency (bench/fixed-latency-lm.ts, 200 ms a call by default), so that
 * neither a GPU nor the reference LM is what is measured:
 *
 * 1. Batch throughput by shard count: the same batch (uniform, one sample per prompt: a
 *    completions call and a reward call each) through the local gateway (allot serve-gateway) with N = 1, 2, 4, 8,
 *    16 shard objects (BATCH_SHARD_PROMPTS = prompts / N, LM_MAX_IN_FLIGHT = 6·N), from
 *    submission to done; with the LM's peak calls in flight.
 * 2. Online requests of one tenant: C clients at once, each /v1/completions request one pinned sample
 *    (a completions call and a reward call, 2 × latency in the LM), with its accounts on its
 *    ledger (0 budget shards: an admit, a begin and a finish each) or spread over S budget
 *    shards; the rate sustained, latency p50 / p99, what allot adds to the LM's time, and
 *    the calls its ledger object took per request (GET /metrics).
 *
 * 3. Memory at a real model's width: a learned batch whose predictor reads W-wide hidden
 *    states (an untrained predictor of that width, bench/wide-predictor.ts, published to
 *    the gateway), W = 128 and 4,096, each on a fresh gateway: the predicting phase's pages
 *    and time, workerd's peak resident memory when it ends, and the lowest it was in the
 *    phase's second half (what survives garbage collections).
 *
 * On this 2-core machine absolute figures are noisy; the ratios against N = 1 measured in
 * the same run are the result. Options: --prompts 1000 --latency 200 --shards 1,2,4,8,16
 * --clients 8,32,64 --ledger-shards 0,4 --requests 400 --widths 128,4096 --memory-prompts 200 (--widths none skips 3)
 */
import { execSync } from "node:child_process";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { arg } from "./args.js";
import { startFixedLatencyLm, vectorOf } from "./fixed-latency-lm.js";
import { widePredictor } from "./wide-predictor.js";

const prompts = Number(arg("prompts", "1000"));
const latency = Number(arg("latency", "200"));
const shardCounts = arg("shards", "1,2,4,8,16").split(",").map(Number);
const clientCounts = arg("clients", "8,32,64").split(",").map(Number);
const ledgerShardCounts = arg("ledger-shards", "0,4").split(",").map(Number);
const requests = Number(arg("requests", "400"));
const widths = arg("widths", "128,4096") === "none" ? [] : arg("widths", "128,4096").split(",").map(Number);
const memoryPrompts = Number(arg("memory-prompts", "200"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** Calls the tenant's ledger object has taken on the online path (GET /metrics: allot_ledger_calls_total, summed over kinds). */
async function ledgerCalls(gw: { url: string; admin: string }, tenant: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${gw.admin}` } })).text();
  let sum = 0;
  for (const m of text.matchAll(/^allot_ledger_calls_total\{tenant="([^"]+)",call="[^"]+"\} (\d+)$/gm)) if (m[1] === tenant) sum += Number(m[2]);
  return sum;
}

/** Resident memory (a /proc status field: VmHWM the peak, VmRSS now; MiB) of the gateway's workerd (in the process group of its wrangler). */
function workerdMiB(gw: { process: { pid?: number } }, field: "VmHWM" | "VmRSS"): number | null {
  try {
    const pids = execSync(`pgrep -g ${gw.process.pid} -x workerd`, { encoding: "utf8" }).trim().split("\n").filter(Boolean);
    const sizes = pids.map((pid) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(execSync(`cat /proc/${pid}/status`, { encoding: "utf8" }))?.[1] ?? 0) / 1024);
    return Math.max(...sizes);
  } catch {
    return null;
  }
}

const workerdPeakMiB = (gw: { process: { pid?: number } }) => workerdMiB(gw, "VmHWM");

const lm = await startFixedLatencyLm({ latencyMs: latency, width: 128, widths: Object.fromEntries(widths.map((w) => [`wide-lm-${w}`, w])) });
const batchRows: string[] = [];
let baseline = 0;
try {
  const texts = Array.from({ length: prompts }, (_, i) => ({ id: `p${i}`, prompt: `${(i * 37) % 9973}+${(i * 91) % 997}=` }));
  for (const n of shardCounts) {
    const gw = await startGateway(lm.url, { vars: { BATCH_SHARD_PROMPTS: String(Math.ceil(prompts / n)), LM_MAX_IN_FLIGHT: String(6 * n), BATCH_WATCHDOG_MS: "2000" } });
    try {
      const t = await createTenant(gw, { day: 1_000_000_000 }, { max_batch_size: 100_000, max_concurrent_batches: 4 });
      const headers = { authorization: `Bearer ${t.key}`, "content-type": "application/json" };
      lm.resetPeak();
      const t0 = performance.now();
      const sub = (await (await fetch(`${gw.url}/v1/batches`, { method: "POST", headers, body: JSON.stringify({ prompts: texts, allocation: "uniform", budget: { average: 1, min: 1, max: 1 } }) })).json()) as { id: string };
      let s: { status: string; progress: { sampled: number }; allocation: { shards: number } | null } = { status: "queued", progress: { sampled: 0 }, allocation: null };
      while (!["done", "failed", "cancelled"].includes(s.status)) {
        await sleep(250);
        s = (await (await fetch(`${gw.url}/v1/batches/${sub.id}`, { headers })).json()) as typeof s;
      }
      const seconds = (performance.now() - t0) / 1000;
      const rate = s.progress.sampled / seconds;
      if (n === shardCounts[0]) baseline = rate;
      batchRows.push(
        `| ${n} | ${s.allocation?.shards ?? "—"} | ${s.status} | ${s.progress.sampled} | ${seconds.toFixed(1)} | ${rate.toFixed(1)} | ${(rate / baseline).toFixed(2)}× | ${lm.peakInFlight} | ${workerdPeakMiB(gw)?.toFixed(0) ?? "—"} |`,
      );
      console.error(batchRows.at(-1));

      if (n === shardCounts[shardCounts.length - 1]) {
        // Online, on the last gateway: one tenant per ledger-shard count, C clients, one pinned sample a request.
        console.log(`\nOnline: one tenant, ${requests} completions requests per row, each one pinned sample (2 LM calls of ${latency} ms)\n`);
        console.log("| budget shards | clients | requests/s | p50 ms | p99 ms | p50 added by allot (ms) | ledger calls / request | status 200 |");
        console.log("|---|---|---|---|---|---|---|---|");
        for (const ledgerShards of ledgerShardCounts) {
          const hot = await createTenant(gw, { day: 1_000_000_000 });
          const put = await fetch(`${gw.url}/admin/tenants/${hot.id}/online`, { method: "PUT", headers: { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" }, body: JSON.stringify({ target_units: 4, shards: ledgerShards }) });
          if (put.status !== 200) throw new Error(`setting shards: ${put.status} ${await put.text()}`);
          const hotHeaders = { authorization: `Bearer ${hot.key}`, "content-type": "application/json", "x-allot-units": "1" };
          for (const clients of clientCounts) {
            const times: number[] = [];
            let ok = 0;
            let next = 0;
            const calls0 = await ledgerCalls(gw, hot.id);
            const c0 = performance.now();
            await Promise.all(
              Array.from({ length: clients }, async () => {
                while (next < requests) {
                  const i = next++;
                  const r0 = performance.now();
                  const res = await fetch(`${gw.url}/v1/completions`, { method: "POST", headers: hotHeaders, body: JSON.stringify({ model: "strong", prompt: texts[i % texts.length].prompt, max_tokens: 8 }) });
                  await res.text();
                  if (res.status === 200) ok++;
                  times.push(performance.now() - r0);
                }
              }),
            );
            const wall = (performance.now() - c0) / 1000;
            const calls = (await ledgerCalls(gw, hot.id)) - calls0;
            const p50 = pct(times, 0.5);
            console.log(
              `| ${ledgerShards} | ${clients} | ${(requests / wall).toFixed(1)} | ${p50.toFixed(0)} | ${pct(times, 0.99).toFixed(0)} | ${(p50 - 2 * latency).toFixed(0)} | ${(calls / requests).toFixed(2)} | ${ok}/${requests} |`,
            );
          }
        }
      }
    } finally {
      await gw.stop();
    }
  }
  const memoryRows: string[] = [];
  for (const width of widths) {
    const gw = await startGateway(lm.url, { vars: { LM_MAX_IN_FLIGHT: "96" } });
    try {
      const model = `wide-lm-${width}`;
      const texts = Array.from({ length: memoryPrompts }, (_, i) => ({ id: `m${i}`, prompt: `${(i * 37) % 9973}*${(i * 91) % 997}=` }));
      const wide = widePredictor(width, model, texts.slice(0, 2).map((t) => vectorOf(t.prompt, width)));
      const put = await fetch(`${gw.url}/admin/predictors/${wide.name}`, { method: "PUT", headers: { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" }, body: JSON.stringify(wide.body) });
      if (put.status !== 201) throw new Error(`publishing ${wide.name}: ${put.status} ${await put.text()}`);
      const t = await createTenant(gw, { day: 1_000_000_000 }, { max_batch_size: 100_000, max_concurrent_batches: 4 });
      const headers = { authorization: `Bearer ${t.key}`, "content-type": "application/json" };
      const before = workerdPeakMiB(gw);
      const t0 = performance.now();
      const sub = (await (await fetch(`${gw.url}/v1/batches`, { method: "POST", headers, body: JSON.stringify({ prompts: texts, model, allocation: "learned", budget: { average: 1, min: 1, max: 2 } }) })).json()) as { id: string };
      let s: { status: string } = { status: "queued" };
      // Resident memory now, every 2 s: V8 lets garbage pile up before a major collection
      // (locally no isolate limit is set), so the peak says little; the lowest figure in the
      // second half of the phase is what survives collections, and would grow with the
      // batch if pages leaked.
      const rss: number[] = [];
      let sampledAt = 0;
      while (s.status === "queued" || s.status === "predicting") {
        await sleep(100);
        s = (await (await fetch(`${gw.url}/v1/batches/${sub.id}`, { headers })).json()) as typeof s;
        if (performance.now() - sampledAt >= 2000) {
          sampledAt = performance.now();
          const now = workerdMiB(gw, "VmRSS");
          if (now !== null) rss.push(now);
        }
      }
      const predicting = (performance.now() - t0) / 1000;
      const page = Math.max(1, Math.min(64, Math.floor(2 ** 18 / width))); // BatchRun.pageSize's default
      const floor = rss.length >= 2 ? Math.min(...rss.slice(Math.floor(rss.length / 2))) : null;
      memoryRows.push(
        `| ${width} | ${memoryPrompts} | ${page} | ${Math.ceil(memoryPrompts / page)} | ${s.status} | ${predicting.toFixed(1)} | ${before?.toFixed(0) ?? "—"} | ${workerdPeakMiB(gw)?.toFixed(0) ?? "—"} | ${floor?.toFixed(0) ?? "—"} |`,
      );
      if (s.status !== "sampling") console.error(gw.log().slice(-3000));
      console.error(memoryRows.at(-1));
      await fetch(`${gw.url}/v1/batches/${sub.id}/cancel`, { method: "POST", headers });
    } finally {
      await gw.stop();
    }
  }
  if (memoryRows.length > 0) {
    console.log(`\nPredicting at a real width: ${memoryPrompts} prompts, learned, an untrained predictor of each width (fresh gateway each)\n`);
    console.log("| hidden width | prompts | prompts per page | pages (alarms) | status after | predicting s | workerd peak RSS MiB before | peak after | lowest RSS in the second half |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    console.log(memoryRows.join("\n"));
  }
  console.log(`\nBatch throughput: ${prompts} prompts (uniform, 1 sample each: a completions and a reward call of ${latency} ms), by shard count\n`);
  console.log("| N asked | shards used | status | prompts sampled | wall s | prompts/s | vs N = 1 | LM peak calls in flight | workerd peak RSS MiB |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  console.log(batchRows.join("\n"));
} finally {
  await lm.close();
}
