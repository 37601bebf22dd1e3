/**
 * A model server of fixed latency and unlimited concurrency, for `npm run bench:scale`:
 * every call answers after LATENCY ms however many are in flight, so what the benchmark
 * measures is allot's own ceiling (objects, connections, ledgers), not a GPU's or the
 * reference LM's. It speaks the shapes allot reads from vLLM (src/contracts/lm-protocol.ts):
 * /v1/completions (n samples of a fixed answer), /pooling for hidden states (a
 * deterministic vector per prompt, of the given width, or a width per model name, and a
 * norm inside the shipped predictors' range) and for rewards (a deterministic 1 or 0 per text, half of each).
 * Its numbers mean nothing; only its timing does.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface FixedLatencyLm {
  readonly url: string;
  /** Calls answered, by path. */
  readonly calls: Record<string, number>;
  /** The most calls held at once since the last reset. */
  readonly peakInFlight: number;
  resetPeak(): void;
  close(): Promise<void>;
}

/** FNV-1a of a string: the seed of everything a text is answered with. */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A vector of `width` values, the same for the same text, with norm 14. */
export function vectorOf(text: string, width: number): number[] {
  let x = hash(text) || 1;
  const v = Array.from({ length: width }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 2 ** 32) * 2 - 1;
  });
  const norm = Math.hypot(...v);
  return v.map((y) => (14 * y) / norm);
}

export async function startFixedLatencyLm(o: { latencyMs: number; width: number; widths?: Record<string, number> }): Promise<FixedLatencyLm> {
  const calls: Record<string, number> = {};
  let inFlight = 0;
  let peak = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? "/").split("?")[0];
    calls[path] = (calls[path] ?? 0) + 1;
    if (req.method === "GET") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }));
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { model?: string; n?: number; input?: string | string[]; prompt?: string };
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, o.latencyMs));
    inFlight--;
    const created = Math.floor(Date.now() / 1000);
    const usage = { prompt_tokens: 8, completion_tokens: 2 * (body.n ?? 1), total_tokens: 8 + 2 * (body.n ?? 1) };
    let out: unknown;
    if (path === "/v1/completions") {
      const n = body.n ?? 1;
      out = { id: `cmpl-${created}`, object: "text_completion", created, model: body.model, choices: Array.from({ length: n }, (_, index) => ({ index, text: "42", finish_reason: "stop", logprobs: null })), usage };
    } else if (path === "/pooling") {
      const inputs = [body.input ?? ""].flat();
      const reward = (body.model ?? "").startsWith("verifier");
      const width = o.widths?.[body.model ?? ""] ?? o.width;
      const data = inputs.map((text, index) => ({ index, object: "pooling", data: reward ? [hash(text) % 2] : vectorOf(text, width) }));
      out = { id: `pool-${created}`, object: "list", created, model: body.model, data, usage };
    } else {
      return res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ detail: "Not Found" }));
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    get peakInFlight() {
      return peak;
    },
    resetPeak: () => {
      peak = inFlight;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
