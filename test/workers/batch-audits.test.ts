// Audits of batches (src/worker/batches/audit.ts, docs/audits.md#audits-of-batches): the
// tenant's audit_rate picks batch prompts at random; once the batch is done and settled,
// each picked prompt draws the rest of its budget.max samples, scored, outside the batch's
// budget, and the tenant's ledger records it with the batch as its source. Against the real
// reference LM and real objects: an audited batch's results and charge are exactly an
// unaudited twin's, an eviction records nothing twice, and each batch has its own figure.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/core/config/settings.js";
import type { BatchStatus } from "../../src/core/contracts/batches.js";
import type { Env } from "../../src/worker/env.js";
import { tenantLedger } from "../../src/worker/tenants/lookup.js";
import { ADMIN, call, newTenant, until } from "./support.js";

const env = workerEnv as unknown as Env;
const PREFILL = Number(SETTINGS.PREFILL_UNITS.default);
/** The audit size: the batches' budget.max. */
const K = 8;

async function auditingTenant(rate: number) {
  const t = await newTenant();
  const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, audit_rate: rate }) });
  expect(res.status).toBe(200);
  return t;
}

type Result = { id: string; best: string | null; reward: number | null; units: number; samples: number; status: string; response_id?: string };

async function submit(h: Record<string, string>, body: Record<string, unknown>) {
  const res = await call("/v1/batches", { method: "POST", headers: h, body: JSON.stringify(body) });
  expect(res.status).toBe(202);
  return ((await res.json()) as BatchStatus).id;
}

const status = async (h: Record<string, string>, id: string) => (await (await call(`/v1/batches/${id}`, { headers: h })).json()) as BatchStatus;

/** Fires the batch's alarms until `done` holds of its status (the runtime also fires them on its own). */
async function drive(h: Record<string, string>, id: string, done: (s: BatchStatus) => boolean) {
  const stub = env.BATCHES.get(env.BATCHES.idFromName(id));
  return until(
    async () => {
      const s = await status(h, id);
      if (done(s)) return s;
      await runDurableObjectAlarm(stub);
      return null;
    },
    { timeoutMs: 60_000, what: `batch ${id}` },
  );
}
const ended = (s: BatchStatus) => ["done", "failed", "cancelled"].includes(s.status);
const allAudited = (s: BatchStatus) => s.status === "done" && s.audits!.prompts === s.audits!.picked;
/** The tenant's ledger holds `n` audits (a batch marks an audit drawn before the ledger has recorded it). */
const recorded = (tenant: string, n: number) => until(async () => (await tenantLedger(env, tenant).listAudits())!.length >= n, { timeoutMs: 30_000, what: `${n} audits recorded` });

async function results(h: Record<string, string>, id: string): Promise<Result[]> {
  return (await (await call(`/v1/batches/${id}/results`, { headers: h })).text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Result);
}

const day = async (h: Record<string, string>) => ((await (await call("/v1/usage", { headers: h })).json()) as { windows: { window: string; used: number; reserved: number }[] }).windows.find((w) => w.window === "day")!;

const TEXTS = ["12+34=", "345+678=", "4567+8912=", "56*78=", "2+3=", "98765+43210=", "234+567=", "12*34="];

describe("audited batches", () => {
  for (const allocation of ["waves", "learned", "uniform"] as const) {
    it(`${allocation}: at audit_rate 1 every prompt is audited after the batch, which answers and charges exactly as without; K rewards in draw order, the extra counted apart`, async () => {
      const plain = await auditingTenant(0);
      const audited = await auditingTenant(1);
      const body = { prompts: TEXTS.map((prompt, i) => ({ id: `p${i}`, prompt })), allocation, budget: { average: 3, min: 1, max: K }, sampling: { seed: 11, max_tokens: 12 } };
      const [a, b] = [await submit(plain.headers, body), await submit(audited.headers, body)];
      const sa = await drive(plain.headers, a, ended);
      const sb = await drive(audited.headers, b, allAudited);
      expect(sa.audits).toMatchObject({ rate: 0, picked: 0, prompts: 0 });
      expect(sb.audits).toMatchObject({ rate: 1, picked: TEXTS.length, prompts: TEXTS.length, audited: null });
      expect(sb.audits!.note).toContain(`${TEXTS.length} of 30`);
      // What the client sees is the policy's: the same answers, samples and units (each answer's
      // response id is its own batch's, signed for its tenant, so it differs between the twins).
      const [ra, rb] = [await results(plain.headers, a), await results(audited.headers, b)];
      const unsigned = (rs: Result[]) => rs.map(({ response_id: _id, ...r }) => r);
      expect(rb.every((r) => typeof r.response_id === "string")).toBe(true);
      expect(unsigned(rb)).toEqual(unsigned(ra));
      // Charged the policy's units only (and its prefills), as the twin; nothing held.
      const prefills = allocation === "uniform" ? 0 : TEXTS.length * PREFILL;
      const policy = rb.reduce((s, r) => s + r.units, 0);
      const [ua, ub] = [await day(plain.headers), await day(audited.headers)];
      expect(ub.used).toBeCloseTo(ua.used, 9);
      expect(ub.used).toBeCloseTo(policy + prefills, 9);
      expect(ub.reserved).toBe(0);
      expect(sb.allocation!.units_used).toBeCloseTo(policy + prefills, 9);
      // The ledger keeps each prompt's K rewards, the policy's first, with the batch as source.
      await recorded(audited.id, TEXTS.length);
      const rows = (await tenantLedger(env, audited.id).listAudits())!;
      expect(rows).toHaveLength(TEXTS.length);
      const byReward = [...rows];
      for (const r of rb) {
        const x = byReward.find((y) => y.samples === r.samples && y.reward === (r.reward ?? 0) && y.units === r.units);
        expect(x).toBeDefined();
        byReward.splice(byReward.indexOf(x!), 1);
      }
      for (const x of rows) {
        expect(x.source).toBe(b);
        expect(x.model).toBe("strong");
        expect(x.rewards).toHaveLength(K);
        expect(Math.max(...x.rewards.slice(0, x.samples))).toBe(x.reward);
        expect(x.audit_units).toBe(K - x.samples);
        if (allocation === "uniform") expect(x.predictor).toBeNull();
        else expect(x.predicted).toBeGreaterThanOrEqual(0);
      }
      // The cost of proof, counted apart.
      const life = (await tenantLedger(env, audited.id).lifetime())!;
      expect(life.audits).toBe(TEXTS.length);
      expect(life.audit_units).toBe(rows.reduce((s, x) => s + K - x.samples, 0));
      expect(sb.audits!.units).toBe(life.audit_units);
      expect((await day(audited.headers)).used).toBeCloseTo(ub.used, 9);
    });
  }

  it("records every audit once though the batch is evicted while auditing, and again after the ledger recorded it but before the batch knew", async () => {
    const t = await auditingTenant(1);
    const texts = Array.from({ length: 10 }, (_, i) => `${300 + i}+${400 + 7 * i}=`);
    const id = await submit(t.headers, { prompts: texts.map((prompt, i) => ({ id: `p${i}`, prompt })), allocation: "waves", budget: { average: 3, min: 1, max: K }, sampling: { seed: 3, max_tokens: 12 } });
    const done = await drive(t.headers, id, (s) => s.status === "done");
    const charged = (await day(t.headers)).used;
    // The batch's object evicted (its state reset, as the runtime does): whatever audit step was in flight is cut off.
    // Only this object: evicting every object (abortAllDurableObjects) left the test pool unable to start the next file.
    await runInDurableObject(env.BATCHES.get(env.BATCHES.idFromName(id)), (_o, state) => {
      try {
        state.abort("evicted");
      } catch {
        // abort() throws in the call that asked for it: the object is reset either way.
      }
    }).catch(() => undefined);
    const all = await drive(t.headers, id, allAudited);
    expect(all.audits!.prompts).toBe(texts.length);
    // As if evicted between the ledger's recording and the batch's marking: the ledger is asked again (a stub made after the eviction).
    const stub = env.BATCHES.get(env.BATCHES.idFromName(id));
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE item SET audit = 'drawn' WHERE idx < 5");
      state.storage.sql.exec("UPDATE item SET audit = 'picked', audit_rewards = NULL WHERE idx >= 8");
    });
    await drive(t.headers, id, allAudited);
    await until(async () => (await runInDurableObject(stub, (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE audit != 'recorded'").one().n)) === 0 || (await runDurableObjectAlarm(stub), false), { timeoutMs: 30_000, what: "every audit marked recorded" });
    const left = await runInDurableObject(stub, (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE audit != 'recorded'").one().n);
    expect(left).toBe(0);
    const rows = (await tenantLedger(env, t.id).listAudits())!;
    expect(rows).toHaveLength(texts.length);
    const life = (await tenantLedger(env, t.id).lifetime())!;
    expect(life.audits).toBe(texts.length);
    expect(life.audit_units).toBe(rows.reduce((s, x) => s + K - x.samples, 0));
    // Nothing charged for any of it: the batch's charge stands.
    expect((await day(t.headers)).used).toBeCloseTo(charged, 9);
    expect((await day(t.headers)).reserved).toBe(0);
    expect((await status(t.headers, id)).allocation!.units_used).toBeCloseTo(done.allocation!.units_used, 9);
  });

  it("gives a batch its own audited figure from 30 audits, against uniform on the same prompts and samples", async () => {
    const t = await auditingTenant(1);
    const texts = Array.from({ length: 32 }, (_, i) => (i % 2 ? `${10 + i}+${20 + i}=` : `${300 + 13 * i}+${400 + 7 * i}=`));
    const id = await submit(t.headers, { prompts: texts.map((prompt, i) => ({ id: `p${i}`, prompt })), allocation: "waves", budget: { average: 2, min: 1, max: 4 }, sampling: { seed: 5, max_tokens: 12 } });
    const s = await drive(t.headers, id, allAudited);
    const a = s.audits!;
    expect(a).toMatchObject({ picked: texts.length, prompts: texts.length, needed: 30, note: null });
    const rs = await results(t.headers, id);
    const audited = a.audited!;
    expect(audited.prompts).toBe(texts.length);
    // allot's side is the batch's own answers: its mean units and quality.
    expect(audited.mean_units).toBeCloseTo(rs.reduce((x, r) => x + r.units, 0) / rs.length, 9);
    expect(audited.quality).toBeCloseTo(rs.reduce((x, r) => x + (r.reward ?? 0), 0) / rs.length, 9);
    expect(audited.gain_ci95[0]).toBeLessThanOrEqual(audited.gain);
    expect(audited.gain_ci95[1]).toBeGreaterThanOrEqual(audited.gain);
    // The batch's figure is of its own audits; the tenant's usage counts them among all its audits.
    await recorded(t.id, texts.length);
    expect((await tenantLedger(env, t.id).listAudits())!.every((x) => x.source === id)).toBe(true);
  });

  it("audits no prompt of a routed batch (its samples come from several models)", async () => {
    const t = await auditingTenant(1);
    const id = await submit(t.headers, { prompts: TEXTS.slice(0, 3).map((prompt, i) => ({ id: `p${i}`, prompt })), mode: "route", allocation: "learned", budget: { average: 2, min: 1, max: K } });
    const s = await drive(t.headers, id, ended);
    expect(s.audits).toBeNull();
    await runDurableObjectAlarm(env.BATCHES.get(env.BATCHES.idFromName(id)));
    expect((await tenantLedger(env, t.id).listAudits())!).toHaveLength(0);
  });
});
