import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { intFlag, parseFlags } from "./args.js";

export const usage = `allot dev [--port 8787] [--lm-port 8000]

Runs the whole stack locally: the reference LM server and the gateway (wrangler dev,
workerd), with their output prefixed. Ctrl-C stops both.`;

const root = fileURLToPath(new URL("../..", import.meta.url));

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

/** The local admin token: from .dev.vars, which is created with a random one if missing. */
function devAdminToken(): string {
  const path = join(root, ".dev.vars");
  const existing = existsSync(path) ? /^ADMIN_TOKEN=(.+)$/m.exec(readFileSync(path, "utf8"))?.[1]?.trim() : undefined;
  if (existing) return existing;
  const token = randomBytes(24).toString("hex");
  writeFileSync(path, `${existsSync(path) ? readFileSync(path, "utf8") : ""}ADMIN_TOKEN=${token}\n`);
  return token;
}

/** Once the gateway answers, a "dev" tenant with a key, so a new user can call it at once. */
async function devTenant(gateway: string, admin: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${gateway}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
  const tenant = (await (await fetch(`${gateway}/admin/tenants`, { method: "POST", headers, body: JSON.stringify({ name: "dev", budget: { day: 1_000_000 } }) })).json()) as { id: string };
  const key = (await (await fetch(`${gateway}/admin/tenants/${tenant.id}/keys`, { method: "POST", headers })).json()) as { key: string };
  process.stdout.write(
    `\nallot dev: tenant "dev" (${tenant.id}), API key:\n  ${key.key}\n` +
      `  curl -s ${gateway}/v1/usage -H "authorization: Bearer ${key.key}"\n` +
      `OpenAI clients (the official SDKs read these):\n  export OPENAI_BASE_URL=${gateway}/v1 OPENAI_API_KEY=${key.key}\n` +
      `admin token (from .dev.vars): ${admin}\n\n`,
  );
}

/** `allot dev`: reference LM + gateway, until Ctrl-C or until either stops. */
export async function runDev(args: string[]): Promise<void> {
  const flags = parseFlags(args, { port: { type: "string" }, "lm-port": { type: "string" } });
  const port = intFlag(flags.port, "port", 8787);
  const lmPort = intFlag(flags["lm-port"], "lm-port", 8000);
  const wrangler = join(dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin", "wrangler.js");
  const admin = devAdminToken();
  const children = [
    run("lm", [join(root, "bin", "allot.mjs"), "serve-lm", "--port", String(lmPort)]),
    run("gateway", [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port)], {
      // Offline by design: no Request.cf download, no telemetry.
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
    }),
  ];
  process.stdout.write(
    `allot dev: gateway on http://127.0.0.1:${port} (OpenAPI at /openapi.json), reference LM on http://127.0.0.1:${lmPort}\n`,
  );
  devTenant(`http://127.0.0.1:${port}`, admin).catch((e: Error) => process.stderr.write(`allot dev: could not create the dev tenant: ${e.message}\n`));
  const code = await new Promise<number>((resolve) => {
    const stopAll = (c: number) => {
      for (const ch of children) if (ch.exitCode === null) ch.kill("SIGTERM");
      resolve(c);
    };
    process.once("SIGINT", () => stopAll(0));
    process.once("SIGTERM", () => stopAll(0));
    for (const ch of children) ch.once("exit", (c) => stopAll(c ?? 1));
  });
  process.exitCode = code;
}
