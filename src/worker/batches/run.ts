import { DurableObject } from "cloudflare:workers";
import { solveBatch } from "../../core/allocation/batch.js";
import { buildBatch } from "../../core/allocation/build.js";
import { solveMenu } from "../../core/allocation/menu.js";
import { type RouteChoice, predictedMenu } from "../../core/allocation/route.js";
import { lmConfig } from "../backends/config.js";
import { type BatchRequest, type BatchResult, type BatchStatus, TERMINAL_STATES as TERMINAL } from "../../core/contracts/batches.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { AllotError, Invalid, revive } from "../../core/errors.js";
import { httpError } from "../http/errors.js";
import { type Prediction, choosePredictor, isolateRefused, marginalsOf, predict, predictRoute } from "../predictor/predict.js";
import { type Predictor, findRouter } from "../predictor/registry.js";
import { atomsFromCurve } from "../../core/allocation/pandora.js";
import { type Belief, PASSING_REWARD, planRound, priorOf, roundSeed, roundSize } from "../../core/allocation/waves.js";
import { cascadeMenu } from "../../core/allocation/cascade.js";
import { budgetExceeded } from "../tenants/budget-error.js";
import { tenantLedger } from "../tenants/lookup.js";
import { type Earned, addEarned, curvePoints, earnedOf, emptyEarned, estimateEarned } from "../../core/metrics/earned.js";
import { hasBatch, migrate } from "./schema.js";
import { type Failure, IN_FLIGHT, type Outcome, type Work, drawWork, shardOf } from "./work.js";

type State = BatchStatus["status"];

/** Prompts sampled per alarm: two subrequests each, within one invocation's limit of 50. */
export const PROMPTS_PER_STEP = 24;
/** At most this many shard objects per batch. */
const MAX_SHARDS = 64;

/** The units a batch's budget comes to: its average times its prompts. */
export const batchUnits = (spec: BatchRequest): number => Math.round(spec.budget.average * spec.prompts.length);

/**
 * A batch as kept in its row: the request without its prompts (they live in the item rows,
 * one each, so no SQLite value grows with the batch), its allocation resolved.
 */
type BatchSpec = Omit<BatchRequest, "prompts" | "allocation"> & { allocation: NonNullable<BatchRequest["allocation"]> };

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
  deadline: number | null;
  settled: number;
  finished_at: number | null;
  prior_strength: number | null;
  route_options: string | null;
  prompts: number | null;
  shards: number | null;
};

/** How a batch waits out an outage (the gateway's settings, in ms). */
function timing(env: Env) {
  const s = settings(env);
  const lease = s.BATCH_LEASE_SECONDS * 1000;
  return {
    /** First wait after a failed attempt; doubles each time, capped below the lease so a waiting batch still renews it. */
    baseMs: s.BATCH_RETRY_BASE_MS,
    capMs: lease / 3,
    /** Attempts per prompt (each of them LM_ATTEMPTS calls) before a transient failure is final. */
    attempts: s.BATCH_PROMPT_ATTEMPTS,
    /** A batch not done by then fails, charging what it delivered. */
    deadlineMs: s.BATCH_DEADLINE_SECONDS * 1000,
    /** Finished batches (and their results) are deleted this long after they end. */
    retentionMs: s.BATCH_RETENTION_SECONDS * 1000,
    /** A sharded batch wakes its shards this often, in case one lost its alarm. */
    watchdogMs: s.BATCH_WATCHDOG_MS,
  };
}

const backoff = (t: ReturnType<typeof timing>, attempt: number) => Math.min(t.capMs, t.baseMs * 2 ** Math.max(0, attempt - 1));

/**
 * A failure that retrying can cure (an outage, an overloaded object) as opposed to one
 * it cannot (the request itself is wrong, or the budget is spent).
 */
function transient(e: unknown): boolean {
  const err = revive(e);
  if (err instanceof AllotError) return err.retryable;
  return true; // storage or runtime errors ("overloaded", a reset object): try the step again
}

/**
 * One batch: a persisted state machine driven by alarms.
 *
 *   queued → predicting (hidden states, predictor, allocation) → sampling
 *          (PROMPTS_PER_STEP prompts per alarm: k samples each, scored, best kept, charged)
 *          → done | failed | cancelled → settled (what was delivered is charged, the rest
 *          of the reservation released, the tenant's batch slot freed) → deleted after
 *          BATCH_RETENTION_SECONDS
 *
 * The budget is reserved when the batch is submitted, before any LM work, and the
 * reservation and the tenant's batch slot are leases the batch renews at every step.
 * Every step writes its results before the next begins, so an object that is evicted
 * resumes where it was; charges are idempotent per prompt, so no sample is charged twice.
 * Outages are waited out: a prompt whose LM calls fail transiently is tried again on a
 * later alarm, backing off, up to BATCH_PROMPT_ATTEMPTS times or the batch's deadline; a
 * prompt the LM refuses fails alone with its reason; only an impossible batch fails.
 */
export class BatchRun extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly timing: ReturnType<typeof timing>;
  /** The step running in this instance, if any: a second alarm must not start one, and a cancel waits for its charges. */
  private current: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.timing = timing(env);
    // An object that holds a batch is brought up to date; any other (a lookup of an
    // unknown id) is left without storage.
    if (hasBatch(this.sql)) migrate(this.sql);
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

  /** The batch as submitted, without its prompts; its allocation resolved (the route stores it resolved; learned was the default before waves). */
  private spec(b: BatchRow): BatchSpec {
    const { prompts: _, ...spec } = JSON.parse(b.spec) as BatchRequest;
    return { ...spec, allocation: spec.allocation ?? "learned" };
  }

  /** A routed batch in waves: the router's menu (models and costs), kept with the batch when its cascade started. */
  private routeOptions(b: BatchRow): { model: string; cost: number }[] {
    return JSON.parse(b.route_options!) as { model: string; cost: number }[];
  }

  /** Prompts in the batch (kept in the row since prompts moved out of the spec; older batches count their items). */
  private promptCount(b: BatchRow): number {
    return b.prompts ?? this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item").one().n;
  }

  private ledger(tenant: string) {
    return tenantLedger(this.env, tenant);
  }

  /** Starts the batch, holding `reservation` (idempotent: a repeated start returns the existing status). */
  async start(id: string, tenant: string, spec: BatchRequest, reservation: string | null = null): Promise<BatchStatus> {
    if (!this.row()) {
      migrate(this.sql);
      const now = Date.now();
      this.sql.exec(
        "INSERT INTO batch (k, id, tenant, spec, prompts, status, created_at, budget_units, reservation, deadline) VALUES (0, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
        id,
        tenant,
        JSON.stringify({ ...spec, prompts: [] }),
        spec.prompts.length,
        now,
        batchUnits(spec),
        reservation,
        now + this.timing.deadlineMs,
      );
      spec.prompts.forEach((p, i) => this.sql.exec("INSERT INTO item (idx, id, prompt) VALUES (?, ?, ?)", i, p.id, p.prompt));
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

  /** The status as stored (a read). */
  private view(b: BatchRow): BatchStatus {
    // Units used are derived from the charged prompts, never kept as a running total that
    // a restart between charging and counting could double.
    const counts = this.sql.exec<{ sampled: number; failed: number; used: number }>(
      "SELECT COALESCE(SUM(state = 'done'), 0) AS sampled, COALESCE(SUM(state = 'failed'), 0) AS failed, COALESCE(SUM(CASE WHEN charged = 1 THEN units ELSE 0 END) + SUM(charged_units), 0) AS used FROM item",
    ).one();
    const spec = this.spec(b);
    const models =
      spec.mode === "route"
        ? Object.fromEntries(
            this.sql.exec<{ model: string; n: number }>("SELECT model, COUNT(*) AS n FROM item WHERE model IS NOT NULL GROUP BY model ORDER BY model").toArray().map((r) => [r.model, r.n]),
          )
        : undefined;
    return {
      id: b.id,
      status: b.status,
      created_at: new Date(b.created_at).toISOString(),
      prompts: this.promptCount(b),
      progress: { sampled: counts.sampled, failed: counts.failed },
      allocation:
        b.status === "queued" || b.status === "predicting"
          ? null
          : {
              mode: spec.allocation,
              budget_units: b.budget_units,
              allocated_units: b.allocated,
              units_used: counts.used,
              predictor: b.predictor,
              ...(models ? { models } : {}),
              shards: b.shards ?? 1,
            },
      error: b.error_type ? { type: b.error_type, message: b.error_message ?? "" } : null,
    };
  }

  results(tenant: string): BatchResult[] | null {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    return this.sql
      .exec<{ id: string; best: string | null; reward: number | null; units: number | null; model: string | null; samples: number | null; p: number | null; state: string; error: string | null }>(
        "SELECT id, best, reward, units, model, samples, p, state, error FROM item WHERE state != 'pending' ORDER BY idx",
      )
      .toArray()
      .map((r) => {
        const done = r.state === "done";
        const samples = r.samples ?? r.units ?? 0;
        return {
          id: r.id,
          best: r.best,
          reward: r.reward,
          units: done ? (r.units ?? 0) : 0,
          model: samples > 0 && done ? r.model : null,
          samples: done ? samples : 0,
          predicted_success: r.p,
          status: r.state as "done" | "failed",
          ...(r.error ? { error: r.error } : {}),
        };
      });
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
      else if (b.finished_at !== null && Date.now() >= b.finished_at + this.timing.retentionMs) {
        await this.ctx.storage.deleteAll();
        this.holds = false;
      }
      else if (b.finished_at !== null) await this.nextStep(b.finished_at + this.timing.retentionMs);
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
      if (b.deadline !== null && now > b.deadline) {
        await this.finish("failed", { type: "deadline_exceeded", message: "the batch did not finish before its deadline (BATCH_DEADLINE_SECONDS); what was delivered is charged" });
        return;
      }
      // Alive: the reservation and the batch slot stay ours for another lease.
      if (!(await this.ledger(b.tenant).renewBatch(b.id, b.reservation, now))) {
        await this.finish("failed", { type: "lease_expired", message: "the batch's budget lease expired while it could not run; what was delivered is charged" });
        return;
      }
      if (b.status === "queued" || b.status === "predicting") await this.allocate(b);
      else await this.sampleStep(b);
      this.sql.exec("UPDATE batch SET step_attempts = 0");
    } catch (e) {
      const row = this.row()!;
      if (TERMINAL.includes(row.status)) return;
      if (transient(e) && row.step_attempts + 1 < this.timing.attempts) {
        this.sql.exec("UPDATE batch SET step_attempts = step_attempts + 1");
        console.error(`batch ${b.id}: step failed, trying again: ${(e as Error).message}`);
        await this.nextStep(now + backoff(this.timing, row.step_attempts + 1));
        return;
      }
      const known = revive(e) instanceof AllotError ? httpError(e).body.error : null;
      const err = known ? { type: known.type, message: known.message } : { type: "api_error", message: `batch failed: ${(e as Error).message}` };
      await this.finish("failed", err);
    }
  }

  /**
   * The predicting phase, one page per alarm: each page's hidden states are fetched and
   * predicted, and the predictions kept in the prompts' rows (a prompt the LM refuses fails
   * alone), so memory per invocation is one page's, whatever the batch's size. When every
   * prompt is predicted, the budget is allocated from the stored predictions.
   */
  private async allocate(b: BatchRow): Promise<void> {
    this.sql.exec("UPDATE batch SET status = 'predicting'");
    const spec = this.spec(b);
    if (spec.mode === "route") {
      const name = spec.model ?? "route";
      const router = await findRouter(this.env, name);
      if (!router) throw new Invalid({ message: `no router named "${name}"`, param: "model" });
      if (await this.predictPage(router, (part) => predictRoute(this.env, router, part))) return;
      return spec.allocation === "waves" ? this.startCascade(b, router) : this.allocateRouted(b, spec, router);
    }
    if (spec.allocation === "uniform") return this.allocateUniform(b, spec);
    // The predictor chosen for the first page predicts every page.
    const chosen = await choosePredictor(this.env, { ...spec, predictor: b.predictor ?? spec.predictor });
    this.sql.exec("UPDATE batch SET predictor = ?", chosen.manifest.name);
    if (await this.predictPage(chosen, (part) => predict(this.env, chosen, part, () => "prompt"))) return;
    return spec.allocation === "waves" ? this.startWaves(b, spec, chosen) : this.allocateLearned(b, spec, chosen);
  }

  /**
   * Predicts the next page of prompts and stores each prediction (JSON) in its row; true
   * when a page was done (the next alarm goes on), false when every prompt is predicted.
   */
  private async predictPage<T>(source: Predictor, run: (part: readonly { prompt: string }[]) => Promise<T[]>): Promise<boolean> {
    const page = this.sql
      .exec<{ idx: number; prompt: string }>("SELECT idx, prompt FROM item WHERE state = 'pending' AND prediction IS NULL ORDER BY idx LIMIT ?", this.pageSize(source))
      .toArray();
    if (page.length === 0) return false;
    const preds = await isolateRefused(page.map((r) => ({ prompt: r.prompt })), run);
    preds.forEach((pr, k) => {
      if (typeof pr === "object" && pr !== null && "refused" in pr) this.sql.exec("UPDATE item SET state = 'failed', units = 0, error = ? WHERE idx = ?", pr.refused, page[k].idx);
      else this.sql.exec("UPDATE item SET prediction = ? WHERE idx = ?", JSON.stringify(pr), page[k].idx);
    });
    await this.nextStep();
    return true;
  }

  /**
   * Prompts per predicting page: BATCH_PREDICT_PAGE, or 64, fewer past a width of 4,096 (a
   * page's hidden states at most 2¹⁸ values: 1 MB as float32, about 5 MB of JSON in
   * flight). 64 keeps a page's hidden-state calls within an invocation's subrequests even
   * for a backend that takes one prompt a call (SGLang).
   */
  private pageSize(source: Predictor): number {
    const set = settings(this.env).BATCH_PREDICT_PAGE;
    if (set !== undefined) return set;
    return Math.max(1, Math.min(64, Math.floor(2 ** 18 / source.manifest.input_size)));
  }

  /** The stored predictions of the prompts still pending, with their index. */
  private predictions<T>(): { pr: T; i: number }[] {
    return this.sql
      .exec<{ idx: number; prediction: string }>("SELECT idx, prediction FROM item WHERE state = 'pending' AND prediction IS NOT NULL ORDER BY idx")
      .toArray()
      .map((r) => ({ pr: JSON.parse(r.prediction) as T, i: r.idx }));
  }

  /** Waves: nothing is fixed up front; rounds draw and charge as they go (units = samples drawn so far). */
  private async startWaves(b: BatchRow, spec: BatchSpec, chosen: Predictor): Promise<void> {
    // Binary rewards: p (the prior's centre). Real-valued: also the reward distribution the curve implies.
    for (const { pr, i } of this.predictions<Prediction>()) {
      if ("p" in pr) this.sql.exec("UPDATE item SET p = ? WHERE idx = ?", pr.p, i);
      else this.sql.exec("UPDATE item SET p = ?, atoms = ? WHERE idx = ?", pr.curve[0], JSON.stringify(Array.from(atomsFromCurve(pr.curve), (x) => Number(x.toFixed(6)))), i);
    }
    this.sql.exec("UPDATE item SET units = 0, samples = 0, model = ? WHERE state = 'pending'", spec.model ?? settings(this.env).LM_MODEL);
    this.sql.exec("UPDATE batch SET status = 'sampling', predictor = ?, allocated = ?, prior_strength = ?", chosen.manifest.name, b.budget_units, chosen.manifest.prior_strength ?? null);
    await this.nextStep();
  }

  /** A routed batch in waves (a cascade): nothing is fixed up front; units are the cost of what was drawn. */
  private async startCascade(b: BatchRow, router: Predictor): Promise<void> {
    const options = router.manifest.route!.options;
    for (const { pr, i } of this.predictions<number[]>()) this.sql.exec("UPDATE item SET route_p = ?, arm_failures = ? WHERE idx = ?", JSON.stringify(pr), JSON.stringify(options.map(() => 0)), i);
    this.sql.exec("UPDATE item SET units = 0, samples = 0 WHERE state = 'pending'");
    this.sql.exec(
      "UPDATE batch SET status = 'sampling', predictor = ?, allocated = ?, prior_strength = ?, route_options = ?",
      router.manifest.name,
      b.budget_units,
      router.manifest.prior_strength!,
      JSON.stringify(options),
    );
    await this.nextStep();
  }

  /** Best-of-B for everyone; a fractional B spreads the remainder over the first prompts. */
  private async allocateUniform(b: BatchRow, spec: BatchSpec): Promise<void> {
    const n = this.promptCount(b);
    const base = Math.floor(spec.budget.average);
    const extra = b.budget_units - base * n;
    await this.fixUnits(b, null, (i) => Math.min(spec.budget.max, Math.max(spec.budget.min, base + (i < extra ? 1 : 0))));
  }

  /** Learned: the exact solver shares the whole budget over the prompts that can be served (average ≥ min, so it covers their minimum). */
  private async allocateLearned(b: BatchRow, spec: BatchSpec, chosen: Predictor): Promise<void> {
    const ok = this.predictions<Prediction>();
    // Predicted single-sample success: p, or q(1) for a curve predictor.
    ok.forEach(({ pr, i }) => this.sql.exec("UPDATE item SET p = ? WHERE idx = ?", "p" in pr ? pr.p : pr.curve[0], i));
    const units = new Map<number, number>();
    if (ok.length > 0) {
      const problem = buildBatch({
        budget: b.budget_units,
        min: spec.budget.min,
        max: spec.budget.max,
        queries: ok.map(({ pr, i }) => ("p" in pr ? { id: String(i), p: pr.p } : { id: String(i), marginals: marginalsOf(pr.curve) })),
      });
      const solved = solveBatch(problem, b.budget_units);
      ok.forEach(({ i }, k) => units.set(i, solved.units[k]));
    }
    await this.fixUnits(b, chosen.manifest.name, (i) => units.get(i) ?? 0);
  }

  /**
   * Routing: each prompt's menu of (model, k) with cost between the budget's min and max
   * (plus "nothing" when min is 0), valued by the router; the multiple-choice knapsack
   * picks one option per prompt within the batch's units. Writes each prompt's model,
   * samples and predicted success; the units charged are the options' costs.
   */
  private async allocateRouted(b: BatchRow, spec: BatchSpec, router: Predictor): Promise<void> {
    const options = router.manifest.route!.options;
    const ok = this.predictions<number[]>();
    const units = new Map<number, number>();
    if (ok.length > 0) {
      const nothing: RouteChoice = { option: -1, k: 0, cost: 0, value: 0 };
      const menus = ok.map(({ pr }) => [...(spec.budget.min === 0 ? [nothing] : []), ...predictedMenu(options, pr, spec.budget.min, spec.budget.max)]);
      if (menus[0].length === 0) throw new Invalid({ message: `no (model, k) of ${router.manifest.name} costs between ${spec.budget.min} and ${spec.budget.max} units`, param: "budget" });
      const solution = solveMenu(menus, b.budget_units);
      ok.forEach(({ pr, i }, k) => {
        const c = menus[k][solution.choice[k]];
        const model = c.option >= 0 ? options[c.option].model : null;
        this.sql.exec("UPDATE item SET model = ?, samples = ?, p = ? WHERE idx = ?", model, c.k, c.option >= 0 ? pr[c.option] : null, i);
        units.set(i, c.cost);
      });
    }
    await this.fixUnits(b, router.manifest.name, (i) => units.get(i) ?? 0);
  }

  /** Writes each pending prompt's units (0: done now, nothing to draw) and starts sampling. */
  private async fixUnits(b: BatchRow, predictor: string | null, unitsOf: (idx: number) => number): Promise<void> {
    let allocated = 0;
    for (const { idx } of this.sql.exec<{ idx: number }>("SELECT idx FROM item WHERE state = 'pending' ORDER BY idx").toArray()) {
      const u = unitsOf(idx);
      allocated += u;
      this.sql.exec("UPDATE item SET units = ?, state = CASE WHEN ? = 0 THEN 'done' ELSE state END WHERE idx = ?", u, u, idx);
    }
    // Batches submitted before the budget was reserved at submission reserve here, by ref.
    let reservation = b.reservation;
    if (reservation === null && allocated > 0) {
      const r = await this.ledger(b.tenant).reserve(allocated, b.id);
      if (!r.ok) throw budgetExceeded(b.tenant, r, "this batch");
      reservation = r.id;
    }
    this.sql.exec("UPDATE batch SET status = 'sampling', predictor = ?, reservation = ?, allocated = ?", predictor, reservation, allocated);
    await this.nextStep();
  }

  /**
   * The sampling phase. The work (which prompts draw how many samples of which model) is
   * decided here, round by round for waves; the drawing is done by this object's own
   * steps for a small batch, or by BATCH_SHARDS shard objects for a large one, each with
   * its own connections, asking for work and delivering outcomes (shard.ts). Either way
   * every outcome is applied here, once, and charged here: one writer, one allocation.
   */
  private async sampleStep(b: BatchRow): Promise<void> {
    const spec = this.spec(b);
    if (!(await this.planned(b, spec))) return;
    const shards = this.shards(b);
    if (shards > 1) {
      // The shards drive themselves; this alarm is their watchdog (a shard whose alarm was lost is woken).
      await this.wakeShards(b, shards);
      await this.nextStep(Date.now() + this.timing.watchdogMs);
      return;
    }
    const work = this.work(b, spec, 0, 1, PROMPTS_PER_STEP);
    await this.apply(b, spec, await drawWork(this.env, spec.sampling, work.items));
    if (this.row()!.status !== "sampling") return;
    const next = this.work(b, spec, 0, 1, 0).retryAt;
    await this.nextStep(next ?? undefined);
  }

  /**
   * Shards for this batch, fixed when sampling starts: one per BATCH_SHARD_PROMPTS prompts,
   * at most LM_MAX_IN_FLIGHT / IN_FLIGHT (the connections the LM servers take from one
   * batch) and at most MAX_SHARDS.
   */
  private shards(b: BatchRow): number {
    if (b.shards !== null) return b.shards;
    const per = settings(this.env).BATCH_SHARD_PROMPTS;
    const cap = Math.max(1, Math.floor(settings(this.env).LM_MAX_IN_FLIGHT / IN_FLIGHT));
    const n = Math.max(1, Math.min(MAX_SHARDS, cap, Math.ceil(this.promptCount(b) / per)));
    this.sql.exec("UPDATE batch SET shards = ?", n);
    return n;
  }

  private async wakeShards(b: BatchRow, shards: number): Promise<void> {
    await Promise.all(Array.from({ length: shards }, (_, k) => shardOf(this.env, b.id, k).start(b.id, k, shards)));
  }

  /**
   * Waves: when no open prompt has samples planned, plans the next round (the batch's
   * budget left over the posterior curves) and wakes the shards for it. False when the
   * plan is nothing and the batch has ended.
   */
  private async planned(b: BatchRow, spec: BatchSpec): Promise<boolean> {
    if (spec.allocation !== "waves") return true;
    const open = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE state = 'pending' AND planned > 0").one().n;
    if (open > 0) return true;
    const more = spec.mode === "route" ? this.planCascade(b, spec) : this.planWaves(b, spec);
    if (!more) {
      // Done: every open prompt was served what the budget allowed (with its best sample so far, if it has one).
      this.sql.exec("UPDATE item SET state = 'done' WHERE state = 'pending'");
      await this.finish("done");
      return false;
    }
    const shards = this.shards(this.row()!);
    if (shards > 1) await this.wakeShards(b, shards);
    return true;
  }

  /** The next round of best-of-k waves (waves.ts); false when it draws nothing. */
  private planWaves(b: BatchRow, spec: BatchSpec): boolean {
    type Row = { idx: number; p: number; atoms: string | null; seen: string | null; samples: number; rounds: number; reward: number | null };
    const rows = this.sql.exec<Row>("SELECT idx, p, atoms, seen, samples, rounds, reward FROM item WHERE state = 'pending' ORDER BY idx").toArray();
    const spent = this.sql.exec<{ s: number }>("SELECT COALESCE(SUM(samples), 0) AS s FROM item").one().s;
    const belief = (r: Row): Belief =>
      r.atoms !== null ? { atoms: Float64Array.from(JSON.parse(r.atoms) as number[]), strength: b.prior_strength ?? undefined } : { prior: priorOf(r.p, b.prior_strength!) };
    const queries = rows.map((r) => ({ belief: belief(r), drawn: r.samples, best: r.reward ?? 0, seen: r.seen === null ? [] : (JSON.parse(r.seen) as number[]), solved: false, rounds: r.rounds, min: spec.budget.min, max: spec.budget.max }));
    const draw = queries.length > 0 ? planRound(queries, b.budget_units - spent) : [];
    if (draw.every((d) => d === 0)) return false;
    rows.forEach((r, k) => this.sql.exec("UPDATE item SET planned = ? WHERE idx = ?", draw[k], r.idx));
    return true;
  }

  /**
   * The next round of a routed batch in waves (a cascade): the menu solver over each open
   * prompt's cascade path (allocation/cascade.ts: nothing, or the path the rule takes if
   * every sample fails, cut after 1, 2, … samples) shares out the units left, and each
   * prompt draws the leading run of its path's first model (a round's slice). False when
   * it draws nothing.
   */
  private planCascade(b: BatchRow, spec: BatchSpec): boolean {
    const options = this.routeOptions(b);
    type Row = { idx: number; route_p: string; arm_failures: string; units: number; rounds: number };
    const rows = this.sql.exec<Row>("SELECT idx, route_p, arm_failures, units, rounds FROM item WHERE state = 'pending' ORDER BY idx").toArray();
    const spent = this.sql.exec<{ s: number }>("SELECT COALESCE(SUM(units), 0) AS s FROM item").one().s;
    const menus = rows.map((r) => {
      const p = JSON.parse(r.route_p) as number[];
      const arms = options.map((o, j) => ({ cost: o.cost, belief: { prior: priorOf(p[j], b.prior_strength!) }, max: Number.MAX_SAFE_INTEGER }));
      // A prompt owes its minimum until it has one; a prompt with samples may stop.
      const menu = cascadeMenu(arms, JSON.parse(r.arm_failures) as number[], spec.budget.max - r.units, roundSize(r.rounds), r.units >= spec.budget.min);
      return menu.length > 0 ? menu : [{ cost: 0, value: 0, arm: -1, run: 0 }];
    });
    const choice = rows.length > 0 ? solveMenu(menus, Math.max(0, b.budget_units - spent)).choice : [];
    const draw = menus.map((m, k) => m[choice[k]]);
    if (draw.every((d) => d.arm < 0)) return false;
    rows.forEach((r, k) => this.sql.exec("UPDATE item SET planned = ?, arm = ? WHERE idx = ?", draw[k].run, draw[k].arm < 0 ? null : draw[k].arm, r.idx));
    return true;
  }

  /**
   * Up to `limit` prompts of shard `shard` (of `shards`: by index modulo) that are due to
   * draw, and when the shard should ask again if there is nothing now (null: nothing left
   * for it). A prompt belongs to one shard, whose steps run one at a time (a shard asks
   * again only after delivering, or after it died), so no lease is needed: an outcome
   * delivered twice (a dead step's, late) is applied once.
   */
  private work(b: BatchRow, spec: BatchSpec, shard: number, shards: number, limit: number): { items: Work[]; retryAt: number | null } {
    const now = Date.now();
    const waves = spec.allocation === "waves";
    const base = lmConfig(this.env);
    const options = spec.mode === "route" && waves ? this.routeOptions(b) : null;
    const mine = `state = 'pending' AND idx % ? = ?${waves ? " AND planned > 0" : ""}`;
    type Row = { idx: number; prompt: string; units: number; model: string | null; samples: number | null; planned: number; arm: number | null; rounds: number };
    const rows =
      limit > 0
        ? this.sql
            .exec<Row>(`SELECT idx, prompt, units, model, samples, planned, arm, rounds FROM item WHERE ${mine} AND not_before <= ? ORDER BY idx LIMIT ?`, shards, shard, now, limit)
            .toArray()
        : [];
    const seedOf = (idx: number) => (spec.sampling.seed === undefined ? undefined : spec.sampling.seed + idx);
    const items = rows.map((r): Work => {
      if (!waves) {
        // One shot: a routed prompt has its own model and samples; otherwise the batch's model, and units are samples.
        const seed = seedOf(r.idx);
        return { idx: r.idx, round: 0, prompt: r.prompt, model: r.model ?? spec.model ?? base.model, units: r.samples ?? r.units, ...(seed === undefined ? {} : { seed: seed >>> 0 }) };
      }
      const seed = roundSeed(seedOf(r.idx), r.rounds);
      return { idx: r.idx, round: r.rounds, prompt: r.prompt, model: options ? options[r.arm!].model : (spec.model ?? base.model), units: r.planned, ...(seed === undefined ? {} : { seed }) };
    });
    const next = this.sql.exec<{ at: number | null }>(`SELECT MIN(not_before) AS at FROM item WHERE ${mine}`, shards, shard).one().at;
    return { items, retryAt: next === null ? null : Math.max(next, now + 1) };
  }

  /** A shard asks for work (RPC from shard.ts): nothing once the batch has ended. */
  async shardWork(shard: number, shards: number): Promise<{ items: Work[]; retryAt: number | null; sampling: BatchSpec["sampling"] | null }> {
    const b = this.row();
    if (!b || b.status !== "sampling") return { items: [], retryAt: null, sampling: null };
    const spec = this.spec(b);
    return { ...this.work(b, spec, shard, shards, PROMPTS_PER_STEP), sampling: spec.sampling };
  }

  /** A shard delivers what it drew (RPC from shard.ts). Ignored once the batch has ended: a cancel charges what was delivered before it. */
  async shardDeliver(outcomes: readonly Outcome[]): Promise<void> {
    const b = this.row();
    if (!b || b.status !== "sampling") return;
    await this.apply(b, this.spec(b), outcomes);
  }

  /**
   * Applies outcomes, each once (an outcome for a prompt that moved on, e.g. a late one
   * from a shard step that died and was run again, is dropped), charges what they delivered, and ends
   * the batch or plans the next round when nothing is left to draw.
   */
  private async apply(b: BatchRow, spec: BatchSpec, outcomes: readonly Outcome[]): Promise<void> {
    const waves = spec.allocation === "waves";
    const options = spec.mode === "route" && waves ? this.routeOptions(b) : null;
    for (const o of outcomes) {
      type Row = { idx: number; attempts: number; reward: number | null; best: string | null; atoms: string | null; seen: string | null; arm: number | null; arm_failures: string | null; route_p: string | null; planned: number };
      const it = this.sql
        .exec<Row>(
          `SELECT idx, attempts, reward, best, atoms, seen, arm, arm_failures, route_p, planned FROM item WHERE idx = ? AND state = 'pending' AND rounds = ?${waves ? " AND planned > 0" : ""}`,
          o.idx,
          o.round,
        )
        .toArray()[0];
      if (!it) continue;
      if (!o.ok) {
        // One shot: the prompt fails. Waves: a prompt that ends here was served as far as it got (done with its best sample so far, if it has one).
        this.promptFailed(o.idx, it.attempts, o.failure, waves ? "CASE WHEN samples > 0 THEN 'done' ELSE 'failed' END" : "'failed'");
        continue;
      }
      if (!waves) {
        this.sql.exec("UPDATE item SET state = 'done', best = ?, reward = ? WHERE idx = ?", o.best, o.reward, o.idx);
        continue;
      }
      const better = it.reward === null || (o.reward ?? -Infinity) > it.reward;
      const passed = (o.reward ?? 0) >= PASSING_REWARD;
      if (options) {
        const arm = it.arm!;
        const failures = JSON.parse(it.arm_failures!) as number[];
        failures[arm] += it.planned;
        // The kept sample's model (and the router's p for it) change only when this round's best is better.
        this.sql.exec(
          "UPDATE item SET samples = samples + planned, units = units + planned * ?, rounds = rounds + 1, planned = 0, arm_failures = ?, " +
            "best = ?, reward = ?, model = CASE WHEN ? THEN ? ELSE model END, p = CASE WHEN ? THEN ? ELSE p END, state = ? WHERE idx = ?",
          options[arm].cost,
          JSON.stringify(failures),
          better ? o.best : it.best,
          better ? o.reward : it.reward,
          better ? 1 : 0,
          options[arm].model,
          better ? 1 : 0,
          (JSON.parse(it.route_p!) as number[])[arm],
          passed ? "done" : "pending",
          o.idx,
        );
        continue;
      }
      // Real-valued waves learn from every reward drawn; binary ones only count failures.
      const seen = it.atoms === null ? it.seen : JSON.stringify([...(it.seen === null ? [] : (JSON.parse(it.seen) as number[])), ...o.rewards]);
      this.sql.exec(
        "UPDATE item SET samples = samples + planned, units = samples + planned, rounds = rounds + 1, planned = 0, best = ?, reward = ?, seen = ?, state = ? WHERE idx = ?",
        better ? o.best : it.best,
        better ? o.reward : it.reward,
        seen,
        passed ? "done" : "pending",
        o.idx,
      );
    }
    // What was delivered is charged now (a cancel waits for a step in flight, then releases the rest).
    await this.chargeSampled(this.row()!);
    const after = this.row()!;
    if (after.status !== "sampling") return;
    const left = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM item WHERE state = 'pending'${waves ? " AND planned > 0" : ""}`).one().n;
    if (left > 0) return;
    if (!waves) await this.finish("done");
    else await this.planned(after, spec);
  }

  /**
   * A prompt's LM calls failed. An outage: it is tried again on a later alarm, backing off
   * and honouring the server's Retry-After (up to the cap); nothing was delivered, nothing
   * is charged. A refusal, or attempts run out: it ends with why, in `finalState` (SQL).
   */
  private promptFailed(idx: number, attemptsBefore: number, e: Failure, finalState: string): void {
    const attempts = attemptsBefore + 1;
    if (e.retryable && attempts < this.timing.attempts) {
      const wait = Math.min(this.timing.capMs, Math.max(backoff(this.timing, attempts), e.retryAfterMs ?? 0));
      this.sql.exec("UPDATE item SET attempts = ?, not_before = ? WHERE idx = ?", attempts, Date.now() + wait, idx);
      return;
    }
    const why = e.rejected ? `the model server refused it: ${e.reason}` : `the model server kept failing: ${e.reason}`;
    this.sql.exec(`UPDATE item SET planned = 0, attempts = ?, error = ?, state = ${finalState} WHERE idx = ?`, attempts, why, idx);
  }

  /** Charges every sampled, uncharged prompt; idempotent per prompt in the ledger. */
  private async chargeSampled(b: BatchRow): Promise<void> {
    if (!b.reservation) return;
    const ledger = this.ledger(b.tenant);
    const waves = this.spec(b).allocation === "waves";
    const due = waves ? [] : this.sql.exec<{ idx: number; units: number }>("SELECT idx, units FROM item WHERE state = 'done' AND charged = 0 AND units > 0").toArray();
    for (const it of due) {
      // null: the reservation has ended (its lease ran out): do not count as charged what the ledger did not charge.
      if ((await ledger.commit(b.reservation, it.units, Date.now(), `item:${it.idx}`)) === null) return;
      this.sql.exec("UPDATE item SET charged = 1 WHERE idx = ?", it.idx);
    }
    if (!waves) return;
    // Waves: units drawn beyond what was charged, keyed by the total they bring it to, so a
    // retried charge counts once. (Units are samples, or for a cascade each sample at its model's cost.)
    const owed = this.sql.exec<{ idx: number; units: number; charged_units: number }>("SELECT idx, units, charged_units FROM item WHERE units > charged_units").toArray();
    for (const it of owed) {
      if ((await ledger.commit(b.reservation, it.units - it.charged_units, Date.now(), `item:${it.idx}:to:${it.units}`)) === null) return;
      this.sql.exec("UPDATE item SET charged_units = ? WHERE idx = ?", it.units, it.idx);
    }
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
    const rows = this.sql.exec<{ prediction: string; reward: number; units: number }>(
      "SELECT prediction, reward, units FROM item WHERE state = 'done' AND prediction IS NOT NULL AND reward IS NOT NULL",
    );
    for (const r of rows) sums = addEarned(sums, earnedOf(r.reward, r.units, curvePoints(JSON.parse(r.prediction) as Prediction)));
    return estimateEarned(sums);
  }

  private async finish(status: State, error?: { type: string; message: string }): Promise<void> {
    if (error) this.sql.exec("UPDATE batch SET error_type = ?, error_message = ?", error.type, error.message);
    this.sql.exec("UPDATE batch SET status = ?, finished_at = ?", status, Date.now());
    await this.settle(this.row()!);
  }

  /**
   * The batch has ended: charge exactly what it delivered, release the rest, free the
   * tenant's slot, and schedule the deletion. Safe to repeat (charges are idempotent).
   */
  private async settle(b: BatchRow): Promise<void> {
    const ledger = this.ledger(b.tenant);
    await this.chargeSampled(b);
    if (b.reservation) await ledger.release(b.reservation);
    await ledger.endBatch(b.id, { status: b.status, summary: JSON.stringify({ ...this.view(b), earned: this.earned(b) }) });
    const finished = b.finished_at ?? Date.now();
    this.sql.exec("UPDATE batch SET settled = 1, finished_at = ?", finished);
    await this.nextStep(finished + this.timing.retentionMs);
  }
}
