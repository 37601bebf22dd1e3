import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface RunningGateway {
  readonly url: string;
  readonly admin: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** A TCP port on loopback that nothing listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * The gateway as users run it: `wrangler dev` (workerd) on loopback, in front of the LM
 * at `lmUrl`, with a fresh admin token and fresh Durable Object storage.
 */
export async function startGateway(lmUrl: string, opts: { port?: number; vars?: Record<string, string> } = {}): Promise<RunningGateway> {
  const port = opts.port ?? (await freePort());
  const admin = randomBytes(16).toString("hex");
  const state = mkdtempSync(join(tmpdir(), "allot-gateway-"));
  const wrangler = join(dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin", "wrangler.js");
  const child = spawn(
    process.execPath,
    [
      wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--var", `ADMIN_TOKEN:${admin}`, "--var", `API_KEY_SECRET:${randomBytes(16).toString("hex")}`, "--var", `LM_URL:${lmUrl}`,
      ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
      "--persist-to", state,
    ],
    // Offline by design: no Request.cf download, no telemetry.
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" } },
  );
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(state, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null) return done();
      child.once("exit", done);
      child.kill("SIGTERM");
    });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      if (i > 600) {
        await stop();
        throw new Error(`the gateway did not start in 2 minutes:\n${log}`);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, admin, process: child, stop };
}

/** A tenant with the given budget and one API key, through the admin API. */
export async function createTenant(gw: RunningGateway, budget: Record<string, number> = { day: 1_000_000 }, limits?: Record<string, number>): Promise<{ id: string; key: string }> {
  const headers = { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" };
  const res = await fetch(`${gw.url}/admin/tenants`, { method: "POST", headers, body: JSON.stringify({ name: "test", budget, ...(limits ? { limits } : {}) }) });
  if (!res.ok) throw new Error(`creating a tenant: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const { key } = (await (await fetch(`${gw.url}/admin/tenants/${id}/keys`, { method: "POST", headers })).json()) as { key: string };
  return { id, key };
}
