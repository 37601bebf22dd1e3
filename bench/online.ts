/**
 * npm run bench:online — online mode end to end, as a user runs it: the official OpenAI
 * client against the local gateway (allot serve-gateway) and the reference LM, one chat request per held-out test
 * prompt, for six tenants:
 *   - uniform: every request pinned to B samples of the strong model (x-allot-units);
 *   - adaptive, one round: allot's k at the tenant's price (target B), decided up front
 *     (x-allot-rounds: 1), strong model;
 *   - adaptive, waves: the default, samples in rounds until a pass or the price says stop;
 *   - routing, one round: model "route", allot's (model, k) at the tenant's price (target B units);
 *   - routing, cascade: the default for "route", a model per round;
 *   - routing at 3B: the cascade with a target of 3B units, the compute the strong tenants use.
 * Without routing a unit is one sample of the requested model; with routing it is one weak
 * sample's worth (a strong sample costs 3), so the table also gives compute in weak-sample
 * equivalents. Prints per tenant: mean units per request (all, and after the first 200),
 * compute, the share of answers the verifier accepts, rounds per request, latency (p50 and
 * p99 of each request as the client saw it), the final price, and the mean units of each
 * stretch of 100 requests (the controller converging on live traffic).
 * Options: --requests 1000 --target 4 --clients 4
 */
import OpenAI from "openai";
import { promptSet } from "../src/node/reference-lm/task.js";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { arg } from "./args.js";

const requests = Number(arg("requests", "1000"));
const target = Number(arg("target", "4"));
const clients = Number(arg("clients", "4"));

type Allot = { model: string; samples: number; units: number; price: number; reward: number | null; rounds: number; ms: number };

const lm = await startLmServer();
const gw = await startGateway(lm.url);
try {
  // Fresh test-split prompts (a seed neither the eval nor bench:gateway uses).
  const prompts = promptSet("test", requests, 78).map((p) => p.prompt);
  const rows: string[] = [];
  const stretches: string[] = [];
  const tenants = [
    { name: "uniform best-of-B, strong", model: "strong", target, pinned: true, oneRound: true },
    { name: "adaptive k, strong, one round", model: "strong", target, pinned: false, oneRound: true },
    { name: "adaptive k, strong, waves", model: "strong", target, pinned: false, oneRound: false },
    { name: "routing, one round", model: "route", target, pinned: false, oneRound: true },
    { name: "routing, cascade", model: "route", target, pinned: false, oneRound: false },
    { name: "routing at 3B, cascade", model: "route", target: 3 * target, pinned: false, oneRound: false },
  ];
  const COST: Record<string, number> = { weak: 1, strong: 3 };
  for (const mode of tenants) {
    const tenant = await createTenant(gw);
    await fetch(`${gw.url}/admin/tenants/${tenant.id}/online`, {
      method: "PUT",
      headers: { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" },
      body: JSON.stringify({ target_units: mode.target, min_units: 1, max_units: 4 * mode.target }),
    });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: tenant.key, maxRetries: 0 });
    const out: Allot[] = new Array(requests);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < requests) {
          const i = next++;
          const headers: Record<string, string> = {
            ...(mode.pinned ? { "x-allot-units": String(mode.target) } : {}),
            ...(mode.oneRound ? { "x-allot-rounds": "1" } : {}),
          };
          const t = performance.now();
          const res = await client.chat.completions.create({ model: mode.model, messages: [{ role: "user", content: prompts[i] }], temperature: 0.8, max_completion_tokens: 12 }, { headers });
          out[i] = { ...(res as unknown as { allot: Allot }).allot, ms: performance.now() - t };
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const mean = (xs: Allot[]) => xs.reduce((a, x) => a + x.units, 0) / xs.length;
    const solved = out.filter((a) => a.reward === 1).length / requests;
    const strong = out.filter((a) => a.model === "strong").length / requests;
    // Routed units are already weak-sample equivalents (a cascade may mix models); a strong-only tenant's sample is 3.
    const compute = out.reduce((a, x) => a + (mode.model === "route" ? x.units : x.samples * COST[x.model]), 0) / requests;
    const rounds = out.reduce((a, x) => a + x.rounds, 0) / requests;
    const ms = out.map((x) => x.ms).sort((a, b) => a - b);
    const q = (f: number) => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))].toFixed(0);
    rows.push(
      `| ${mode.name} | ${mode.target} | ${mean(out).toFixed(2)} | ${mean(out.slice(200)).toFixed(2)} | ${compute.toFixed(2)} | ${solved.toFixed(3)} | ${(100 * strong).toFixed(0)}% | ` +
        `${rounds.toFixed(2)} | ${q(0.5)} / ${q(0.99)} | ${out[requests - 1].price.toPrecision(3)} | ${seconds.toFixed(1)} |`,
    );
    const per100 = Array.from({ length: Math.floor(requests / 100) }, (_, k) => mean(out.slice(k * 100, (k + 1) * 100)).toFixed(2));
    stretches.push(`| ${mode.name} | ${per100.join(" | ")} |`);
  }
  console.log(`${requests} test-split prompts as chat requests through the openai client (${clients} concurrent); each tenant's min 1, max 4 × its target\n`);
  console.log("| tenant | target units | mean units | mean units after 200 | compute (weak samples) | share solved | answered by strong | rounds | latency p50 / p99 ms | final price | wall s |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  console.log(rows.join("\n") + "\n");
  console.log(`Mean units per stretch of 100 requests:\n`);
  console.log(`| tenant | ${Array.from({ length: Math.floor(requests / 100) }, (_, k) => `${k * 100 + 1}–${(k + 1) * 100}`).join(" | ")} |`);
  console.log(`|---|${Array.from({ length: Math.floor(requests / 100) }, () => "---|").join("")}`);
  console.log(stretches.join("\n"));
} finally {
  await gw.stop();
  await lm.stop();
}
