import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceLmVars } from "../reference-lm/registry.js";
import { bin } from "./lm-server.js";

export interface RunningGateway {
  readonly url: string;
  readonly admin: string;
  readonly apiKeySecret: string;
  /** Its Durable Objects' storage (removed on stop unless the caller gave it). */
  readonly state: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
  /** SIGKILL to wrangler and workerd: a crash, nothing flushed or settled. */
  kill(): Promise<void>;
  log(): string;
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
 * The gateway as users run it locally (`allot serve-gateway`: workerd, as `wrangler dev`) on loopback, in front of the LM
 * at `lmUrl` (by default also its hidden-state and reward server, as the reference LM is: `vars` override),
 * with a fresh admin token and fresh Durable Object storage, or the `state`
 * and `secrets` of an earlier run (a restart after a crash). `stop` ends the whole process
 * group (the server and its workerd); `kill` does it with SIGKILL, as a crash would.
 */
export async function startGateway(
  lmUrl: string,
  opts: { port?: number; vars?: Record<string, string>; state?: string; secrets?: { admin: string; apiKeySecret: string } } = {},
): Promise<RunningGateway> {
  const port = opts.port ?? (await freePort());
  const admin = opts.secrets?.admin ?? randomBytes(16).toString("hex");
  const apiKeySecret = opts.secrets?.apiKeySecret ?? randomBytes(16).toString("hex");
  const ownState = opts.state === undefined;
  const state = opts.state ?? mkdtempSync(join(tmpdir(), "allot-gateway-"));
  // `allot serve-gateway`: workerd as `wrangler dev` runs it, without wrangler's DevTools
  // inspector proxy, which takes the process down after a few tens of MB received.
  const child = spawn(
    process.execPath,
    [
      bin, "serve-gateway", "--ip", "127.0.0.1", "--port", String(port), "--var", `ADMIN_TOKEN:${admin}`, "--var", `API_KEY_SECRET:${apiKeySecret}`, "--var", `LM_URL:${lmUrl}`,
      ...Object.entries({ ...referenceLmVars(lmUrl), ...opts.vars }).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
      "--persist-to", state,
    ],
    // Offline by design: no Request.cf download, no telemetry. Its own process group, so
    // that stopping it stops workerd too.
    { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" } },
  );
  // The last MiB of its output: a long run (a benchmark) must not grow a string without bound.
  let log = "";
  const keep = (d: Buffer) => {
    log += d;
    if (log.length > 2 ** 20) log = log.slice(-(2 ** 20));
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const end = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const done = () => {
        if (ownState) rmSync(state, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once("exit", done);
      try {
        process.kill(-child.pid!, signal);
      } catch {
        child.kill(signal);
      }
    });
  const stop = () => end("SIGTERM");
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
  return { url, admin, apiKeySecret, state, process: child, stop, kill: () => end("SIGKILL"), log: () => log };
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
