import { readFile } from "node:fs/promises";
import { parseFlags } from "./args.js";
import { devVar } from "./dev-vars.js";
import { CliError } from "./io.js";
import { adminCall } from "./admin-call.js";

export const usage = `allot publish --predictor PATH [--gateway http://127.0.0.1:8787] [--name NAME]

Uploads what \`allot train\` or \`allot train-route --out PATH\` wrote (PATH.onnx,
PATH.manifest.json, PATH.parity.json) to a gateway: PUT /admin/predictors/NAME. The
gateway checks it (sha256, onnxruntime-web opens it, it reproduces its parity fixtures)
before storing it in its PREDICTORS bucket, and requests whose model is the predictor's
LM use it within PREDICTOR_CACHE_SECONDS, without a redeploy.
The admin token comes from ADMIN_TOKEN, else from .dev.vars (what \`npm start\` made).`;

/** The admin token: ADMIN_TOKEN, else the ADMIN_TOKEN line of ./.dev.vars. */
export function adminToken(): string {
  const token = process.env.ADMIN_TOKEN || devVar(process.cwd(), "ADMIN_TOKEN");
  if (!token) throw new CliError("no admin token: set ADMIN_TOKEN, or run from the folder whose .dev.vars has it");
  return token;
}

async function readPart(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    throw new CliError(`${path} is missing: --predictor takes the --out path given to allot train (without .onnx)`);
  }
}

export async function runPublish(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    predictor: { type: "string" },
    gateway: { type: "string", default: "http://127.0.0.1:8787" },
    name: { type: "string" },
  });
  if (!f.predictor) throw new CliError("--predictor is required");
  const prefix = String(f.predictor).replace(/\.(onnx|manifest\.json|parity\.json)$/, "");
  const manifest = JSON.parse((await readPart(`${prefix}.manifest.json`)).toString("utf8")) as { name: string };
  const onnx = await readPart(`${prefix}.onnx`);
  const parity = JSON.parse((await readPart(`${prefix}.parity.json`)).toString("utf8")) as unknown;
  // A new name renames the predictor: the manifest says who it is.
  const name = f.name ? String(f.name) : manifest.name;
  const url = `${String(f.gateway).replace(/\/+$/, "")}/admin/predictors/${encodeURIComponent(name)}`;
  const text = await adminCall(url, adminToken(), { method: "PUT", body: JSON.stringify({ manifest: { ...manifest, name }, onnx: onnx.toString("base64"), parity }) });
  const s = JSON.parse(text) as { name: string; lm_model: string; kind: string; route: unknown };
  process.stdout.write(`published ${s.name} (${s.route ? "router" : s.kind}, reads ${s.lm_model}'s hidden states) to ${String(f.gateway)}\n`);
}
