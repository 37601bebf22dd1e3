import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { intFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot serve-gateway [--port 8787] [--ip 127.0.0.1] [--var NAME:VALUE ...] [--persist-to DIR]

The gateway (src/index.ts with wrangler.toml) in local workerd, as \`wrangler dev\` runs
it, but started through wrangler's API with its DevTools inspector off. With the
inspector on (the \`wrangler dev\` command cannot turn it off in wrangler 4.86), every
4 KB the Worker receives becomes a DevTools network event that wrangler's inspector
proxy keeps while no DevTools is attached and forwards over a new connection: a few
tens of MB of hidden states from a wide model (1,024 prompts × 4,096 values) exhaust the
process's files and take it down. Secrets come from .dev.vars (wrangler reads it), and
--var (which wins).
Prints "ready on URL"; stops on SIGINT or SIGTERM. \`allot dev\` and the tests use it.`;

const root = fileURLToPath(new URL("../../..", import.meta.url));

export async function runServeGateway(args: string[]): Promise<void> {
  const f = parseFlags(args, { port: { type: "string" }, ip: { type: "string" }, var: { type: "string", multiple: true }, "persist-to": { type: "string" } });
  const port = intFlag(f.port, "port", 8787);
  const vars: [string, string][] = [];
  for (const v of f.var ?? []) {
    const i = v.indexOf(":");
    if (i <= 0) throw new CliError(`--var takes NAME:VALUE, got "${v}"`);
    vars.push([v.slice(0, i), v.slice(i + 1)]);
  }
  // Offline by design: no Request.cf download, no telemetry.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  process.env.WRANGLER_SEND_METRICS ??= "false";
  const { unstable_startWorker } = await import("wrangler");
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    // What `wrangler dev` derives from the config's compatibility flags; the API leaves it
    // unset, and its bundler then warns about the node: modules its dependencies import.
    build: { nodejsCompatMode: (config) => (config.compatibility_flags.includes("nodejs_compat") ? "v2" : null) },
    // As secrets: wrangler prints plain variables' values, and these carry the admin token.
    bindings: Object.fromEntries(vars.map(([k, v]) => [k, { type: "secret_text" as const, value: v }])),
    dev: {
      inspector: false,
      server: { hostname: typeof f.ip === "string" ? f.ip : "127.0.0.1", port },
      persist: typeof f["persist-to"] === "string" ? f["persist-to"] : join(root, ".wrangler", "state"),
      watch: false,
    },
  });
  process.stdout.write(`ready on ${String(await worker.url).replace(/\/$/, "")}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await worker.dispose();
}
