// Hidden states at a real model's width through the local gateway: 1,024 prompts of
// 4,096 values (about 80 MB of JSON received) used to take `wrangler dev` down (its
// DevTools inspector proxy turns every 4 KB received into a buffered event and a new
// connection), whatever the predicting page. `allot serve-gateway`, which the tests and
// `allot dev` run, has no such proxy: the batch finishes and the gateway keeps answering.
import { afterAll, beforeAll, expect, it } from "vitest";
import { type FixedLatencyLm, startFixedLatencyLm, vectorOf } from "../../bench/fixed-latency-lm.js";
import { widePredictor } from "../../bench/wide-predictor.js";
import { type RunningGateway, createTenant, startGateway } from "../../src/node/harness/gateway.js";

const WIDTH = 4_096;
let lm: FixedLatencyLm;
let gw: RunningGateway;

beforeAll(async () => {
  lm = await startFixedLatencyLm({ latencyMs: 5, width: 128, widths: { [`wide-lm-${WIDTH}`]: WIDTH } });
  // AUDIT_RATE 0: the test counts the LM calls, and a batch's audits (5% of its prompts by default) draw more once it is done.
  gw = await startGateway(lm.url, { vars: { AUDIT_RATE: "0" } });
});
afterAll(async () => {
  await gw?.stop();
  await lm?.close();
});

it("predicts and samples a 1,024-prompt batch of 4,096-wide hidden states, answering /healthz throughout", async () => {
  const model = `wide-lm-${WIDTH}`;
  const prompts = Array.from({ length: 1_024 }, (_, i) => ({ id: `m${i}`, prompt: `${(i * 37) % 9973}*${(i * 91) % 997}=` }));
  const wide = widePredictor(WIDTH, model, prompts.slice(0, 2).map((p) => vectorOf(p.prompt, WIDTH)));
  const put = await fetch(`${gw.url}/admin/predictors/${wide.name}`, { method: "PUT", headers: { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" }, body: JSON.stringify(wide.body) });
  expect(put.status).toBe(201);
  const t = await createTenant(gw, { day: 1_000_000 }, { max_batch_size: 10_000, max_concurrent_batches: 1 });
  const headers = { authorization: `Bearer ${t.key}`, "content-type": "application/json" };
  const sub = await fetch(`${gw.url}/v1/batches`, { method: "POST", headers, body: JSON.stringify({ prompts, model, allocation: "learned", budget: { average: 1, min: 1, max: 2 } }) });
  expect(sub.status).toBe(202);
  const { id } = (await sub.json()) as { id: string };
  let status = { status: "queued", progress: { sampled: 0 } };
  for (let i = 0; i < 600 && !["done", "failed"].includes(status.status); i++) {
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
    status = (await (await fetch(`${gw.url}/v1/batches/${id}`, { headers, signal: AbortSignal.timeout(10_000) })).json()) as typeof status;
  }
  expect(status).toMatchObject({ status: "done", progress: { sampled: 1_024 } });
  // One completions call per prompt: every prompt sampled once, none twice.
  expect(lm.calls["/v1/completions"]).toBe(1_024);
}, 180_000);
