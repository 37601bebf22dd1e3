// Calibration that learns from traffic (src/worker/tenants/refits.ts, docs/audits.md):
// once a predictor has MIN_AUDITS audits of a tenant, its temperature and prior strength are
// refitted on them, stored in the tenant's ledger, served (calibration "audited") or not
// ("shipped"), and shown in GET /v1/usage with a drift flag. Real ledgers and the reference
// LM; the audits are recorded through the ledger, crafted so the predictor is overconfident
// on this "traffic" by a known temperature.
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { scaled } from "../../src/core/audit/calibration.js";
import { DRIFT_ECE, REFIT_EVERY, REFIT_HISTORY } from "../../src/core/audit/recalibration.js";
import type { CalibrationStatus } from "../../src/core/contracts/tenants.js";
import type { Env } from "../../src/worker/env.js";
import type { AuditRecord } from "../../src/worker/tenants/audits.js";
import { tenantLedger } from "../../src/worker/tenants/lookup.js";
import { priorOf } from "../../src/core/allocation/waves.js";
import { CallMeter } from "../../src/core/lm/meter.js";
import { planBestOfK } from "../../src/worker/online/plan.js";
import { findPredictor } from "../../src/worker/predictor/registry.js";
import { ADMIN, call, newTenant, until } from "./support.js";
import { diminishing, refitCurve } from "../../src/core/audit/refit-curve.js";
import { atomsFromCurve } from "../../src/core/allocation/pandora.js";
import { mulberry32 } from "../../src/core/allocation/select.js";
import strongGradedModel from "../../models/predictors/strong-graded.onnx";
import strongGradedManifest from "../../models/predictors/strong-graded.manifest.json";
import strongGradedParity from "../../models/predictors/strong-graded.parity.json";

const env = workerEnv as unknown as Env;
/** Samples per crafted audit: enough that a pass rate is close to its p. */
const K = 16;
/** The temperature the crafted traffic is miscalibrated by (the predictor overconfident). */
const TRUE_T = 2;

async function tenantWith(online: Record<string, unknown>) {
  const t = await newTenant();
  const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, min_units: 1, max_units: 8, ...online }) });
  expect(res.status).toBe(200);
  return t;
}

type Choice = { predicted_success: number | null };
const complete = async (h: Record<string, string>) => {
  const res = await call("/v1/completions", { method: "POST", headers: h, body: JSON.stringify({ model: "strong", prompt: "345+678=", seed: 7, temperature: 0.8, max_tokens: 12 }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { allot: { choices: Choice[] } }).allot.choices[0].predicted_success!;
};

/** `n` audits of `predictor` whose pass rates are scaled(p, TRUE_T): what a predictor overconfident by TRUE_T would be labelled with. */
const crafted = (predictor: string, n: number, offset = 0): AuditRecord[] =>
  Array.from({ length: n }, (_, i) => {
    const p = [0.1, 0.25, 0.4, 0.6, 0.75, 0.9][(i + offset) % 6];
    const s = Math.round(K * scaled(p, TRUE_T));
    const rewards = Array.from({ length: K }, (_, j) => (j < s ? 1 : 0));
    return { model: "strong", predictor, predicted: p, curve: null, rewards, samples: 1, units: 1, reward: rewards[0], audit_units: K - 1 };
  });

const calibrationOf = async (h: Record<string, string>) => ((await (await call("/v1/usage", { headers: h })).json()) as { calibration: CalibrationStatus[] }).calibration;

describe("calibration that learns from a tenant's audits", () => {
  it("refits after MIN_AUDITS audits, serves scaled(p, T), is reversible, and flags drift", async () => {
    // The predictor's name and its shipped p on this prompt, from an audited request before any refit.
    const probe = await tenantWith({ audit_rate: 1 });
    const shipped = await complete(probe.headers);
    const probeLedger = tenantLedger(env, probe.id);
    await until(async () => (await probeLedger.listAudits())!.length === 1, { timeoutMs: 30_000, what: "the probe's audit" });
    const predictor = (await probeLedger.listAudits())![0].predictor!;
    expect((await probeLedger.listAudits())![0].predicted).toBeCloseTo(shipped, 12);

    const t = await tenantWith({ audit_rate: 0 });
    const ledger = tenantLedger(env, t.id);
    expect(await calibrationOf(t.headers)).toEqual([]);
    await ledger.recordAudits(crafted(predictor, 29));
    expect(await calibrationOf(t.headers)).toEqual([]); // fewer than MIN_AUDITS: nothing refitted, nothing applied
    expect(await complete(t.headers)).toBeCloseTo(shipped, 12);

    await ledger.recordAudits(crafted(predictor, 1, 29));
    const [c] = await calibrationOf(t.headers);
    expect(c).toMatchObject({ predictor, applied: true });
    expect(c.refit.audits).toBe(30);
    expect(c.refit.temperature).toBeGreaterThan(1.6); // about TRUE_T (pass rates rounded to sixteenths)
    expect(c.refit.temperature).toBeLessThan(2.4);
    expect(c.refit.strength).toBeGreaterThan(0);
    expect(c.refit.ece_before).toBeGreaterThan(DRIFT_ECE);
    expect(c.refit.ece_after).toBeLessThan(c.refit.ece_before);
    // Served: what is served is calibrated on these audits.
    expect(c.ece).toBe(c.refit.ece_after);
    expect(c.drifted).toBe(c.refit.ece_after > DRIFT_ECE);
    expect((await ledger.summary())!.audited_calibration).toEqual([c]);

    // A request gets the refitted p; its audit still labels the shipped p (a refit is always of the predictor as published).
    const T = c.refit.temperature;
    expect(await complete(t.headers)).toBeCloseTo(scaled(shipped, T), 12);
    await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, min_units: 1, max_units: 8, audit_rate: 1 }) });
    expect(await complete(t.headers)).toBeCloseTo(scaled(shipped, T), 12);
    await until(async () => (await ledger.listAudits())!.length === 31, { timeoutMs: 30_000, what: "the request's audit" });
    expect((await ledger.listAudits())!.at(-1)!.predicted).toBeCloseTo(shipped, 12);

    // Reversible: "shipped" serves the predictor as published, and says its calibration on this traffic has drifted.
    const off = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, min_units: 1, max_units: 8, audit_rate: 0, calibration: "shipped" }) });
    expect(((await off.json()) as { calibration: string }).calibration).toBe("shipped");
    expect(await complete(t.headers)).toBeCloseTo(shipped, 12);
    const [s] = await calibrationOf(t.headers);
    expect(s).toMatchObject({ predictor, applied: false, drifted: true, ece: c.refit.ece_before });
    const on = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, min_units: 1, max_units: 8, audit_rate: 0 }) });
    expect(((await on.json()) as { calibration: string }).calibration).toBe("audited");
    expect(await complete(t.headers)).toBeCloseTo(scaled(shipped, T), 12);
  });

  it("reaches a tenant on budget shards with their grant (at the shards' next report)", async () => {
    const probe = await tenantWith({ audit_rate: 1 });
    const shipped = await complete(probe.headers);
    const probeLedger = tenantLedger(env, probe.id);
    await until(async () => (await probeLedger.listAudits())!.length === 1, { timeoutMs: 30_000, what: "the probe's audit" });
    const predictor = (await probeLedger.listAudits())![0].predictor!;

    const t = await tenantWith({ audit_rate: 0, shards: 2 });
    expect(await complete(t.headers)).toBeCloseTo(shipped, 12);
    await tenantLedger(env, t.id).recordAudits(crafted(predictor, 30));
    const [c] = await calibrationOf(t.headers);
    // The shards serve by their last report's grant: make them report now rather than wait a report interval.
    await Promise.all([0, 1].map((k) => env.BUDGET_SHARDS.get(env.BUDGET_SHARDS.idFromName(`${t.id}/${k}`)).sync()));
    for (let i = 0; i < 3; i++) expect(await complete(t.headers)).toBeCloseTo(scaled(shipped, c.refit.temperature), 12);
  });

  it("recomputes every REFIT_EVERY new audits, keeping a bounded history", async () => {
    const t = await tenantWith({ audit_rate: 0 });
    const ledger = tenantLedger(env, t.id);
    await ledger.recordAudits(crafted("some-predictor", 30));
    expect(await ledger.refitHistory("some-predictor")).toHaveLength(1);
    await ledger.recordAudits(crafted("some-predictor", REFIT_EVERY - 1));
    expect(await ledger.refitHistory("some-predictor")).toHaveLength(1);
    await ledger.recordAudits(crafted("some-predictor", 1));
    const two = (await ledger.refitHistory("some-predictor"))!;
    expect(two).toHaveLength(2);
    expect(two[0].audits).toBe(30 + REFIT_EVERY);
    for (let i = 0; i < REFIT_HISTORY + 2; i++) await ledger.recordAudits(crafted("some-predictor", REFIT_EVERY));
    const kept = (await ledger.refitHistory("some-predictor"))!;
    expect(kept).toHaveLength(REFIT_HISTORY);
    // The usage API (and the console) show the latest and the history before it, newest first.
    const [status] = await calibrationOf(t.headers);
    const shown = (r: (typeof kept)[number]) => ({ temperature: r.temperature, strength: r.strength, audits: r.audits, ece_before: r.ece_before, ece_after: r.ece_after, at: new Date(r.at).toISOString() });
    expect(status.refit).toEqual(shown(kept[0]));
    expect(status.history).toEqual(kept.slice(1).map(shown));
    // Audits of another predictor, or unpredicted, refit nothing of this one.
    expect((await calibrationOf(t.headers)).map((c) => c.predictor)).toEqual(["some-predictor"]);
  });

  it("a drifted predictor a temperature cannot fix stays flagged when its refit is applied", async () => {
    const t = await tenantWith({ audit_rate: 0 });
    const ledger = tenantLedger(env, t.id);
    // Upside down: the higher the predicted p, the lower the pass rate. T is bounded to [1/4, 4], never negative.
    const rows = Array.from({ length: 30 }, (_, i): AuditRecord => {
      const p = [0.1, 0.3, 0.7, 0.9][i % 4];
      const s = Math.round(K * (1 - p));
      const rewards = Array.from({ length: K }, (_, j) => (j < s ? 1 : 0));
      return { model: "strong", predictor: "upside-down", predicted: p, curve: null, rewards, samples: 1, units: 1, reward: rewards[0], audit_units: K - 1 };
    });
    await ledger.recordAudits(rows);
    const [c] = await calibrationOf(t.headers);
    expect(c.refit.temperature).toBeLessThanOrEqual(4 + 1e-9);
    expect(c.refit.temperature).toBeGreaterThanOrEqual(0.25 - 1e-9);
    expect(c).toMatchObject({ predictor: "upside-down", applied: true, drifted: true });
    expect(c.ece).toBeGreaterThan(DRIFT_ECE);
  });

  it("a refit's prior strength is the waves prior's: the plan's Beta prior is priorOf(scaled p, refitted strength)", async () => {
    const shipped = (await findPredictor(env, { lmModel: "strong" }))!;
    expect(shipped.manifest.prior_strength).toBeDefined();
    const req = { inputs: [{ prompt: "345+678=" }], model: "strong", params: { temperature: 0.8 } };
    const base = { min_units: 1, max_units: 16, target_units: 4, price: 0.02 };
    const [asShipped] = await planBestOfK(env, req, base, false, 4, new CallMeter());
    const refit = { temperature: 2, strength: shipped.manifest.prior_strength! * 3 };
    const [tuned] = await planBestOfK(env, req, { ...base, refits: { [shipped.manifest.name]: refit } }, false, 4, new CallMeter());
    if (asShipped.kind !== "rounds" || tuned.kind !== "rounds") throw new Error("expected waves (rounds) plans");
    const p = asShipped.predicted[0]!;
    expect(asShipped.query.arms[0].belief).toEqual({ prior: priorOf(p, shipped.manifest.prior_strength!) });
    expect(tuned.predicted[0]).toBeCloseTo(scaled(p, 2), 12);
    expect(tuned.query.arms[0].belief).toEqual({ prior: priorOf(scaled(p, 2), refit.strength) });
  });
});

describe("a refit served to a curve predictor (real-valued rewards: core/audit/refit-curve.ts)", () => {
  const concave = (q: readonly number[]) => q.every((x, k) => k < 2 || x - q[k - 1] <= q[k - 1] - q[k - 2] + 1e-12) && q[0] >= 0 && q.length > 0 && (q.length < 2 || q[1] - q[0] <= q[0] + 1e-12);

  it("is the binary refit on a pass/fail curve, the curve itself at T = 1, and keeps any curve in [0, 1], non-decreasing and concave", () => {
    for (const p of [0.02, 0.2, 0.5, 0.8, 0.97])
      for (const T of [0.25, 0.5, 2, 4]) {
        const bernoulli = Array.from({ length: 16 }, (_, k) => 1 - (1 - p) ** (k + 1));
        const want = Array.from({ length: 16 }, (_, k) => 1 - (1 - scaled(p, T)) ** (k + 1));
        // To 5e-6: a curve near 1 is given as values, and 1 − q(k) loses digits there (p = 0.97, k ≥ 10).
        refitCurve(bernoulli, T).forEach((q, k) => expect(q).toBeCloseTo(want[k], 5));
        expect(refitCurve(bernoulli, 1)).toEqual(bernoulli);
      }
    // Random concave curves (as the graded predictor gives), every temperature in the refit's bounds.
    const rand = mulberry32(24);
    for (let trial = 0; trial < 300; trial++) {
      const gains = Array.from({ length: 16 }, () => rand()).sort((a, b) => b - a);
      const scale = rand() / gains.reduce((a, b) => a + b, 0);
      const curve = gains.map((_, k) => gains.slice(0, k + 1).reduce((a, b) => a + b, 0) * scale);
      const T = Math.exp(Math.log(0.25) + rand() * Math.log(16));
      const q = refitCurve(curve, T);
      expect(q).toHaveLength(16);
      expect(q[0]).toBeCloseTo(scaled(curve[0], T), 6);
      q.forEach((x, k) => {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
        if (k > 0) expect(x).toBeGreaterThanOrEqual(q[k - 1] - 1e-12);
      });
      expect(concave(q)).toBe(true);
    }
  });

  it("makes the gains of a curve a temperature would bend upwards non-increasing, keeping its first point and raising none", () => {
    const bent = diminishing([0.1, 0.15, 0.35, 0.36]);
    [0.1, 0.15, 0.2, 0.21].forEach((x, k) => expect(bent[k]).toBeCloseTo(x, 12));
    expect(diminishing([0.5, 0.75, 0.875])).toEqual([0.5, 0.75, 0.875]);
  });

  it("is served: the plan's curve, its Pandora atoms and its p are the refit's, the audit's p the shipped one; \"shipped\" serves the curve as published", async () => {
    // strong-graded published as the predictor of "strong" (a published predictor is preferred), removed after.
    const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
    const body = { manifest: { ...strongGradedManifest, name: "refit-graded" }, onnx: b64(strongGradedModel), parity: strongGradedParity };
    const put = await call("/admin/predictors/refit-graded", { method: "PUT", headers: ADMIN, body: JSON.stringify(body) });
    expect(put.status).toBe(201);
    try {
      const req = { inputs: [{ prompt: "345+678=" }], model: "strong", params: { temperature: 0.8 } };
      const base = { min_units: 1, max_units: 16, target_units: 4, price: 0.02 };
      const [asShipped] = await planBestOfK(env, req, base, false, 4, new CallMeter());
      const refit = { temperature: 2, strength: 5 };
      const [tuned] = await planBestOfK(env, req, { ...base, refits: { "refit-graded": refit } }, false, 4, new CallMeter());
      if (asShipped.kind !== "rounds" || tuned.kind !== "rounds") throw new Error("expected waves (rounds) plans");
      expect(asShipped.curve!.predictor).toBe("refit-graded");
      // The plan's points extend the predictor's curve (b_max points) flat to CURVE_UNITS; the refit is of the curve as predicted.
      const shippedCurve = asShipped.curve!.points;
      const want = refitCurve(shippedCurve.slice(0, strongGradedManifest.b_max), 2);
      tuned.curve!.points.forEach((q, k) => expect(q).toBeCloseTo(want[Math.min(k, want.length - 1)], 9));
      expect(tuned.predicted[0]).toBeCloseTo(scaled(shippedCurve[0], 2), 9);
      expect(tuned.shipped).toBeCloseTo(shippedCurve[0], 12);
      expect(asShipped.shipped).toBeUndefined();
      const atoms = (tuned.query.arms[0].belief as { atoms: Float64Array; strength?: number }).atoms;
      Array.from(atomsFromCurve(want)).forEach((a, k) => expect(atoms[k]).toBeCloseTo(a, 6));
      // One round decided up front: the options are valued on the refitted curve.
      const [fixed] = await planBestOfK(env, req, { ...base, refits: { "refit-graded": refit } }, false, 1, new CallMeter());
      if (fixed.kind !== "fixed") throw new Error("expected a fixed plan");
      fixed.options.forEach((o) => expect(o.value).toBeCloseTo(want[o.k - 1], 9));
      expect(fixed.options[0].predicted).toBeCloseTo(want[0], 9);
      // Reversible: without the refit (the tenant's calibration "shipped" sends none), the curve as published.
      const [again] = await planBestOfK(env, req, base, false, 4, new CallMeter());
      expect(again.curve!.points).toEqual(shippedCurve);
    } finally {
      expect((await call("/admin/predictors/refit-graded", { method: "DELETE", headers: ADMIN })).status).toBe(204);
    }
  });
});
