import { writeFile } from "node:fs/promises";
import { type DataRecord, type ExportSettings, RecordSchema } from "../../core/predictor/dataset.js";
import { intFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";
import { adminToken } from "./publish.js";
import { adminCall } from "./admin-call.js";

export const usage = `allot audits export --tenant ID --out PATH [--gateway http://127.0.0.1:8787] [--model MODEL] [--form prompt|chat]

Writes a tenant's audited prompts (GET /admin/tenants/ID/audits, oldest first) as a
dataset \`allot train\` and \`allot eval\` read: PATH (JSON lines: the hidden state the
prediction read, and every sample's reward in draw order) and PATH.meta.json (the LM,
the reward model and the form). Audited prompts are a random sample of the tenant's
online traffic, and their rewards unbiased labels of each prompt's pass rate: retrain on
them (split them first: train, validation, test), \`allot eval\` the result on held-out
audits, and \`allot publish\` it. The gateway keeps no prompt text and no sample text, so
records have prompt "" and no samples; a dataset is one model's, in one form (--model,
--form choose when the audits hold several). Audits recorded before hidden states were
kept have none and are left out (counted).
The admin token comes from ADMIN_TOKEN, else from .dev.vars (what \`npm start\` made).`;

type Audit = { id: number; at: string; model: string; predictor: string | null; predicted: number | null; rewards: number[]; samples: number; units: number; reward: number; audit_units: number; form: "prompt" | "chat"; hidden: number[] | null };
type Page = { data: Audit[]; last_id: number | null; has_more: boolean; reward_model: string | null };

/** Every page of the tenant's audits. */
async function fetchAudits(gateway: string, tenant: string): Promise<{ audits: Audit[]; rewardModel: string | null }> {
  const token = adminToken();
  const audits: Audit[] = [];
  let after = 0;
  let rewardModel: string | null = null;
  for (;;) {
    const url = `${gateway}/admin/tenants/${encodeURIComponent(tenant)}/audits?limit=100&after=${after}`;
    const text = await adminCall(url, token);
    const page = JSON.parse(text) as Page;
    audits.push(...page.data);
    rewardModel = page.reward_model;
    if (!page.has_more || page.last_id === null) return { audits, rewardModel };
    after = page.last_id;
  }
}

/** One of the values, or the flag's; an error naming the choices when there are several and no flag. */
function one<T extends string>(values: readonly T[], flag: string | undefined, what: string): T {
  const distinct = [...new Set(values)];
  if (flag !== undefined) {
    if (!distinct.includes(flag as T)) throw new CliError(`no audited prompts of ${what} ${flag} (there are: ${distinct.join(", ") || "none"})`);
    return flag as T;
  }
  if (distinct.length > 1) throw new CliError(`the audits hold several ${what}s (${distinct.join(", ")}): choose one with --${what}`);
  return distinct[0];
}

/** The dataset record of an audited prompt (RecordSchema: what train and eval read). */
export const recordOf = (tenant: string, a: Audit & { hidden: number[] }): DataRecord => ({
  id: `audit-${tenant}-${a.id}`,
  prompt: "", // not kept by the gateway
  hidden: a.hidden,
  samples: [], // not kept either: rewards are what training and evaluation read
  rewards: a.rewards,
  tokens: 0,
  meta: { source: "audit", tenant, audit: a.id, at: a.at, model: a.model, predictor: a.predictor, predicted: a.predicted, policy_samples: a.samples, units: a.units, reward: a.reward },
});

async function runExport(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    tenant: { type: "string" },
    out: { type: "string" },
    gateway: { type: "string", default: "http://127.0.0.1:8787" },
    model: { type: "string" },
    form: { type: "string" },
    limit: { type: "string" },
  });
  if (!f.tenant || !f.out) throw new CliError("--tenant and --out are required");
  const gateway = String(f.gateway).replace(/\/+$/, "");
  const tenant = String(f.tenant);
  const out = String(f.out);
  const { audits, rewardModel } = await fetchAudits(gateway, tenant);
  if (audits.length === 0) throw new CliError(`tenant ${tenant} has no audited prompts (its audit_rate: PUT /admin/tenants/${tenant}/online, docs/audits.md)`, 1);
  const model = one(audits.map((a) => a.model), f.model === undefined ? undefined : String(f.model), "model");
  const ofModel = audits.filter((a) => a.model === model);
  const form = one(ofModel.map((a) => a.form), f.form === undefined ? undefined : String(f.form), "form");
  const chosen = ofModel.filter((a) => a.form === form);
  const withHidden = chosen.filter((a): a is Audit & { hidden: number[] } => a.hidden !== null);
  const limit = intFlag(f.limit, "limit", Number.MAX_SAFE_INTEGER, 1);
  const records = withHidden.slice(-limit).map((a) => RecordSchema.parse(recordOf(tenant, a)));
  if (records.length === 0) throw new CliError(`none of tenant ${tenant}'s ${chosen.length} audited prompts of ${model} has a hidden state (audits recorded before the gateway kept them)`, 1);
  const widths = new Set(records.map((r) => r.hidden.length));
  if (widths.size > 1) throw new CliError(`the audits' hidden states have several widths (${[...widths].join(", ")}): the LM's hidden-state server changed; export a range of one`, 1);
  const settings: ExportSettings = {
    source: "audits",
    gateway,
    tenant,
    model,
    reward_model: rewardModel ?? "unknown",
    form,
    samples: Math.min(...records.map((r) => r.rewards.length)),
    exported_at: new Date().toISOString(),
  };
  await writeFile(out, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  await writeFile(`${out}.meta.json`, JSON.stringify(settings, null, 2) + "\n");
  const skipped = chosen.length - withHidden.length;
  process.stdout.write(
    `wrote ${records.length} audited prompts of ${model} (${form} form, ${settings.samples}+ rewards each) to ${out} and ${out}.meta.json` +
      (skipped > 0 ? `; ${skipped} left out (recorded before hidden states were kept)` : "") +
      (audits.length > ofModel.length ? `; ${audits.length - ofModel.length} of other models not exported` : "") +
      "\n",
  );
}

const subcommands: Record<string, (args: string[]) => Promise<void>> = { export: runExport };

export async function runAudits(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const run = sub ? subcommands[sub] : undefined;
  if (!run) throw new CliError(`allot audits takes a subcommand: ${Object.keys(subcommands).join(", ")}\n${usage}`);
  await run(rest);
}
