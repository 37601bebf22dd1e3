/**
 * The doctor as the gateway runs it (GET /admin/doctor, and `allot doctor`, which calls
 * that route): its settings, the deployment they build and every predictor it serves,
 * probed from where the Worker stands (core/doctor.ts does the probing). `configFindings`
 * is the part that needs no server: what /readyz reports on every call.
 */
import { type Finding, type Probe, runDoctor } from "../../core/doctor.js";
import { Misconfigured } from "../../core/errors.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { catalog } from "../predictor/registry.js";
import { lmConfig } from "./config.js";

const settingsError = (e: Misconfigured): Finding => ({ level: "error", role: "settings", server: null, model: null, message: e.reason, setting: e.setting });

/**
 * What the settings alone say is wrong: a setting that does not read, and the servers
 * predictions and sampling need but no setting names (no default stands in for them).
 *
 * @example const problems = await configFindings(env); // [] when the settings are complete
 */
export async function configFindings(env: Env): Promise<Finding[]> {
  let s;
  try {
    s = settings(env);
  } catch (e) {
    if (e instanceof Misconfigured) return [settingsError(e)];
    throw e;
  }
  const out: Finding[] = [];
  const unset = (setting: string, message: string) => out.push({ level: "error", role: "settings", server: null, model: null, message, setting });
  if (!s.LM_URL) unset("LM_URL", "LM_URL is not set: nothing can be sampled");
  if (!s.REWARD_URL) unset("REWARD_URL", "REWARD_URL is not set: samples cannot be scored, so nothing can be sampled");
  if (!s.REWARD_MODEL) unset("REWARD_MODEL", "REWARD_MODEL is not set: samples cannot be scored, so nothing can be sampled");
  if (!s.HIDDEN_STATES_URL) {
    const named = s.HIDDEN_STATES_URLS ?? new Map<string, string>();
    const { predicted } = await modelsOf(env, s.LM_MODEL);
    const models = predicted.filter((m) => !named.has(m));
    if (models.length > 0) unset("HIDDEN_STATES_URL", `HIDDEN_STATES_URL is not set (nor HIDDEN_STATES_URLS for ${models.join(", ")}): their requests cannot be predicted`);
  }
  return out;
}

/**
 * The LMs the deployment serves: LM_MODEL and those its published predictors and routers
 * read or route to (`required`), and those only the predictors shipped for the reference
 * LM name (`optional`: a deployment of its own LMs need not serve them). `predicted`: the
 * required ones whose hidden states are read.
 */
async function modelsOf(env: Env, lmModel: string) {
  const all = await catalog(env);
  const readers = (p: (typeof all)[number]) => [p.manifest.lm.model, ...(p.manifest.route?.options.map((o) => o.model) ?? [])];
  const published = all.filter((p) => p.source === "published");
  const required = [...new Set([lmModel, ...published.flatMap(readers)])];
  const optional = [...new Set(all.flatMap(readers))].filter((m) => !required.includes(m));
  const predicted = [...new Set([lmModel, ...published.map((p) => p.manifest.lm.model)])].filter((m) => all.some((p) => p.manifest.lm.model === m));
  return { all, required, optional, predicted };
}

/**
 * Every finding: the settings', then each server's for each role and model.
 *
 * @example const findings = await doctor(env, { prompt: "12+34=", right: "46", wrong: "47" });
 */
export async function doctor(env: Env, probe?: Probe): Promise<Finding[]> {
  const config = await configFindings(env);
  if (config.some((f) => f.role === "settings" && (f.setting === "LM_URL" || !/ is not set/.test(f.message)))) return config;
  const s = settings(env);
  const cfg = lmConfig(env);
  const { all, required, optional } = await modelsOf(env, s.LM_MODEL);
  const predictors = all.map((p) => p.manifest);
  const models = [...required, ...optional];
  const optionalModels = optional;
  const found = await runDoctor({
    cfg,
    names: { hidden: s.HIDDEN_STATES, rewards: s.REWARDS, label: env.REWARD_LABEL?.trim() || null },
    predictors,
    models,
    optionalModels,
    hiddenModels: [s.LM_MODEL],
    probe,
    timeoutMs: Math.min(s.LM_TIMEOUT_MS, 15_000),
  });
  // A finding the probes repeat (an unset server) is said once.
  return [...config, ...found.filter((f) => !config.some((c) => c.setting !== null && c.setting === f.setting && f.server === null))];
}
