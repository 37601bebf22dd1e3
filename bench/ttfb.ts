/**
 * npm run bench:ttfb — time to first byte of streamed chat completions, both ways a
 * stream is served: a one-sample plan (temperature 0 here) streams the LM's tokens as
 * they come; a plan of several samples (x-allot-units 4: one round of four) sends a
 * keep-alive comment once STREAM_GRACE_MS has passed and the chosen answer when it is
 * chosen. Each is compared with the same request unstreamed, whose answer is the first
 * byte a stream had before streams streamed (everything drawn and scored, then replayed).
 *
 * The reference LM decodes a short answer in a few ms, so a pacing proxy in front of it
 * gives it a GPU's decode speed: --token-ms per generated token (default 20: 50 tokens/s)
 * after --prefill-ms (default 60), streamed chunk by chunk, or all at once unstreamed.
 * Hidden states and rewards pass unpaced. Options: --requests 30 --token-ms 20 --prefill-ms 60
 * --prompt "4567*8912=" --max-tokens 20 (the reference LM's context is 32 tokens)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createTenant, startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { arg } from "./args.js";

const requests = Number(arg("requests", "30"));
const tokenMs = Number(arg("token-ms", "20"));
const prefillMs = Number(arg("prefill-ms", "60"));
const prompt = arg("prompt", "4567*8912=");
const maxTokens = Number(arg("max-tokens", "20"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A proxy that paces generation like a GPU: prefill, then token by token. */
async function pacingProxy(upstream: string) {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const generates = req.url === "/v1/chat/completions" || req.url === "/v1/completions";
    const up = await fetch(upstream + req.url, { method: req.method, headers: { "content-type": "application/json" }, body: req.method === "GET" ? undefined : body });
    if (!generates || !up.ok) {
      res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" }).end(await up.text());
      return;
    }
    await sleep(prefillMs);
    if ((up.headers.get("content-type") ?? "").includes("text/event-stream")) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const text = await up.text();
      for (const event of text.split("\n\n").filter((e) => e.trim() !== "")) {
        if (/"(content|text)":"[^"]/.test(event)) await sleep(tokenMs);
        res.write(event + "\n\n");
      }
      res.end();
      return;
    }
    const json = (await up.json()) as { choices: unknown[]; usage: { completion_tokens: number } };
    // The samples of one call decode together: the longest takes about the average's time.
    await sleep(tokenMs * Math.ceil(json.usage.completion_tokens / Math.max(1, json.choices.length)));
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(json));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const lm = await startLmServer();
const proxy = await pacingProxy(lm.url);
// Hidden states and rewards straight from the LM; samples through the pacing proxy.
const gw = await startGateway(proxy.url, { vars: { HIDDEN_STATES_URL: lm.url, REWARD_URL: lm.url } });
try {
  const { key } = await createTenant(gw, { day: 1_000_000_000 });
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

  /** One request: ms to the first body byte, to the first answer text, to the end. */
  async function once(stream: boolean, extra: Record<string, string>, temperature: number) {
    const t0 = performance.now();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...headers, ...extra },
      body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: prompt }], max_tokens: maxTokens, temperature, stream }),
    });
    if (!res.ok) throw new Error(`status ${res.status}: ${await res.text()}`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let first: number | null = null;
    let text: number | null = null;
    let seen = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      first ??= performance.now() - t0;
      seen += decoder.decode(value, { stream: true });
      if (text === null && (stream ? /"content":"[^"]/.test(seen) : seen.length > 0)) text = performance.now() - t0;
    }
    return { first: first!, text: text ?? performance.now() - t0, end: performance.now() - t0 };
  }

  const rows: string[] = [];
  for (const [label, extra, temperature] of [
    ["one sample (temperature 0)", {}, 0],
    ["one round of 4 (x-allot-units 4)", { "x-allot-units": "4" }, 0.8],
  ] as const) {
    await once(false, extra, temperature); // warm-up: the predictor loads, the LM's sessions start
    for (const stream of [false, true]) {
      const runs: { first: number; text: number; end: number }[] = [];
      for (let i = 0; i < requests; i++) runs.push(await once(stream, extra, temperature));
      const f = (k: "first" | "text" | "end") => `${pct(runs.map((r) => r[k]), 0.5).toFixed(0)} / ${pct(runs.map((r) => r[k]), 0.9).toFixed(0)}`;
      rows.push(`| ${label} | ${stream ? "stream" : "JSON (= a stream's first byte before)"} | ${f("first")} | ${f("text")} | ${f("end")} |`);
    }
  }
  console.log(`Time to first byte, chat completions of ${JSON.stringify(prompt)} (max_tokens ${maxTokens}), an LM paced at ${prefillMs} ms prefill + ${tokenMs} ms a token, ${requests} requests each, one at a time; ms, p50 / p90\n`);
  console.log("| plan | answered as | first byte | first answer text | end |");
  console.log("|---|---|---|---|---|");
  console.log(rows.join("\n"));
} finally {
  await gw.stop();
  await proxy.close();
  await lm.stop();
}
