/**
 * npm run bench:tools — how well tool calls ranked by agreement do. The reference LM
 * answers a request with tools by calling the tool with its sampled answer
 * (src/node/reference-lm/tools.ts), so a call is right when its argument is the right
 * number. For test-split prompts of cells where one sample is often wrong, each
 * request offers a `check` tool and pins k samples (x-allot-units); the share of prompts
 * whose returned call is right is compared with the same k drawn as text and reranked by
 * the verifier (what allot does without tools: the upper bound, since the verifier knows
 * the answer), and with k chosen by allot (no pin). Options: --prompts 150 --seed 11
 * --cells 3+3,1*3,1*4,3*1,1*5,4*1,2*2 (the reference task's cells where one sample succeeds 25–68 % of the time)
 */
import { promptSet } from "../src/node/reference-lm/task.js";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { arg } from "./args.js";

const n = Number(arg("prompts", "150"));
const seed = Number(arg("seed", "11"));
const CELLS = arg("cells", "3+3,1*3,1*4,3*1,1*5,4*1,2*2").split(",");

const lm = await startLmServer();
const gw = await startGateway(lm.url);
try {
  const { key } = await createTenant(gw, { day: 1_000_000_000 });
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const prompts = promptSet("test", n, seed, CELLS);
  const tools = [{ type: "function", function: { name: "check", description: "Check an answer", parameters: { type: "object", properties: { answer: { type: "string" } } } } }];
  type Outcome = { right: boolean; samples: number; agreement: number | null };
  async function ask(p: (typeof prompts)[number], k: number | null, withTools: boolean): Promise<Outcome> {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...headers, ...(k === null ? { "x-allot-rounds": "1" } : { "x-allot-units": String(k) }) },
      body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: p.prompt }], temperature: 1, max_tokens: 12, ...(withTools ? { tools } : {}) }),
    });
    if (!res.ok) throw new Error(`status ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { choices: { message: { content: string | null; tool_calls?: { function: { arguments: string } }[] } }[]; allot: { samples: number; agreement: number | null } };
    const m = body.choices[0].message;
    const answer = withTools ? (m.tool_calls ? (JSON.parse(m.tool_calls[0].function.arguments) as { answer: string }).answer : null) : m.content;
    return { right: answer?.trim() === p.answer, samples: body.allot.samples, agreement: body.allot.agreement };
  }
  const rows: string[] = [];
  for (const k of [1, 3, 5, 9, null]) {
    const calls: Outcome[] = [];
    const texts: Outcome[] = [];
    for (const p of prompts) {
      calls.push(await ask(p, k, true));
      texts.push(await ask(p, k, false));
    }
    const share = (xs: Outcome[]) => ((100 * xs.filter((x) => x.right).length) / xs.length).toFixed(1);
    const mean = (xs: Outcome[]) => (xs.reduce((s, x) => s + x.samples, 0) / xs.length).toFixed(2);
    const agree = calls.filter((c) => c.agreement !== null);
    const meanAgreement = agree.length ? (agree.reduce((s, c) => s + c.agreement!, 0) / agree.length).toFixed(2) : "—";
    rows.push(`| ${k === null ? "allot's k (one round)" : k} | ${mean(calls)} | ${share(calls)} % | ${meanAgreement} | ${mean(texts)} | ${share(texts)} % |`);
  }
  console.log(`Tool calls ranked by agreement, ${n} test-split prompts of cells ${CELLS.join(", ")} (seed ${seed}), temperature 1\n`);
  console.log("| k | samples (tools) | calls right | mean agreement | samples (text) | text answers right (verifier) |");
  console.log("|---|---|---|---|---|---|");
  console.log(rows.join("\n"));
} finally {
  await gw.stop();
  await lm.stop();
}
