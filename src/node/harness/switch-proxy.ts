// A proxy in front of the LM that a test can take down (connections refused: the port is
// closed), bring back, or slow down, and that counts what arrived and what it forwarded by
// path. Faults injected on purpose; everything else reaches the real server unchanged. A
// request whose caller went away while it was held (a gateway killed) is not forwarded,
// as a server drops the work of a closed connection.
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface SwitchProxy {
  readonly url: string;
  /** Requests forwarded, by path; the bodies too. */
  readonly seen: { path: string; body: string }[];
  /** Requests as they arrived, before any delay: those held now are in `arrived` and not yet in `seen`. */
  readonly arrived: { path: string; body: string }[];
  /** Each forwarded request waits this long first. */
  delayMs: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startSwitchProxy(upstream: string): Promise<SwitchProxy> {
  const seen: { path: string; body: string }[] = [];
  const arrived: { path: string; body: string }[] = [];
  let delayMs = 0;
  const handler = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    arrived.push({ path: req.url ?? "", body });
    if (delayMs > 0) {
      // Held, until the delay is over or the caller has gone.
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(timer);
          req.socket.off("close", done);
          r();
        };
        const timer = setTimeout(done, delayMs);
        req.socket.once("close", done);
      });
    }
    if (req.socket.destroyed) return;
    seen.push({ path: req.url ?? "", body });
    try {
      const up = await fetch(upstream + req.url, { method: req.method, headers: { "content-type": "application/json" }, body: req.method === "GET" ? undefined : body });
      res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" }).end(await up.text());
    } catch {
      res.destroy();
    }
  });
  let server: Server = handler;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    arrived,
    get delayMs() {
      return delayMs;
    },
    set delayMs(ms: number) {
      delayMs = ms;
    },
    down: stop,
    up: () => new Promise<void>((r) => server.listen(port, "127.0.0.1", r)),
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}
