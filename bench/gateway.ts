/**
 * npm run bench:gateway — the product end to end, as a user runs it: the reference LM and
 * the gateway (allot serve-gateway: workerd as wrangler dev runs it) on loopback, one tenant, and the same batch of
 * test-split prompts submitted twice at the same budget, with allocation "learned" and
 * "uniform". Prints wall time, units used and quality (share of prompts whose kept answer
 * the verifier accepts). Options: --prompts 1000 --average 4 --port 8790 --lm-port 8791
 */
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { promptSet } from "../src/node/reference-lm/task.js";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { arg } from "./args.js";

const n = Number(arg("prompts", "1000"));
const average = Number(arg("average", "4"));
const port = Number(arg("port", "8790"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lm = await startLmServer();
const gw = await startGateway(lm.url, { port });
const base = gw.url;
try {
  const tenant = await createTenant(gw, { day: 1_000_000_000 }, { max_batch_size: 10_000, max_concurrent_batches: 4 });
  const key = tenant.key;
  const th = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  // Latency: one prompt through POST /v1/allocate (the gateway fetches its hidden state,
  // runs the predictor, allocates) vs the same hidden-state call made to the LM directly.
  const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  const timed = async (clients: number, requests: number, one: (i: number) => Promise<Response>) => {
    await (await one(0)).text(); // warm-up (first use loads the predictor)
    const times: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < requests) {
          const i = next++;
          const t = performance.now();
          const res = await one(i);
          await res.text();
          if (!res.ok) throw new Error(`status ${res.status}`);
          times.push(performance.now() - t);
        }
      }),
    );
    return times;
  };
  const latency: string[] = [];
  const problems = promptSet("test", 400, 5).map((r) => r.prompt);
  for (const clients of [1, 32]) {
    const requests = clients === 1 ? 200 : 400;
    const direct = await timed(clients, requests, (i) => fetch(`${lm.url}/pooling`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "strong", input: [problems[i % problems.length]] }) }));
    const gateway = await timed(clients, requests, (i) => fetch(`${base}/v1/allocate`, { method: "POST", headers: th, body: JSON.stringify({ budget: 4, queries: [{ id: "q", prompt: problems[i % problems.length] }] }) }));
    latency.push(`| ${clients} | ${requests} | ${pct(direct, 0.5).toFixed(1)} | ${pct(direct, 0.99).toFixed(1)} | ${pct(gateway, 0.5).toFixed(1)} | ${pct(gateway, 0.99).toFixed(1)} | ${(pct(gateway, 0.5) - pct(direct, 0.5)).toFixed(1)} |`);
  }
  console.log("Latency of one prompt: the LM's /pooling alone vs POST /v1/allocate through the gateway (hidden state + predictor + allocation), ms\n");
  console.log("| concurrent clients | requests | LM p50 | LM p99 | gateway p50 | gateway p99 | added at p50 |");
  console.log("|---|---|---|---|---|---|---|");
  console.log(latency.join("\n") + "\n");

  // Predictor time for 64 queries. In workerd: POST /v1/allocate with 64 hidden states,
  // minus the same request with the 64 p values they map to (same size and allocation work,
  // no predictor). In onnxruntime-node: the same ONNX model on the same rows, directly.
  const fixtures = JSON.parse(readFileSync("models/predictors/strong-binary.parity.json", "utf8")) as { hidden: number[] }[];
  const rows64 = Array.from({ length: 64 }, (_, i) => fixtures[i % fixtures.length].hidden);
  const hiddenBody = JSON.stringify({ budget: 256, max: 8, queries: rows64.map((hidden, i) => ({ id: `h${i}`, hidden })) });
  const predicted = (await (await fetch(`${base}/v1/allocate`, { method: "POST", headers: th, body: hiddenBody })).json()) as { allocation: { p: number }[] };
  const pBody = JSON.stringify({ budget: 256, max: 8, queries: predicted.allocation.map((a, i) => ({ id: `h${i}`, p: a.p })) });
  const post = (body: string) => () => fetch(`${base}/v1/allocate`, { method: "POST", headers: th, body });
  const withPredictor = await timed(1, 200, post(hiddenBody));
  const withoutPredictor = await timed(1, 200, post(pBody));
  const session = await ort.InferenceSession.create("models/predictors/strong-binary.onnx");
  const input = new ort.Tensor("float32", Float32Array.from(rows64.flat()), [64, rows64[0].length]);
  const nodeTimes: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await session.run({ hidden: input });
    nodeTimes.push(performance.now() - t);
  }
  const workerd = pct(withPredictor, 0.5) - pct(withoutPredictor, 0.5);
  console.log("Predictor (strong-binary, 128 → 64 → 1) on 64 queries, median of 200, ms\n");
  console.log("| runtime | 64 queries | per query |");
  console.log("|---|---|---|");
  // The workerd difference also includes parsing and validating the 64 × 128 numbers the
  // hidden-state request carries: an upper bound on the predictor's own time.
  console.log(`| onnxruntime-web in workerd, upper bound (allocate with hidden states − with p) | ${workerd.toFixed(2)} | ${(workerd / 64).toPrecision(2)} |`);
  console.log(`| onnxruntime-node (session.run alone) | ${pct(nodeTimes, 0.5).toFixed(3)} | ${(pct(nodeTimes, 0.5) / 64).toPrecision(2)} |\n`);

  const records = promptSet("test", n, 77);
  const prompts = records.map((r) => ({ id: r.id, prompt: r.prompt }));
  const rows: string[] = [];
  // Waves also at a smaller budget: what they need to match the others' quality.
  for (const [allocation, B] of [["learned", average], ["uniform", average], ["waves", average], ["waves", Math.max(1, average * 0.4)]] as const) {
    const t0 = performance.now();
    const sub = (await (await fetch(`${base}/v1/batches`, { method: "POST", headers: th, body: JSON.stringify({ prompts, allocation, budget: { average: B, min: 1, max: 16 }, sampling: { seed: 1, max_tokens: 12 } }) })).json()) as { id: string };
    let s: { status: string; allocation: { units_used: number; allocated_units: number } | null; progress: { failed: number } };
    do {
      await sleep(250);
      s = (await (await fetch(`${base}/v1/batches/${sub.id}`, { headers: th })).json()) as typeof s;
    } while (!["done", "failed", "cancelled"].includes(s.status));
    const seconds = (performance.now() - t0) / 1000;
    const results = (await (await fetch(`${base}/v1/batches/${sub.id}/results`, { headers: th })).text()).trim().split("\n").map((l) => JSON.parse(l) as { reward: number | null });
    const solved = results.filter((r) => r.reward === 1).length;
    rows.push(`| ${allocation} | ${B} | ${s.status} | ${seconds.toFixed(1)} | ${s.allocation?.units_used} | ${(s.allocation!.units_used / n).toFixed(2)} | ${(solved / n).toFixed(3)} | ${s.progress.failed} |`);
  }
  console.log(`${n} test-split prompts of the reference task, strong model, min 1 and max 16 units per prompt, temperature 0.8\n`);
  console.log("| allocation | budget B | status | wall s | units used | units / prompt | quality (share solved) | failed |");
  console.log("|---|---|---|---|---|---|---|---|");
  console.log(rows.join("\n"));
} finally {
  await gw.stop();
  await lm.stop();
}
