import { serve } from "@hono/node-server";
import { loadModels, DEFAULT_MODELS_DIR } from "../reference-lm/registry.js";
import { REWARD_MODELS, createLmServer } from "../reference-lm/server.js";
import { intFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot serve-lm [--host 127.0.0.1] [--port 8000] [--models strong,weak] [--models-dir DIR]

Serves the reference LMs with the GPU servers' protocol: GET /v1/models,
POST /v1/completions (OpenAI), POST /pooling (vLLM: hidden states for an LM,
rewards for verifier-binary / verifier-graded), GET /health.
--port 0 picks a free port; the first line printed is "listening on <url>".`;

export async function runServeLm(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    models: { type: "string" },
    "models-dir": { type: "string", default: DEFAULT_MODELS_DIR },
  });
  const port = intFlag(flags.port, "port", 8000);
  const models = await loadModels(flags["models-dir"] as string, flags.models ? String(flags.models).split(",") : undefined).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  const app = createLmServer(models);
  await new Promise<void>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: flags.host as string, port }, (info) => {
      const names = [...models.map((m) => m.name), ...Object.keys(REWARD_MODELS)].join(", ");
      process.stdout.write(`listening on http://${flags.host}:${info.port} (models: ${names})\n`);
    });
    server.on("error", reject);
    const stop = () => server.close(() => resolve());
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
