/**
 * npm run bench:online — online mode end to end, as a user runs it: the official OpenAI
 * client against `wrangler dev` and the reference LM, one chat request per held-out test
 * prompt, for four tenants:
 *   - uniform: every request pinned to B samples of the strong model (x-allot-units);
 *   - adaptive: allot's k at the tenant's price (target B), strong model;
 *   - routing: model "route", allot's (model, k) at the tenant's price (target B units);
 *   - routing at 3B: the same with a target of 3B units, the compute the strong tenants use.
 * Without routing a unit is one sample of the requested model; with routing it is one weak
 * sample's worth (a strong sample costs 3), so the table also gives compute in weak-sample
 * equivalents. Prints per tenant: mean units per request (all, and after the first 200),
 * compute, the share of answers the verifier accepts, the final price, and the mean units
 * of each stretch of 100 requests (the controller converging on live traffic).
 * Options: --requests 1000 --target 4 --clients 4
 */
import OpenAI from "openai";
import { promptSet } from "../src/reference-lm/task.js";
import { createTenant, startGateway } from "../test/node/support/gateway.js";
import { startLmServer } from "../test/node/support/lm-server.js";
import { arg } from "./args.js";

const requests = Number(arg("requests", "1000"));
const target = Number(arg("target", "4"));
const clients = Number(arg("clients", "4"));

type Allot = { model: string; samples: number; units: number; price: number; reward: number | null };

const lm = await startLmServer();
const gw = await startGateway(lm.url);
try {
  // Fresh test-split prompts (a seed neither the eval nor bench:gateway uses).
  const prompts = promptSet("test", requests, 78).map((p) => p.prompt);
  const rows: string[] = [];
  const stretches: string[] = [];
  const tenants = [
    { name: "uniform best-of-B, strong", model: "strong", target, pinned: true },
    { name: "adaptive k, strong", model: "strong", target, pinned: false },
    { name: "routing", model: "route", target, pinned: false },
    { name: "routing at 3B", model: "route", target: 3 * target, pinned: false },
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
          const res = await client.chat.completions.create(
            { model: mode.model, messages: [{ role: "user", content: prompts[i] }], temperature: 0.8, max_completion_tokens: 12 },
            mode.pinned ? { headers: { "x-allot-units": String(mode.target) } } : {},
          );
          out[i] = (res as unknown as { allot: Allot }).allot;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const mean = (xs: Allot[]) => xs.reduce((a, x) => a + x.units, 0) / xs.length;
    const solved = out.filter((a) => a.reward === 1).length / requests;
    const strong = out.filter((a) => a.model === "strong").length / requests;
    const compute = out.reduce((a, x) => a + x.samples * COST[x.model], 0) / requests;
    rows.push(
      `| ${mode.name} | ${mode.target} | ${mean(out).toFixed(2)} | ${mean(out.slice(200)).toFixed(2)} | ${compute.toFixed(2)} | ${solved.toFixed(3)} | ${(100 * strong).toFixed(0)}% | ${out[requests - 1].price.toPrecision(3)} | ${seconds.toFixed(1)} |`,
    );
    const per100 = Array.from({ length: Math.floor(requests / 100) }, (_, k) => mean(out.slice(k * 100, (k + 1) * 100)).toFixed(2));
    stretches.push(`| ${mode.name} | ${per100.join(" | ")} |`);
  }
  console.log(`${requests} test-split prompts as chat requests through the openai client (${clients} concurrent); each tenant's min 1, max 4 × its target\n`);
  console.log("| tenant | target units | mean units | mean units after 200 | compute (weak samples) | share solved | sent to strong | final price | wall s |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  console.log(rows.join("\n") + "\n");
  console.log(`Mean units per stretch of 100 requests:\n`);
  console.log(`| tenant | ${Array.from({ length: Math.floor(requests / 100) }, (_, k) => `${k * 100 + 1}–${(k + 1) * 100}`).join(" | ")} |`);
  console.log(`|---|${Array.from({ length: Math.floor(requests / 100) }, () => "---|").join("")}`);
  console.log(stretches.join("\n"));
} finally {
  await gw.stop();
  await lm.stop();
}
