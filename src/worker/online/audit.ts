/**
 * Audits of online requests (docs/audits.md). A request is picked at random (the tenant's
 * audit_rate), whatever its prediction, so audited prompts are a random sample of the
 * traffic. It is served exactly as any other: the policy draws its rounds, the client
 * gets the policy's answer and the tenant is charged the policy's units. Then, once the
 * answer is charged, each prompt draws the rest of its audit set (max_units samples in
 * all) in one more call, scored, and the ledger records every reward in draw order.
 *
 * Why after, not one round of max_units first and the policy replayed on it: the samples
 * are independent draws either way, so the rewards in draw order are distributed alike
 * and the policy's stopping rule, replayed on them, stops where it stopped; but drawing the
 * policy's rounds as they are makes the answer the very one the client would have had
 * without the audit (the same seeds), adds no latency, and needs no second copy of the
 * policy. The extra samples are outside the tenant's budget: no reservation holds them
 * (none can leak, none can refuse them) and nothing is charged for them; they are counted
 * apart (the `audit_units` counter) as the cost of proof.
 */
import { mapBounded, sampleAndRerank } from "../../core/backends/best-of-k.js";
import type { SamplingParams } from "../../core/backends/completions.js";
import { roundSeed } from "../../core/allocation/waves.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { CallMeter } from "../../core/lm/meter.js";
import { printable } from "../../core/log.js";
import { lmConfig } from "../backends/config.js";
import type { Env } from "../env.js";
import { twice } from "../tenants/account.js";
import type { AuditRecord } from "../tenants/audits.js";
import { tenantLedger } from "../tenants/lookup.js";
import type { PromptPlan } from "./plan.js";
import type { DrawnForRecord } from "./record.js";
import type { OnlineRequest } from "./request.js";

/**
 * Whether a request is audited: one whose spend the price decided (not pinned, not
 * greedy: there the policy decided nothing), of one model (a routed request's samples
 * come from several; not audited yet), without tools (ranked by agreement among its
 * samples, not by a reward per sample), picked with probability `rate`.
 *
 * @example picksAudit(1, { priced: true, routed: false, tools: false }) // true
 */
export function picksAudit(rate: number, o: { priced: boolean; routed: boolean; tools: boolean }, random: () => number = Math.random): boolean {
  return o.priced && !o.routed && !o.tools && rate > 0 && random() < rate;
}

/** What one prompt's policy drew, as the audit needs it. */
export interface PolicyDraw extends DrawnForRecord {
  readonly model: string;
  readonly result: (DrawnForRecord["result"] & { readonly by: "reward" | "agreement" }) | null;
}

/**
 * Draws the rest of each prompt's audit set (`size` samples in all) after the policy's
 * `drawn`, scores them, and records the audits in the tenant's ledger. A prompt whose
 * answer had no reward is left out; a failure is logged and records nothing (an audit is
 * never retried: a prompt picked again would no longer be a random pick).
 */
export async function auditServed(env: Env, tenant: string, req: OnlineRequest, plans: readonly PromptPlan[], drawn: readonly PolicyDraw[], size: number, params: SamplingParams): Promise<void> {
  try {
    const cfg = { ...lmConfig(env), meter: new CallMeter() };
    const rows = await mapBounded(drawn, 3, async (d, i): Promise<AuditRecord | null> => {
      const r = d.result;
      if (!r || r.by !== "reward" || r.reward === null) return null;
      const extra = Math.max(0, size - d.samples);
      const more = extra > 0 ? (await sampleAndRerank({ ...cfg, model: d.model }, [{ input: req.inputs[i] as LmInput, units: extra, seed: roundSeed(req.seed, d.rounds) }], params))[0].rewards : [];
      const plan = plans[i];
      return {
        model: d.model,
        predictor: plan.curve?.predictor ?? null,
        // The shipped p, not the tenant's refit of it: a refit is always of the predictor as published (plan.ts shipped).
        predicted: plan.shipped ?? (plan.kind === "fixed" ? plan.options[plan.chosen].predicted : (plan.predicted[0] ?? null)),
        curve: plan.curve?.points ?? null,
        rewards: [...r.rewards, ...more],
        samples: d.samples,
        units: d.units,
        reward: r.reward,
        audit_units: d.samples > 0 ? (extra * d.units) / d.samples : extra,
        hidden: plan.hidden ? Array.from(plan.hidden) : null,
        form: "messages" in (req.inputs[i] as LmInput) ? "chat" : "prompt",
        response_id: req.responseId ?? null,
      };
    });
    const audits = rows.filter((a): a is AuditRecord => a !== null);
    if (audits.length > 0) await twice(() => tenantLedger(env, tenant).recordAudits(audits));
  } catch (e) {
    console.error(`an audit of tenant ${tenant} failed, and is not recorded: ${printable(e instanceof Error ? e.message : String(e))}`);
  }
}
