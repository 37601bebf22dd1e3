import { DoctorReportSchema } from "../../core/contracts/doctor.js";
import { formatFinding } from "../../core/doctor.js";
import { parseFlags } from "./args.js";
import { devVar } from "./dev-vars.js";
import { CliError } from "./io.js";
import { adminCall } from "./admin-call.js";

export const usage = `allot doctor [--gateway http://127.0.0.1:8787] [--admin-token TOKEN] [--json]
             [--probe-prompt "12+34="] [--probe-right 46] [--probe-wrong 47]

Asks the gateway to probe every server it is configured with (GET /admin/doctor: the
probes run from the gateway, with its settings), and prints one line per finding:
ok, warn or error; the role (generate, hidden states, rewards, thinking) and model; the server;
what was found; and, for a problem, the setting to change. Checked: each server is
reachable; what it is (vLLM's /version, SGLang's /get_server_info); that it has the
route, the pooling task and the model the gateway asks for; the hidden states' width
and norm against every predictor's manifest; SGLang's hidden states under concurrency;
that the reward model scores a right answer above a wrong one (--probe-*: a prompt
and answers your reward model can judge); and, for each model of THINKING_MODELS, that
its server takes the thinking budget as configured and keeps to it (a probe at budget 0
and at 8: a server that ignores the budget, or refuses it, is an error).
Exit status 1 when any finding is an error. The admin token comes from --admin-token,
else ADMIN_TOKEN, else .dev.vars (what \`npm start\` made).`;

export async function runDoctor(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    gateway: { type: "string", default: "http://127.0.0.1:8787" },
    "admin-token": { type: "string" },
    json: { type: "boolean", default: false },
    "probe-prompt": { type: "string" },
    "probe-right": { type: "string" },
    "probe-wrong": { type: "string" },
  });
  const token = (f["admin-token"] as string | undefined) || process.env.ADMIN_TOKEN || devVar(process.cwd(), "ADMIN_TOKEN");
  if (!token) throw new CliError("no admin token: pass --admin-token, set ADMIN_TOKEN, or run from the folder whose .dev.vars has it");
  const query = new URLSearchParams();
  for (const [flag, key] of [["probe-prompt", "prompt"], ["probe-right", "right"], ["probe-wrong", "wrong"]] as const) if (f[flag] !== undefined) query.set(key, String(f[flag]));
  const url = `${String(f.gateway).replace(/\/+$/, "")}/admin/doctor${query.size > 0 ? `?${query}` : ""}`;
  const text = await adminCall(url, token);
  const report = DoctorReportSchema.parse(JSON.parse(text));
  if (f.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else {
    for (const finding of report.findings) process.stdout.write(formatFinding(finding) + "\n");
    const count = (l: string) => report.findings.filter((x) => x.level === l).length;
    process.stdout.write(`${count("error")} error(s), ${count("warn")} warning(s), ${count("ok")} ok\n`);
  }
  if (report.status === "error") process.exitCode = 1;
}
