// A proxy in front of the real reference LM that injects faults on purpose, chosen by
// the request's model name: "fault-<kind>x<count>:<model>" fails the first <count>
// requests for that exact body with <kind>, then forwards them with model <model>.
// kinds: 500, 429 (Retry-After: 0), malformed (200 with a body that is not JSON),
// timeout (no answer), 400 (not retryable); and delay, which holds every request <count>
// ms before forwarding it (a slow LM, so a test can act while work is in flight). Other
// requests pass straight through. GET /__held lists the requests a delay holds now (their
// model and prompt), so a test can see that work is in flight rather than hope it is.
// Every request body is kept (the last 500, numbered): GET /__seen lists them, so a test
// can see what reached the LM (it marks its requests with a field of its own, which the
// gateway forwards, or looks past a number it saw).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export async function startFaultProxy(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const seen = new Map<string, number>();
  const held = new Set<{ model: string; prompt: unknown }>();
  const recorded: { seq: number; path: string; body: string }[] = [];
  let seq = 0;
  const server = createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/__held") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify([...held]));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks).toString("utf8");
    if (req.url === "/__seen") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(recorded));
    recorded.push({ seq: ++seq, path: req.url ?? "", body });
    if (recorded.length > 500) recorded.shift();
    const m = /"model":"fault-(500|429|malformed|timeout|400|delay)x(\d+):([^"]+)"/.exec(body);
    if (m?.[1] === "delay") {
      const parsed = JSON.parse(body) as { prompt?: unknown; input?: unknown };
      const prompt = parsed.prompt ?? parsed.input ?? null;
      const entry = { model: `fault-delayx${m[2]}:${m[3]}`, prompt: typeof prompt === "string" ? prompt.slice(0, 200) : prompt };
      held.add(entry);
      await new Promise((r) => setTimeout(r, Number(m[2])));
      held.delete(entry);
      body = body.replace(m[0], `"model":"${m[3]}"`);
    } else if (m) {
      const [, kind, count, model] = m;
      const n = (seen.get(body) ?? 0) + 1;
      seen.set(body, n);
      if (n <= Number(count)) {
        if (kind === "timeout") return; // never answer
        if (kind === "malformed") return res.writeHead(200, { "content-type": "application/json" }).end("{not json");
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (kind === "429") headers["retry-after"] = "0";
        return res.writeHead(Number(kind), headers).end(JSON.stringify({ error: { message: `injected ${kind}`, type: "injected", param: null, code: kind } }));
      }
      body = body.replace(m[0], `"model":"${model}"`);
    }
    const up = await fetch(upstream + req.url, { method: req.method, headers: { "content-type": "application/json" }, body: req.method === "GET" ? undefined : body });
    res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" });
    // Streams are relayed as they come.
    for await (const piece of up.body ?? []) res.write(piece);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
