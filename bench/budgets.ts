/**
 * npm run bench:budgets — budgets under concurrency, as a user meets them: N requests at
 * once against a tenant whose budget cannot pay for all of them, through the real gateway
 * (allot serve-gateway) and the reference LM. For each (budget, N, budget shards) it prints:
 *   - served, and refused by kind (budget_exceeded: the window is spent; rate_limit_exceeded:
 *     the units were held by requests in flight);
 *   - refused while units remained: requests refused although, once everything settled, the
 *     budget still had room for their minimum (one sample and its prefill). Goal: 0;
 *   - overspent: units used past the limit. Goal: 0;
 *   - units left unused at the end, and the mean units a served request was charged.
 * Requests are adaptive (the tenant's price decides k, in waves) on held-out arithmetic
 * prompts, so they spend different amounts; each client retries nothing.
 * Options: --budgets 100,400 --clients 30,240 --shards 0,4
 */
import { promptSet } from "../src/node/reference-lm/task.js";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { arg } from "./args.js";

const budgets = arg("budgets", "100,400").split(",").map(Number);
const clients = arg("clients", "30,240").split(",").map(Number);
const shardCounts = arg("shards", "0,4").split(",").map(Number);

const lm = await startLmServer();
const gw = await startGateway(lm.url);
const admin = { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" };
try {
  const prompts = promptSet("test", 1_000, 91).map((p) => p.prompt);
  const prefill = 0.1; // PREFILL_UNITS's default: a request's minimum is one sample and its prefill
  console.log("| budget | requests at once | shards | served | refused: spent | refused: held | refused while units remained | overspent | left unused | units per served request |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const budget of budgets) {
    for (const n of clients) {
      for (const shards of shardCounts) {
        const t = await createTenant(gw, { day: budget });
        await fetch(`${gw.url}/admin/tenants/${t.id}/online`, { method: "PUT", headers: admin, body: JSON.stringify({ target_units: 4, min_units: 1, max_units: 16, shards }) });
        const answers = await Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const res = await fetch(`${gw.url}/v1/completions`, {
              method: "POST",
              headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
              body: JSON.stringify({ model: "strong", prompt: prompts[i % prompts.length], temperature: 0.8, max_tokens: 12, seed: i }),
            });
            const body = (await res.json()) as { allot?: { units: number }; error?: { type: string } };
            return { status: res.status, units: body.allot?.units ?? 0, type: body.error?.type ?? null };
          }),
        );
        // Let budget shards report what they charged (their reports run about once a second).
        await new Promise((r) => setTimeout(r, shards > 0 ? 2_500 : 200));
        const usage = (await (await fetch(`${gw.url}/admin/tenants/${t.id}/usage`, { headers: admin })).json()) as { windows?: { window: string; used: number }[] };
        const own = (await (await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${t.key}` } })).json()) as { windows: { window: string; used: number }[] };
        const used = (usage.windows ?? own.windows).find((w) => w.window === "day")?.used ?? own.windows.find((w) => w.window === "day")!.used;
        const served = answers.filter((a) => a.status === 200);
        const spent = answers.filter((a) => a.type === "budget_exceeded").length;
        const held = answers.filter((a) => a.type === "rate_limit_error").length;
        const left = budget - used;
        const wrongful = left >= 1 + prefill - 1e-9 ? spent + held : 0;
        const mean = served.length > 0 ? served.reduce((s, a) => s + a.units, 0) / served.length : 0;
        console.log(`| ${budget} | ${n} | ${shards} | ${served.length} | ${spent} | ${held} | ${wrongful} | ${Math.max(0, used - budget).toFixed(1)} | ${left.toFixed(1)} | ${mean.toFixed(2)} |`);
      }
    }
  }
} finally {
  await gw.stop();
  await lm.stop();
}
