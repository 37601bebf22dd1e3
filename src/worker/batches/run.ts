import { DurableObject } from "cloudflare:workers";
import { type BatchRequest, type BatchResult, type BatchStatus, TERMINAL_STATES as TERMINAL } from "../../core/contracts/batches.js";
import { AllotError, revive } from "../../core/errors.js";
import { type Earned, addEarned, curvePoints, earnedOf, emptyEarned, estimateEarned } from "../../core/metrics/earned.js";
import { printable } from "../../core/log.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { httpError } from "../http/errors.js";
import { type Prediction, isolateRefused } from "../predictor/predict.js";
import type { Predictor } from "../predictor/registry.js";
import { tenantLedger } from "../tenants/lookup.js";
import { Items, type OutputRow, type Rounds } from "./items.js";
import { type BatchSpec, modeOf, planRounds } from "./modes.js";
import { hasBatch, migrate } from "./schema.js";
import { IN_FLIGHT, type ItemRequest, type Outcome, type Work, drawWork, roundSeedOf, shardOf } from "./work.js";
import { BatchAuditsMemo, auditStep, auditable } from "./audit.js";

/** A batch's prompt: its id and text, and (a batch made from a file of OpenAI requests) its own request. */
export type BatchPrompt = { id: string; prompt: string; request?: ItemRequest };

type State = BatchStatus["status"];

/** Prompts sampled per alarm: two subrequests each, within one invocation's limit of 50. */
export const PROMPTS_PER_STEP = 24;
/** At most this many shard objects per batch. */
const MAX_SHARDS = 64;

/** The units a batch's sampling budget comes to: its average times its prompts. */
export const batchUnits = (spec: BatchRequest): number => Math.round(spec.budget.average * spec.prompts.length);

/** Everything a batch may be charged: its sampling budget, and a prefill for every prompt it predicts (none for uniform). */
export const batchReservation = (spec: BatchRequest, prefill: number): number => batchUnits(spec) + (spec.allocation === "uniform" ? 0 : prefill * spec.prompts.length);

type BatchRow = {
  id: string;
  tenant: string;
  spec: string;
  status: State;
  created_at: number;
  predictor: string | null;
  reservation: string | null;
  budget_units: number;
  allocated: number;
  error_type: string | null;
  error_message: string | null;
  step_attempts: number;
  deadline: number;
  settled: number;
  finished_at: number | null;
  prior_strength: number | null;
  route_options: string | null;
  prompts: number;
  shards: number | null;
  prefill: number;
  audit_rate: number;
};

/** How a batch waits out an outage, from the settings. */
function timing(env: Env) {
  const s = settings(env);
  return {
    /** First wait after a failed attempt; doubles each time, capped below the lease so a waiting batch still renews it. */
    baseMs: s.BATCH_RETRY_BASE_MS,
    capMs: (s.BATCH_LEASE_SECONDS * 1000) / 3,
    attempts: s.BATCH_PROMPT_ATTEMPTS,
    deadlineMs: s.BATCH_DEADLINE_SECONDS * 1000,
    retentionMs: s.BATCH_RETENTION_SECONDS * 1000,
    watchdogMs: s.BATCH_WATCHDOG_MS,
  };
}

const backoff = (t: ReturnType<typeof timing>, attempt: number) => Math.min(t.capMs, t.baseMs * 2 ** Math.max(0, attempt - 1));

/** A failure that retrying can cure (an outage, an overloaded object) as opposed to one it cannot (the request is wrong, the budget spent). */
function transient(e: unknown): boolean {
  const err = revive(e);
  if (err instanceof AllotError) return err.retryable;
  return true; // storage or runtime errors ("overloaded", a reset object): try the step again
}

/**
 * One batch, durably: a state machine driven by alarms, which owns the batch's time
 * (deadline, leases, retries, retention), its cancel and its settlement, and hands every
 * decision to the batch's mode (modes.ts) and the sequential core.
 *
 *   queued → predicting (hidden states and predictions, one page per alarm; the mode then
 *          fixes what each prompt draws) → sampling (rounds of work, drawn by this object
 *          or by its shards, applied here) → done | failed | cancelled → settled (what was
 *          delivered is charged, the rest released, the tenant's batch slot freed) →
 *          deleted after BATCH_RETENTION_SECONDS
 *
 * The budget (sampling, and each predicted prompt's prefill) is reserved when the batch is
 * submitted, before any LM work; the reservation and the tenant's batch slot are leases
 * renewed at every step. Every step writes its results before the next begins, so an
 * object that is evicted resumes where it was. What was delivered is charged in one ledger
 * call per step, up to a total, so a repeated charge charges nothing twice. Outages are
 * waited out: a prompt whose LM calls fail transiently is tried again on a later alarm,
 * backing off, up to BATCH_PROMPT_ATTEMPTS times or the deadline; a prompt the LM refuses
 * fails alone with its reason; only an impossible batch fails.
 */
export class BatchRun extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly items: Items;
  /** The step running in this instance, if any: a second alarm must not start one, and a cancel waits for its charges. */
  private current: Promise<void> | null = null;
  /** The batch's own audited figure, computed again only when its audits change. */
  private readonly auditFigure = new BatchAuditsMemo();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.items = new Items(this.sql);
    timing(env); // a misconfigured deployment fails here, naming the setting, not halfway through a step
    // An object that holds a batch is brought up to date; any other (a lookup of an unknown id) is left without storage.
    if (hasBatch(this.sql)) migrate(this.sql);
  }

  private get timing() {
    return timing(this.env);
  }

  /** Schedules the next step at `at` (not before now + 1 ms: re-arming at the current time from alarm() is dropped locally, cloudflare/workerd#6866). */
  private nextStep(at = Date.now() + 1): Promise<void> {
    return this.ctx.storage.setAlarm(Math.max(at, Date.now() + 1));
  }

  /** This object holds a batch (known once seen; forgotten when the batch is deleted): no sqlite_master lookup per read. */
  private holds = false;

  private row(): BatchRow | null {
    if (!this.holds && !(this.holds = hasBatch(this.sql))) return null;
    return this.sql.exec<BatchRow>("SELECT * FROM batch").toArray()[0] ?? null;
  }

  private spec(b: BatchRow): BatchSpec {
    const { prompts: _, ...spec } = JSON.parse(b.spec) as BatchRequest & BatchSpec;
    return spec;
  }

  /** How the batch's prompts are drawn in rounds, fixed when its rounds started; null for one round up front. */
  private rounds(b: BatchRow, spec: BatchSpec): Rounds | null {
    if (spec.allocation !== "waves") return null;
    const arms = b.route_options ? (JSON.parse(b.route_options) as Rounds["arms"]) : [{ model: spec.model ?? settings(this.env).LM_MODEL, cost: 1 }];
    return { arms, strength: b.prior_strength ?? undefined, min: spec.budget.min, max: spec.budget.max };
  }

  private ledger(tenant: string) {
    return tenantLedger(this.env, tenant);
  }

  /** Moves a running batch to `status`; a batch that has ended (a cancel while a step awaited) stays as it is. */
  private transition(status: State): boolean {
    return this.sql.exec("UPDATE batch SET status = ? WHERE status NOT IN ('done', 'failed', 'cancelled')", status).rowsWritten > 0;
  }

  /** Starts the batch, holding `reservation` (idempotent: a repeated start returns the existing status). */
  async start(id: string, tenant: string, spec: Omit<BatchRequest, "prompts"> & { prompts: BatchPrompt[] }, reservation: string | null, prefill: number, auditRate = 0): Promise<BatchStatus> {
    if (!this.row()) {
      migrate(this.sql);
      const now = Date.now();
      this.sql.exec(
        "INSERT INTO batch (k, id, tenant, spec, prompts, status, created_at, budget_units, reservation, deadline, prefill, audit_rate) VALUES (0, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
        id,
        tenant,
        JSON.stringify({ ...spec, prompts: [] }),
        spec.prompts.length,
        now,
        batchUnits(spec),
        reservation,
        now + this.timing.deadlineMs,
        spec.allocation === "uniform" ? 0 : prefill,
        auditable(spec, this.env) ? auditRate : 0,
      );
      this.items.insert(spec.prompts);
      // Audited prompts are picked now, whatever their prediction: a random sample of the batch (audit.ts).
      if (auditable(spec, this.env)) this.items.pickAudits(auditRate, Math.random);
      await this.nextStep();
    }
    return (await this.status(tenant))!;
  }

  /**
   * The batch's status. Also a watchdog: a running batch with no alarm set (its step was
   * cut off before it could re-arm) is re-armed, and an ended batch whose settlement was
   * cut off is settled, so polling a batch keeps it moving.
   */
  async status(tenant: string): Promise<BatchStatus | null> {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    if (!TERMINAL.includes(b.status) && (await this.ctx.storage.getAlarm()) === null) await this.nextStep();
    if (TERMINAL.includes(b.status) && !b.settled && !this.current) await this.settle(b);
    return this.view(this.row()!);
  }

  /** What the batch owes in all: each predicted prompt's prefill and what its prompts delivered. */
  private owed(b: BatchRow): number {
    return b.prefill * this.items.predictedCount() + this.items.deliveredUnits();
  }

  /** The status as stored (a read). Units used are derived from the prompts' rows, never kept as a running total a restart could double. */
  private view(b: BatchRow): BatchStatus {
    const counts = this.items.counts();
    const spec = this.spec(b);
    return {
      id: b.id,
      status: b.status,
      created_at: new Date(b.created_at).toISOString(),
      prompts: b.prompts,
      progress: counts,
      allocation:
        b.status === "queued" || b.status === "predicting"
          ? null
          : {
              mode: spec.allocation,
              budget_units: b.budget_units,
              allocated_units: b.allocated,
              units_used: Math.round(this.owed(b) * 1e6) / 1e6,
              prefill_units: Math.round(b.prefill * this.items.predictedCount() * 1e6) / 1e6,
              predictor: b.predictor,
              ...(spec.mode === "route" ? { models: this.items.models() } : {}),
              shards: b.shards ?? 1,
            },
      error: b.error_type ? { type: b.error_type, message: b.error_message ?? "" } : null,
      audits: auditable(spec, this.env) ? this.auditFigure.of(this.items, b.audit_rate) : null,
    };
  }

  results(tenant: string): BatchResult[] | null {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    return this.items.results().map((r) => {
      const done = r.state === "done";
      return {
        id: r.id,
        best: r.best,
        reward: r.reward,
        units: done ? r.delivered : 0,
        model: r.samples > 0 && done ? r.model : null,
        samples: done ? r.samples : 0,
        predicted_success: r.p,
        status: r.state,
        ...(r.error ? { error: r.error } : {}),
      };
    });
  }

  /** Every prompt as a file batch's output and error files report them, with the batch's status; null when not `tenant`'s. */
  outputRows(tenant: string): { status: BatchStatus["status"]; rows: OutputRow[] } | null {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    return { status: b.status, rows: this.items.outputRows() };
  }

  /**
   * Cancels: no new step starts. A step in flight finishes, and what it delivers is
   * charged before the reservation is released, so the status and the ledger agree.
   */
  async cancel(tenant: string): Promise<BatchStatus | null> {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    if (!TERMINAL.includes(b.status)) {
      this.sql.exec("UPDATE batch SET status = 'cancelled', finished_at = ?", Date.now());
      await this.ctx.storage.deleteAlarm();
      if (this.current) await this.current.catch(() => undefined);
      await this.settle(this.row()!);
    }
    return this.status(tenant);
  }

  override async alarm(): Promise<void> {
    const b = this.row();
    if (!b || this.current) return;
    if (TERMINAL.includes(b.status)) {
      if (!b.settled) await this.settle(b);
      else if (this.auditing(b)) await this.audit(b);
      else if (b.finished_at !== null && Date.now() >= b.finished_at + this.timing.retentionMs) {
        await this.ctx.storage.deleteAll();
        this.holds = false;
      } else if (b.finished_at !== null) await this.nextStep(b.finished_at + this.timing.retentionMs);
      return;
    }
    this.current = this.step(b);
    try {
      await this.current;
    } finally {
      this.current = null;
    }
  }

  /** One step, with its failure handled: transient ones are tried again later, the rest fail the batch. */
  private async step(b: BatchRow): Promise<void> {
    const now = Date.now();
    try {
      if (now > b.deadline) {
        await this.finish("failed", { type: "deadline_exceeded", message: "the batch did not finish before its deadline (BATCH_DEADLINE_SECONDS); what was delivered is charged" });
        return;
      }
      // Alive: the reservation and the batch slot stay ours for another lease.
      if (!(await this.ledger(b.tenant).renewBatch(b.id, b.reservation))) {
        await this.finish("failed", { type: "lease_expired", message: "the batch's budget lease expired while it could not run; what was delivered is charged" });
        return;
      }
      const fresh = this.row()!;
      if (TERMINAL.includes(fresh.status)) return; // cancelled while the renewal was in flight
      if (fresh.status === "queued" || fresh.status === "predicting") await this.predictStep(fresh);
      else await this.sampleStep(fresh);
      this.sql.exec("UPDATE batch SET step_attempts = 0");
    } catch (e) {
      const row = this.row()!;
      if (TERMINAL.includes(row.status)) return;
      if (transient(e) && row.step_attempts + 1 < this.timing.attempts) {
        this.sql.exec("UPDATE batch SET step_attempts = step_attempts + 1");
        console.error(`batch ${b.id}: step failed, trying again: ${printable((e as Error).message)}`);
        await this.nextStep(now + backoff(this.timing, row.step_attempts + 1));
        return;
      }
      const known = revive(e) instanceof AllotError ? httpError(e).body.error : null;
      await this.finish("failed", known ? { type: known.type, message: known.message } : { type: "api_error", message: `batch failed: ${(e as Error).message}` });
    }
  }

  /**
   * The predicting phase, one page per alarm: each page's hidden states are read and
   * predicted, and the predictions kept in the prompts' rows (a prompt the LM refuses fails
   * alone), so memory per invocation is one page's, whatever the batch's size; each page's
   * prefills are charged as it is done. When every prompt is predicted, the mode fixes what
   * each prompt draws and sampling starts.
   */
  private async predictStep(b: BatchRow): Promise<void> {
    if (!this.transition("predicting")) return;
    const spec = this.spec(b);
    const mode = modeOf(spec);
    const source = await mode.source(this.env, spec, b.predictor);
    if (source) {
      this.sql.exec("UPDATE batch SET predictor = ?", source.manifest.name);
      const page = this.items.toPredict(this.pageSize(source));
      if (page.length > 0) {
        const preds = await isolateRefused(page.map((r) => r.input ?? { prompt: r.prompt }), (part) => mode.predict(this.env, source, part));
        preds.forEach((pr, k) => {
          if (typeof pr === "object" && pr !== null && "refused" in pr) this.items.failed(page[k].idx, (pr as { refused: string }).refused);
          else this.items.predicted(page[k].idx, pr);
        });
        await this.charge(this.row()!);
        await this.nextStep();
        return;
      }
    }
    const started = await mode.start(this.items, spec, b.budget_units, source, this.env);
    if (this.row()!.status !== "predicting") return;
    this.sql.exec(
      "UPDATE batch SET status = 'sampling', predictor = ?, allocated = ?, prior_strength = ?, route_options = ?",
      started.predictor,
      started.allocated,
      started.rounds?.strength ?? null,
      started.rounds ? JSON.stringify(started.rounds.arms) : started.levels ? JSON.stringify(started.levels) : null,
    );
    await this.nextStep();
  }

  /**
   * Prompts per predicting page: BATCH_PREDICT_PAGE, or 64, fewer past a width of 4,096 (a
   * page's hidden states at most 2¹⁸ values: 1 MB as float32, about 5 MB of JSON in
   * flight). 64 keeps a page's hidden-state calls within an invocation's subrequests even
   * for a backend that takes one prompt a call (SGLang).
   */
  private pageSize(source: Predictor): number {
    return settings(this.env).BATCH_PREDICT_PAGE ?? Math.max(1, Math.min(64, Math.floor(2 ** 18 / source.manifest.input_size)));
  }

  /**
   * The sampling phase. The work (which prompts draw how many samples of which model) is
   * decided here, round by round for rounds; the drawing is done by this object's own
   * steps for a small batch, or by shard objects for a large one (shard.ts), each with its
   * own connections, asking for work and delivering outcomes. Either way every outcome is
   * applied here, once, and charged here: one writer, one allocation.
   */
  private async sampleStep(b: BatchRow): Promise<void> {
    if (!(await this.planned(b))) return;
    const shards = this.shards(b);
    if (shards > 1) {
      // The shards drive themselves; this alarm is their watchdog (a shard whose alarm was lost is woken).
      await this.wakeShards(b, shards);
      await this.nextStep(Date.now() + this.timing.watchdogMs);
      return;
    }
    const work = this.work(b, 0, 1, PROMPTS_PER_STEP);
    await this.apply(b, await drawWork(this.env, this.spec(b).sampling, work.items));
    if (this.row()!.status !== "sampling") return;
    await this.nextStep(this.work(b, 0, 1, 0).retryAt ?? undefined);
  }

  /**
   * Shards for this batch, fixed when sampling starts: one per BATCH_SHARD_PROMPTS prompts,
   * at most LM_MAX_IN_FLIGHT / IN_FLIGHT (the connections the LM servers take from one
   * batch) and at most MAX_SHARDS.
   */
  private shards(b: BatchRow): number {
    if (b.shards !== null) return b.shards;
    const s = settings(this.env);
    const cap = Math.max(1, Math.floor(s.LM_MAX_IN_FLIGHT / IN_FLIGHT));
    const n = Math.max(1, Math.min(MAX_SHARDS, cap, Math.ceil(b.prompts / s.BATCH_SHARD_PROMPTS)));
    this.sql.exec("UPDATE batch SET shards = ?", n);
    return n;
  }

  private async wakeShards(b: BatchRow, shards: number): Promise<void> {
    await Promise.all(Array.from({ length: shards }, (_, k) => shardOf(this.env, b.id, k).start(b.id, k, shards)));
  }

  /**
   * In rounds: when no open prompt has a round planned, plans the next (the budget left
   * over the posteriors) and wakes the shards for it. False when the batch has ended:
   * nothing more is worth drawing, or (one round up front) everything was drawn.
   */
  private async planned(b: BatchRow): Promise<boolean> {
    if (this.items.openRounds() > 0) return true;
    const spec = this.spec(b);
    const rounds = this.rounds(b, spec);
    if (!rounds || !planRounds(this.items, rounds, b.budget_units - this.items.spentInRounds())) {
      await this.finish("done");
      return false;
    }
    const shards = this.shards(this.row()!);
    if (shards > 1) await this.wakeShards(b, shards);
    return true;
  }

  /** Up to `limit` prompts of shard `shard` (of `shards`) due to draw, and when to ask again (null: nothing left for it). */
  private work(b: BatchRow, shard: number, shards: number, limit: number): { items: Work[]; retryAt: number | null } {
    const spec = this.spec(b);
    const rounds = this.rounds(b, spec);
    const fallback = spec.model ?? settings(this.env).LM_MODEL;
    // A thinking batch's arms are its levels (in rounds, or one round: then an item's arm is its level).
    const arms = rounds?.arms ?? (b.route_options ? (JSON.parse(b.route_options) as Rounds["arms"]) : null);
    const due = this.items.due(
      shard,
      shards,
      limit,
      Date.now(),
      (arm, model) => (rounds ? rounds.arms[arm ?? 0].model : (model ?? fallback)),
      (arm) => (arm === null ? undefined : arms?.[arm]?.thinking),
    );
    const seedOf = (idx: number, round: number) => roundSeedOf(spec.sampling.seed, idx, round);
    return { items: due.items.map((d) => ({ ...d, ...(seedOf(d.idx, d.round) === undefined ? {} : { seed: seedOf(d.idx, d.round) }) })), retryAt: due.retryAt };
  }

  /** A shard asks for work (RPC from shard.ts): nothing once the batch has ended. */
  async shardWork(shard: number, shards: number): Promise<{ items: Work[]; retryAt: number | null; sampling: BatchSpec["sampling"] | null }> {
    const b = this.row();
    if (!b || b.status !== "sampling") return { items: [], retryAt: null, sampling: null };
    return { ...this.work(b, shard, shards, PROMPTS_PER_STEP), sampling: this.spec(b).sampling };
  }

  /** A shard delivers what it drew (RPC from shard.ts). Ignored once the batch has ended: a cancel charges what was delivered before it. */
  async shardDeliver(outcomes: readonly Outcome[]): Promise<void> {
    const b = this.row();
    if (!b || b.status !== "sampling") return;
    await this.apply(b, outcomes);
  }

  /**
   * Applies outcomes, each once (an outcome for a prompt that moved on, e.g. a late one from
   * a shard step that died and was run again, is dropped), charges what they delivered, and
   * ends the batch or plans the next round when nothing is left to draw.
   */
  private async apply(b: BatchRow, outcomes: readonly Outcome[]): Promise<void> {
    const rounds = this.rounds(b, this.spec(b));
    for (const o of outcomes) {
      if (o.ok) {
        this.items.delivered(o, rounds);
        continue;
      }
      // An outage: tried again later, backing off and honouring the server's Retry-After. A refusal, or attempts run out: it ends with why.
      const attempts = this.items.attempts(o.idx) + 1;
      const e = o.failure;
      if (e.retryable && attempts < this.timing.attempts) {
        const wait = Math.min(this.timing.capMs, Math.max(backoff(this.timing, attempts), e.retryAfterMs ?? 0));
        this.items.attemptFailed(o.idx, o.round, { at: Date.now() + wait });
      } else {
        this.items.attemptFailed(o.idx, o.round, { why: e.rejected ? `the model server refused it: ${e.reason}` : `the model server kept failing: ${e.reason}` });
      }
    }
    // What was delivered is charged now (a cancel waits for a step in flight, then releases the rest).
    await this.charge(this.row()!);
    const after = this.row()!;
    if (after.status !== "sampling" || this.items.openRounds() > 0) return;
    await this.planned(after);
  }

  /** Charges what the batch owes, up to its total, in one ledger call (a repeat charges nothing more). */
  private async charge(b: BatchRow): Promise<void> {
    if (!b.reservation) return;
    const owed = this.owed(b);
    if (owed > 0) await this.ledger(b.tenant).commitTo(b.reservation, owed);
  }

  /**
   * What the batch earned over uniform best-of-k at its spend (metrics/earned.ts), from its
   * prompts' stored predictions and the rewards they got; null for a uniform or routed
   * batch, or one with no predicted prompt done.
   */
  private earned(b: BatchRow): Earned | null {
    const spec = this.spec(b);
    if (spec.mode === "route" || spec.allocation === "uniform") return null;
    let sums = emptyEarned();
    for (const r of this.items.earnedRows()) sums = addEarned(sums, earnedOf(r.reward, r.delivered, curvePoints(JSON.parse(r.prediction) as Prediction)));
    return estimateEarned(sums);
  }

  private async finish(status: State, error?: { type: string; message: string }): Promise<void> {
    if (error) this.sql.exec("UPDATE batch SET error_type = ?, error_message = ?", error.type, error.message);
    this.sql.exec("UPDATE batch SET status = ?, finished_at = ?", status, Date.now());
    this.items.close();
    await this.settle(this.row()!);
  }

  /**
   * The batch has ended: charge exactly what it delivered, release the rest, free the
   * tenant's slot, and schedule the deletion. Safe to repeat (charges are up to a total).
   */
  private async settle(b: BatchRow): Promise<void> {
    const ledger = this.ledger(b.tenant);
    await this.charge(b);
    if (b.reservation) await ledger.releaseBatch(b.reservation);
    await ledger.endBatch(b.id, { status: b.status, summary: JSON.stringify({ ...this.view(b), earned: this.earned(b) }), served: this.items.servedByModel() });
    const finished = b.finished_at ?? Date.now();
    this.sql.exec("UPDATE batch SET settled = 1, finished_at = ?", finished);
    await this.nextStep(this.auditing(this.row()!) ? undefined : finished + this.timing.retentionMs);
  }

  /** A done batch has audits to draw or to record (audit.ts), until its retention ends. */
  private auditing(b: BatchRow): boolean {
    return b.status === "done" && b.finished_at !== null && Date.now() < b.finished_at + this.timing.retentionMs && (this.items.auditsDue() > 0 || this.items.drawnAudits().length > 0);
  }

  /** One audit step, after the batch was settled: outside its budget, charged to no one; a failed step is tried again later. */
  private async audit(b: BatchRow): Promise<void> {
    const spec = this.spec(b);
    this.current = auditStep(this.env, this.items, { id: b.id, tenant: b.tenant, predictor: b.predictor, spec, model: spec.model ?? settings(this.env).LM_MODEL }, PROMPTS_PER_STEP).then(() => undefined);
    try {
      await this.current;
      await this.nextStep(this.auditing(b) ? undefined : b.finished_at! + this.timing.retentionMs);
    } catch (e) {
      console.error(`batch ${b.id}: an audit step failed, trying again: ${printable((e as Error).message)}`);
      await this.nextStep(Date.now() + backoff(this.timing, 1));
    } finally {
      this.current = null;
    }
  }
}
