import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { intFlag, parseFlags } from "./args.js";
import { referenceLmVars } from "../reference-lm/registry.js";
import { ensureDevSecret } from "./dev-vars.js";
import { CliError } from "./io.js";

export const usage = `allot dev [--port 8787] [--lm-port 8000]

Runs the whole stack locally: the reference LM server and the gateway (allot
serve-gateway: workerd as wrangler dev runs it, told where the LM is), with their output prefixed. Ctrl-C stops both.
Secrets (ADMIN_TOKEN, API_KEY_SECRET) are generated into .dev.vars on first start; the
"dev" tenant and its key are kept in .wrangler/allot-dev.json and reused.`;

const root = fileURLToPath(new URL("../../..", import.meta.url));
const DEV_TENANT = join(root, ".wrangler", "allot-dev.json");

function run(name: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = "";
    stream.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) process.stdout.write(`[${name}] ${line}\n`);
    });
  }
  return child;
}

/** Whether something already listens on 127.0.0.1:port. */
function busy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(true));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
  });
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer in 60 s`);
}

/**
 * The "dev" tenant and its key: the one from the last start when its key still works
 * (wrangler dev keeps its Durable Objects in .wrangler/state), else a new one.
 */
async function devTenant(gateway: string, admin: string): Promise<void> {
  await waitFor(`${gateway}/healthz`);
  let saved: { id: string; key: string } | null = null;
  try {
    saved = existsSync(DEV_TENANT) ? (JSON.parse(readFileSync(DEV_TENANT, "utf8")) as { id: string; key: string }) : null;
  } catch {
    saved = null;
  }
  const works = saved !== null && (await fetch(`${gateway}/v1/usage`, { headers: { authorization: `Bearer ${saved.key}` } })).ok;
  if (!works) {
    const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const tenant = (await (await fetch(`${gateway}/admin/tenants`, { method: "POST", headers, body: JSON.stringify({ name: "dev", budget: { day: 1_000_000 } }) })).json()) as { id: string };
    const key = (await (await fetch(`${gateway}/admin/tenants/${tenant.id}/keys`, { method: "POST", headers })).json()) as { key: string };
    saved = { id: tenant.id, key: key.key };
    mkdirSync(dirname(DEV_TENANT), { recursive: true });
    writeFileSync(DEV_TENANT, JSON.stringify(saved) + "\n");
  }
  const { id, key } = saved!;
  process.stdout.write(
    `\nallot dev: tenant "dev" (${id}${works ? ", as last time" : ""}), API key:\n  ${key}\n` +
      `  curl -s ${gateway}/v1/usage -H "authorization: Bearer ${key}"\n` +
      `OpenAI clients (the official SDKs read these):\n  export OPENAI_BASE_URL=${gateway}/v1 OPENAI_API_KEY=${key}\n` +
      `admin token (from .dev.vars): ${admin}\n` +
      `console: ${gateway}/dashboard (log in with the admin token); API reference: ${gateway}/docs\n\n`,
  );
}

/** `allot dev`: reference LM + gateway, until Ctrl-C or until either stops. */
export async function runDev(args: string[]): Promise<void> {
  const flags = parseFlags(args, { port: { type: "string" }, "lm-port": { type: "string" } });
  const port = intFlag(flags.port, "port", 8787);
  const lmPort = intFlag(flags["lm-port"], "lm-port", 8000);
  for (const [p, what] of [[port, "--port"], [lmPort, "--lm-port"]] as const) {
    if (await busy(p)) throw new CliError(`port ${p} is in use (is allot dev already running?): stop it, or choose another with ${what}`, 1);
  }
  const admin = ensureDevSecret(root, "ADMIN_TOKEN");
  ensureDevSecret(root, "API_KEY_SECRET");
  const lmUrl = `http://127.0.0.1:${lmPort}`;
  const children = [
    run("lm", [join(root, "bin", "allot.mjs"), "serve-lm", "--port", String(lmPort)]),
    // workerd as `wrangler dev` runs it, without wrangler's inspector proxy (serve-gateway.ts says why).
    run("gateway", [join(root, "bin", "allot.mjs"), "serve-gateway", "--ip", "127.0.0.1", "--port", String(port), "--var", `LM_URL:${lmUrl}`, ...Object.entries(referenceLmVars(lmUrl)).flatMap(([k, v]) => ["--var", `${k}:${v}`])]),
  ];
  process.stdout.write(`allot dev: gateway on http://127.0.0.1:${port} (OpenAPI at /openapi.json), reference LM on ${lmUrl}\n`);
  devTenant(`http://127.0.0.1:${port}`, admin).catch((e: Error) => process.stderr.write(`allot dev: could not set up the dev tenant: ${e.message}\n`));
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stopAll = (c: number) => {
      stopping = true;
      for (const ch of children) if (ch.exitCode === null) ch.kill("SIGTERM");
      resolve(c);
    };
    process.once("SIGINT", () => stopAll(0));
    process.once("SIGTERM", () => stopAll(0));
    // One of the pair ended: say which and how, then stop the other (a gateway without its
    // LM, or an LM without its gateway, is not the dev setup the README promises).
    children.forEach((ch, i) =>
      ch.once("exit", (c, signal) => {
        if (stopping) return;
        process.stderr.write(`allot dev: the ${i === 0 ? "reference LM" : "gateway"} exited (${signal ?? `code ${c}`}); stopping the ${i === 0 ? "gateway" : "reference LM"}\n`);
        stopAll(c ?? 1);
      }),
    );
  });
  process.exitCode = code;
}
