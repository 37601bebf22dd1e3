import { DurableObject } from "cloudflare:workers";
import { solveBatch } from "../allocation/batch.js";
import { buildBatch } from "../allocation/build.js";
import { solveMenu } from "../allocation/menu.js";
import { type RouteChoice, predictedMenu } from "../allocation/route.js";
import { lmConfig } from "../backends/config.js";
import { type BatchRequest, type BatchResult, type BatchStatus, TERMINAL_STATES as TERMINAL } from "../contracts/batches.js";
import { sampleAndRerank, mapBounded } from "../dispatch/best-of-k.js";
import type { Env } from "../env.js";
import { ApiError } from "../http/errors.js";
import { BackendError } from "../lm/http.js";
import { choosePredictor, marginalsOf, predict, predictRoute } from "../predictor/predict.js";
import { findRouter } from "../predictor/registry.js";
import { budgetExceeded } from "../tenants/budget-error.js";
import { tenantLedger } from "../tenants/lookup.js";

type State = BatchStatus["status"];

/** Prompts sampled per alarm: two subrequests each, within one invocation's limit of 50. */
export const PROMPTS_PER_STEP = 24;
const IN_FLIGHT = 6;

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
};

/**
 * One batch: a persisted state machine driven by alarms.
 *
 *   queued → predicting (hidden states, predictor, allocation, budget reserved)
 *          → sampling (PROMPTS_PER_STEP prompts per alarm: k samples each, scored, best kept,
 *            then charged) → done
 *
 * Every step writes its results before the next begins, so an object that is evicted or
 * restarted resumes where it was: predictions and allocation are not recomputed, sampled
 * prompts are not sampled again, and charges are idempotent per prompt in the tenant's
 * ledger, so no sample is charged twice. A prompt whose sampling finally fails is not
 * charged; what was reserved and not used is released when the batch ends.
 */
export class BatchRun extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** A step is running in this instance: another alarm entering meanwhile must not start one. */
  private stepping = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS batch (k INTEGER PRIMARY KEY CHECK (k = 0), id TEXT NOT NULL, tenant TEXT NOT NULL,
        spec TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, predictor TEXT, reservation TEXT,
        budget_units INTEGER NOT NULL, allocated INTEGER NOT NULL DEFAULT 0, error_type TEXT, error_message TEXT);
      CREATE TABLE IF NOT EXISTS item (idx INTEGER PRIMARY KEY, id TEXT NOT NULL, prompt TEXT NOT NULL, p REAL,
        units INTEGER, state TEXT NOT NULL DEFAULT 'pending', best TEXT, reward REAL, charged INTEGER NOT NULL DEFAULT 0);
    `);
    // Added with routing: the model that answers a prompt and its samples (units are what
    // is charged: samples × the model's cost). Objects created before keep their rows.
    const columns = new Set(this.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('item')").toArray().map((c) => c.name));
    if (!columns.has("model")) this.sql.exec("ALTER TABLE item ADD COLUMN model TEXT");
    if (!columns.has("samples")) this.sql.exec("ALTER TABLE item ADD COLUMN samples INTEGER");
  }

  /**
   * Schedules the next step. Not setAlarm(Date.now()): re-arming at the current time from
   * inside alarm() is silently dropped by local workerd and can be delayed for tens of
   * seconds in production (cloudflare/workerd#6866); one millisecond ahead chains reliably.
   */
  private nextStep(): Promise<void> {
    return this.ctx.storage.setAlarm(Date.now() + 1);
  }

  private row(): BatchRow | null {
    return this.sql.exec<BatchRow>("SELECT * FROM batch").toArray()[0] ?? null;
  }

  private spec(b: BatchRow): BatchRequest {
    return JSON.parse(b.spec) as BatchRequest;
  }

  private ledger(tenant: string) {
    return tenantLedger(this.env, tenant);
  }

  /** Starts the batch (idempotent: a repeated start returns the existing status). */
  async start(id: string, tenant: string, spec: BatchRequest): Promise<BatchStatus> {
    if (!this.row()) {
      const budgetUnits = Math.round(spec.budget.average * spec.prompts.length);
      this.sql.exec("INSERT INTO batch (k, id, tenant, spec, status, created_at, budget_units) VALUES (0, ?, ?, ?, 'queued', ?, ?)", id, tenant, JSON.stringify(spec), Date.now(), budgetUnits);
      spec.prompts.forEach((p, i) => this.sql.exec("INSERT INTO item (idx, id, prompt) VALUES (?, ?, ?)", i, p.id, p.prompt));
      await this.nextStep();
    }
    return (await this.status(tenant))!;
  }

  /**
   * The batch's status. Also a watchdog: a running batch with no alarm set (its step was
   * cut off, e.g. by an eviction, before it could re-arm) is re-armed, so polling a batch
   * keeps it moving.
   */
  async status(tenant: string): Promise<BatchStatus | null> {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    if (!TERMINAL.includes(b.status) && (await this.ctx.storage.getAlarm()) === null) await this.nextStep();
    // Units used are derived from the charged prompts, never kept as a running total that
    // a restart between charging and counting could double.
    const counts = this.sql.exec<{ sampled: number; failed: number; used: number }>(
      "SELECT COALESCE(SUM(state = 'done'), 0) AS sampled, COALESCE(SUM(state = 'failed'), 0) AS failed, COALESCE(SUM(CASE WHEN charged = 1 THEN units ELSE 0 END), 0) AS used FROM item",
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
      prompts: spec.prompts.length,
      progress: { sampled: counts.sampled, failed: counts.failed },
      allocation:
        b.status === "queued" || b.status === "predicting"
          ? null
          : { mode: spec.allocation, budget_units: b.budget_units, allocated_units: b.allocated, units_used: counts.used, predictor: b.predictor, ...(models ? { models } : {}) },
      error: b.error_type ? { type: b.error_type, message: b.error_message ?? "" } : null,
    };
  }

  results(tenant: string): BatchResult[] | null {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    return this.sql
      .exec<{ id: string; best: string | null; reward: number | null; units: number | null; model: string | null; samples: number | null; p: number | null; state: string }>(
        "SELECT id, best, reward, units, model, samples, p, state FROM item WHERE state != 'pending' ORDER BY idx",
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
          model: samples > 0 ? r.model : null,
          samples: done ? samples : 0,
          predicted_success: r.p,
          status: r.state as "done" | "failed",
        };
      });
  }

  async cancel(tenant: string): Promise<BatchStatus | null> {
    const b = this.row();
    if (!b || b.tenant !== tenant) return null;
    if (!TERMINAL.includes(b.status)) {
      await this.finish(b, "cancelled");
      await this.ctx.storage.deleteAlarm();
    }
    return this.status(tenant);
  }

  override async alarm(): Promise<void> {
    const b = this.row();
    if (!b || TERMINAL.includes(b.status) || this.stepping) return;
    this.stepping = true;
    try {
      if (b.status === "queued" || b.status === "predicting") await this.allocate(b);
      else await this.sampleStep(b);
    } catch (e) {
      const err = e instanceof ApiError ? { type: e.type, message: e.message } : { type: "api_error", message: `batch failed: ${(e as Error).message}` };
      this.sql.exec("UPDATE batch SET error_type = ?, error_message = ?", err.type, err.message);
      await this.finish(this.row()!, "failed");
    } finally {
      this.stepping = false;
    }
  }

  /** Predicts each prompt's curve, allocates the budget, reserves it. */
  private async allocate(b: BatchRow): Promise<void> {
    this.sql.exec("UPDATE batch SET status = 'predicting'");
    const spec = this.spec(b);
    const n = spec.prompts.length;
    let units: number[];
    let predictor: string | null = null;
    if (spec.mode === "route") {
      const routed = await this.route(spec, b.budget_units);
      predictor = routed.router;
      units = routed.units;
    } else if (spec.allocation === "uniform") {
      // Best-of-B for everyone; a fractional B spreads the remainder over the first prompts.
      const base = Math.floor(spec.budget.average);
      const extra = b.budget_units - base * n;
      units = spec.prompts.map((_, i) => Math.min(spec.budget.max, Math.max(spec.budget.min, base + (i < extra ? 1 : 0))));
    } else {
      const shipped = await choosePredictor(this.env, spec);
      predictor = shipped.manifest.name;
      const preds = await predict(this.env, shipped, spec.prompts.map((p) => ({ prompt: p.prompt })), (i) => `prompts[${i}].prompt`);
      // Predicted single-sample success: p, or q(1) for a curve predictor.
      preds.forEach((pr, i) => this.sql.exec("UPDATE item SET p = ? WHERE idx = ?", "p" in pr ? pr.p : pr.curve[0], i));
      const problem = buildBatch({
        budget: b.budget_units,
        min: spec.budget.min,
        max: spec.budget.max,
        queries: preds.map((pr, i) => ("p" in pr ? { id: String(i), p: pr.p } : { id: String(i), marginals: marginalsOf(pr.curve) })),
      });
      units = Array.from(solveBatch(problem, b.budget_units).units);
    }
    const allocated = units.reduce((a, x) => a + x, 0);
    units.forEach((u, i) => this.sql.exec("UPDATE item SET units = ?, state = CASE WHEN ? = 0 THEN 'done' ELSE state END WHERE idx = ?", u, u, i));
    let reservation: string | null = null;
    if (allocated > 0) {
      const r = await this.ledger(b.tenant).reserve(allocated, b.id);
      if (!r.ok) throw budgetExceeded(b.tenant, r, "this batch");
      reservation = r.id;
    }
    this.sql.exec("UPDATE batch SET status = 'sampling', predictor = ?, reservation = ?, allocated = ?", predictor, reservation, allocated);
    await this.nextStep();
  }

  /**
   * Routing: each prompt's menu of (model, k) with cost between the budget's min and max
   * (plus "nothing" when min is 0), valued by the router; the multiple-choice knapsack
   * picks one option per prompt within the batch's units. Writes each prompt's model,
   * samples and predicted success; returns the units (costs) to charge.
   */
  private async route(spec: BatchRequest, budgetUnits: number): Promise<{ router: string; units: number[] }> {
    const name = spec.model ?? "route";
    const router = await findRouter(this.env, name);
    if (!router) throw new ApiError(400, "invalid_request_error", `no router named "${name}"`, "model");
    const options = router.manifest.route!.options;
    const preds = await predictRoute(this.env, router, spec.prompts.map((p) => ({ prompt: p.prompt })));
    const nothing: RouteChoice = { option: -1, k: 0, cost: 0, value: 0 };
    const menus = preds.map((p) => [
      ...(spec.budget.min === 0 ? [nothing] : []),
      ...predictedMenu(options, p, spec.budget.min, spec.budget.max),
    ]);
    if (menus[0].length === 0) throw new ApiError(400, "invalid_request_error", `no (model, k) of ${name} costs between ${spec.budget.min} and ${spec.budget.max} units`, "budget");
    const solution = solveMenu(menus, budgetUnits);
    const chosen = menus.map((menu, i) => menu[solution.choice[i]]);
    chosen.forEach((c, i) => {
      const model = c.option >= 0 ? options[c.option].model : null;
      this.sql.exec("UPDATE item SET model = ?, samples = ?, p = ? WHERE idx = ?", model, c.k, c.option >= 0 ? preds[i][c.option] : null, i);
    });
    return { router: router.manifest.name, units: chosen.map((c) => c.cost) };
  }

  /** Samples, scores and charges the next prompts; finishes when none are left. */
  private async sampleStep(b: BatchRow): Promise<void> {
    const spec = this.spec(b);
    const base = lmConfig(this.env);
    const pending = this.sql
      .exec<{ idx: number; prompt: string; units: number; model: string | null; samples: number | null }>(
        "SELECT idx, prompt, units, model, samples FROM item WHERE state = 'pending' ORDER BY idx LIMIT ?",
        PROMPTS_PER_STEP,
      )
      .toArray();
    const params = { temperature: spec.sampling.temperature, topP: spec.sampling.top_p, maxTokens: spec.sampling.max_tokens };
    await mapBounded(pending, IN_FLIGHT, async (it) => {
      try {
        const seed = spec.sampling.seed === undefined ? undefined : (spec.sampling.seed + it.idx) >>> 0;
        // A routed prompt has its own model and samples (every pending one: a prompt given
        // nothing is done at allocation); otherwise the batch's model, and units are samples.
        const cfg = { ...base, model: it.model ?? spec.model ?? base.model };
        const [r] = await sampleAndRerank(cfg, [{ input: { prompt: it.prompt }, units: it.samples ?? it.units, seed }], params);
        this.sql.exec("UPDATE item SET state = 'done', best = ?, reward = ? WHERE idx = ?", r.best, r.reward, it.idx);
      } catch (e) {
        if (!(e instanceof BackendError)) throw e;
        // Finally failed after retries: recorded, and never charged.
        this.sql.exec("UPDATE item SET state = 'failed' WHERE idx = ?", it.idx);
      }
    });
    // Cancelled while this step was sampling: keep the results, charge nothing more (the
    // reservation is already released).
    if (this.row()!.status !== "sampling") return;
    await this.chargeSampled(b);
    const left = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE state = 'pending'").one().n;
    if (left > 0) await this.nextStep();
    else await this.finish(this.row()!, "done");
  }

  /** Charges every sampled, uncharged prompt; idempotent per prompt in the ledger. */
  private async chargeSampled(b: BatchRow): Promise<void> {
    if (!b.reservation) return;
    const ledger = this.ledger(b.tenant);
    const due = this.sql.exec<{ idx: number; units: number }>("SELECT idx, units FROM item WHERE state = 'done' AND charged = 0 AND units > 0").toArray();
    for (const it of due) {
      // null: the reservation was released meanwhile (the batch was cancelled): stop, and
      // do not count as charged what the ledger did not charge.
      if ((await ledger.commit(b.reservation, it.units, Date.now(), `item:${it.idx}`)) === null) return;
      this.sql.exec("UPDATE item SET charged = 1 WHERE idx = ?", it.idx);
    }
  }

  private async finish(b: BatchRow, status: State): Promise<void> {
    const ledger = this.ledger(b.tenant);
    if (b.reservation) {
      if (status === "done") await this.chargeSampled(b);
      await ledger.release(b.reservation);
    }
    await ledger.endBatch(b.id);
    this.sql.exec("UPDATE batch SET status = ?", status);
  }
}
