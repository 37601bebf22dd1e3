/** A batch's submission, whichever door it came by: allot's body (routes/batches.ts) or an OpenAI input file (routes/openai-batches.ts). */
import { choosePredictor, modelNotFound } from "../predictor/predict.js";
import { findRouter, knownModel } from "../predictor/registry.js";
import type { BatchRequest, BatchStatus } from "../../core/contracts/batches.js";
import type { Env } from "../env.js";
import { Invalid, TryLater, UnknownTenant } from "../../core/errors.js";
import { type BatchPrompt, batchReservation } from "./run.js";
import { settings } from "../config.js";
import { batchRun as run } from "./list.js";
import { refusalError } from "../tenants/budget-error.js";
import { randomHex, tenantLedger as ledger } from "../tenants/lookup.js";

/**
 * Submits a batch for `tenant`: checks its size and model, resolves its allocation,
 * takes a batch slot and reserves its whole budget before any LM work, and starts its
 * BatchRun. Also what POST /v1/batches with an OpenAI input file does (routes/openai-batches.ts),
 * whose prompts carry their own requests.
 */
export async function submitBatch(env: Env, tenant: string, spec: Omit<BatchRequest, "prompts"> & { prompts: BatchPrompt[] }): Promise<BatchStatus> {
  const limits = await ledger(env, tenant).batchLimits();
  if (!limits) throw new UnknownTenant({ tenant });
  if (spec.prompts.length > limits.maxBatchSize) {
    throw new Invalid({ message: `${spec.prompts.length} prompts is more than this tenant's max_batch_size of ${limits.maxBatchSize}`, param: "prompts" });
  }
  // A model or predictor that does not exist is a 400 now, not a failed batch later.
  // Unset, the allocation is waves wherever the predictor or router can run them.
  let allocation = spec.allocation;
  if (spec.mode === "route") {
    const router = await findRouter(env, spec.model ?? "route");
    if (!router) throw new Invalid({ message: `no router named "${spec.model}"; mode route needs the name of a shipped router`, param: "model" });
    if (allocation === "waves" && router.manifest.prior_strength === undefined) {
      throw new Invalid({ message: `a cascade needs the router's fitted prior_strength; ${router.manifest.name} has none (retrain it with allot train-route)`, param: "allocation" });
    }
    allocation ??= router.manifest.prior_strength !== undefined ? "waves" : "learned";
  } else if (allocation === "uniform") {
    const model = spec.model ?? settings(env).LM_MODEL;
    if (!(await knownModel(env, model))) throw modelNotFound(model);
  } else {
    const predictor = await choosePredictor(env, spec);
    const wavesReady = predictor.manifest.kind !== "bernoulli" || predictor.manifest.prior_strength !== undefined;
    if (allocation === "waves" && !wavesReady) {
      throw new Invalid({ message: `waves on a binary-reward predictor need its fitted prior_strength; ${predictor.manifest.name} has none (retrain it with allot train)`, param: "allocation" });
    }
    allocation ??= wavesReady ? "waves" : "learned";
  }
  const resolved = { ...spec, allocation };
  const id = `b_${randomHex(12)}`;
  const book = ledger(env, tenant);
  if (!(await book.startBatch(id, { prompts: spec.prompts.length, mode: spec.mode, model: spec.model ?? null }))) {
    throw new TryLater({ message: `tenant ${tenant} already runs ${limits.maxConcurrentBatches} batches (max_concurrent_batches); wait for one to finish` });
  }
  // The batch's whole budget is reserved before any LM work: a tenant that cannot pay
  // for it learns now, and the LM never sees the batch. Each step undoes the ones before
  // it if it fails, so a refused or broken submission holds nothing.
  let reservation: string | null = null;
  try {
    const prefill = settings(env).PREFILL_UNITS;
    const units = batchReservation(resolved, prefill);
    if (units > 0) {
      const r = await book.reserve(units, id);
      if (!r.ok) throw refusalError(tenant, r, "this batch");
      reservation = r.id;
    }
    return await run(env, id).start(id, tenant, resolved, reservation, prefill, limits.auditRate);
  } catch (e) {
    if (reservation) await book.releaseBatch(reservation);
    await book.endBatch(id);
    throw e;
  }
}
