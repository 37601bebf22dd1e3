/**
 * A batch's prompts as rows, and every read and write of them in one place. A prompt's
 * row holds its prediction, what it draws next (`planned` samples of arm `arm`, or of
 * `model`), what it has drawn (samples, rounds, units `delivered`, the best sample and its
 * reward) and, for a prompt drawn in rounds, the sequential core's view of it (`queryOf`:
 * its arms from the batch's menu and its own predictions, its state from what it drew).
 * Storage only: BatchRun serialises the calls.
 */
import { type Belief, priorOf } from "../../core/allocation/waves.js";
import { type Arm, type Query, type QueryState, afterRound, startState } from "../../core/sequential/index.js";
import type { ArmThinking, ItemDetail, ItemRequest } from "./work.js";

/** An arm of a batch drawn in rounds: a model at a cost per sample (one arm for best-of-k, one per model for a router). */
export interface BatchArm {
  readonly model: string;
  readonly cost: number;
  /** A thinking level (batches/thinking.ts): the budget sent, the tokens to a unit it is charged by, and a sample's most tokens. */
  readonly thinking?: ArmThinking;
}


/** How the batch's prompts are drawn in rounds: its arms, the prior's strength, and each prompt's bounds in units. */
export interface Rounds {
  readonly arms: readonly BatchArm[];
  readonly strength: number | undefined;
  readonly min: number;
  readonly max: number;
}

/** A prompt due to draw: `units` samples of `model` in its round `round`. */
export interface Due {
  readonly idx: number;
  readonly round: number;
  readonly prompt: string;
  readonly model: string;
  readonly units: number;
  /** The prompt's own request (a batch made from a file of OpenAI requests), as JSON (ItemRequest). */
  readonly request?: string;
  /** A thinking level's budget and charge (batches/thinking.ts); absent: samples at their cost. */
  readonly thinking?: ArmThinking;
}

/** A prompt as a file batch's output file reports it: what it drew and kept, or why it failed. */
export interface OutputRow {
  readonly idx: number;
  readonly id: string;
  readonly state: "pending" | "done" | "failed";
  readonly best: string | null;
  readonly reward: number | null;
  readonly model: string | null;
  readonly samples: number;
  readonly delivered: number;
  readonly error: string | null;
  readonly detail: ItemDetail | null;
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
}

/** A picked prompt whose policy is done: what its audit draws from (its request, model and seeds) and records. */
export type AuditDue = {
  readonly idx: number;
  readonly prompt: string;
  readonly request: string | null;
  readonly model: string | null;
  readonly samples: number | null;
  readonly delivered: number;
  readonly rounds: number;
  readonly reward: number | null;
  readonly p: number | null;
  readonly prediction: string | null;
  /** The policy's samples' rewards, JSON: an array per round, in draw order. */
  readonly drawn: string | null;
};

/** A drawn audit as stored: the policy's rewards per round and the audit's own (JSON). */
export type AuditRow = {
  readonly idx: number;
  readonly model: string | null;
  readonly samples: number | null;
  readonly delivered: number;
  readonly reward: number | null;
  readonly p: number | null;
  readonly prediction: string | null;
  readonly drawn: string | null;
  readonly audit_rewards: string | null;
};

type SeqRow = {
  idx: number;
  p: number | null;
  atoms: string | null;
  seen: string | null;
  route_p: string | null;
  arm_failures: string | null;
  arm_costs: string | null;
  samples: number;
  units: number;
  rounds: number;
  reward: number | null;
  arm: number | null;
};

const json = <T>(text: string | null, fallback: T): T => (text === null ? fallback : (JSON.parse(text) as T));

export class Items {
  constructor(private readonly sql: SqlStorage) {}

  insert(prompts: readonly { id: string; prompt: string; request?: ItemRequest }[]): void {
    prompts.forEach((p, i) => this.sql.exec("INSERT INTO item (idx, id, prompt, request) VALUES (?, ?, ?, ?)", i, p.id, p.prompt, p.request ? JSON.stringify(p.request) : null));
  }

  // ---- predicting

  /** Up to `limit` pending prompts not yet predicted, each with its own request's input when it has one. */
  toPredict(limit: number): { idx: number; prompt: string; input: ItemRequest["input"] | null }[] {
    return this.sql
      .exec<{ idx: number; prompt: string; request: string | null }>("SELECT idx, prompt, request FROM item WHERE state = 'pending' AND prediction IS NULL ORDER BY idx LIMIT ?", limit)
      .toArray()
      .map((r) => ({ idx: r.idx, prompt: r.prompt, input: r.request ? (JSON.parse(r.request) as ItemRequest).input : null }));
  }

  predicted(idx: number, prediction: unknown): void {
    this.sql.exec("UPDATE item SET prediction = ? WHERE idx = ?", JSON.stringify(prediction), idx);
  }

  /** A prompt the LM refused (or that failed for good): it fails alone, with why. */
  failed(idx: number, why: string): void {
    this.sql.exec("UPDATE item SET state = 'failed', planned = 0, error = ? WHERE idx = ?", why, idx);
  }

  /** Prompts whose prediction was read (what prefills were done, and charged). */
  predictedCount(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE prediction IS NOT NULL").one().n;
  }

  /** The stored predictions of the prompts still pending, with their index. */
  predictions<T>(): { pr: T; idx: number }[] {
    return this.sql
      .exec<{ idx: number; prediction: string }>("SELECT idx, prediction FROM item WHERE state = 'pending' AND prediction IS NOT NULL ORDER BY idx")
      .toArray()
      .map((r) => ({ pr: JSON.parse(r.prediction) as T, idx: r.idx }));
  }

  pendingIdx(): number[] {
    return this.sql.exec<{ idx: number }>("SELECT idx FROM item WHERE state = 'pending' ORDER BY idx").toArray().map((r) => r.idx);
  }

  // ---- one round, fixed up front

  /** A prompt's whole allocation: `samples` of `model` for `units` (0 units: done now, nothing to draw). */
  fix(idx: number, a: { model: string | null; samples: number; units: number; p: number | null; arm?: number }): void {
    this.sql.exec(
      "UPDATE item SET model = ?, samples = 0, units = ?, planned = ?, p = ?, arm = ?, state = CASE WHEN ? = 0 THEN 'done' ELSE state END WHERE idx = ?",
      a.model,
      a.units,
      a.samples,
      a.p,
      a.arm ?? null,
      a.samples,
      idx,
    );
  }

  // ---- rounds

  /** Sets a prompt up for rounds: its predicted p per arm (one arm: `p`, and `atoms` for real-valued rewards). */
  startRounds(idx: number, p: readonly number[], atoms: readonly number[] | null, model: string, armCosts?: readonly number[]): void {
    if (armCosts) this.sql.exec("UPDATE item SET arm_costs = ? WHERE idx = ?", JSON.stringify(armCosts), idx);
    if (p.length === 1) this.sql.exec("UPDATE item SET p = ?, atoms = ?, units = 0, samples = 0, model = ? WHERE idx = ?", p[0], atoms ? JSON.stringify(atoms) : null, model, idx);
    else this.sql.exec("UPDATE item SET route_p = ?, arm_failures = ?, units = 0, samples = 0 WHERE idx = ?", JSON.stringify(p), JSON.stringify(p.map(() => 0)), idx);
  }

  /** The sequential core's view of a prompt: its arms (beliefs from its predictions) and what it has drawn. */
  private queryOf(r: SeqRow, rounds: Rounds): Query {
    const several = rounds.arms.length > 1;
    const belief = (j: number): Belief => {
      if (several) return { prior: priorOf(json<number[]>(r.route_p, [])[j], rounds.strength!) };
      if (r.atoms !== null) return { atoms: Float64Array.from(JSON.parse(r.atoms) as number[]), ...(rounds.strength !== undefined ? { strength: rounds.strength } : {}) };
      return { prior: priorOf(r.p!, rounds.strength!) };
    };
    // A thinking prompt's own cost per level (its predicted tokens), else the batch's.
    const costs = json<number[] | null>(r.arm_costs, null);
    const arms: Arm[] = rounds.arms.map((a, j) => ({ cost: costs?.[j] ?? a.cost, belief: belief(j), max: Number.MAX_SAFE_INTEGER }));
    const drawn = several ? json<number[]>(r.arm_failures, rounds.arms.map(() => 0)) : [r.samples];
    const state: QueryState = {
      ...startState(arms.length),
      drawn,
      units: r.units,
      rounds: r.rounds,
      best: r.reward ?? 0,
      bestArm: r.reward === null ? null : 0,
      seen: several ? arms.map(() => []) : [json<number[]>(r.seen, [])],
    };
    return { arms, state, min: rounds.min, max: rounds.max };
  }

  private seqRows(where: string): SeqRow[] {
    return this.sql.exec<SeqRow>(`SELECT idx, p, atoms, seen, route_p, arm_failures, arm_costs, samples, units, rounds, reward, arm FROM item WHERE ${where} ORDER BY idx`).toArray();
  }

  /** Pending prompts with a round still to draw. */
  openRounds(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE state = 'pending' AND planned > 0").one().n;
  }

  /** Every pending prompt with nothing planned, as the core sees it. */
  toPlan(rounds: Rounds): { idx: number; query: Query }[] {
    return this.seqRows("state = 'pending' AND planned = 0").map((r) => ({ idx: r.idx, query: this.queryOf(r, rounds) }));
  }

  /** A prompt's next round: `count` samples of arm `arm`. */
  plan(idx: number, arm: number, count: number): void {
    this.sql.exec("UPDATE item SET planned = ?, arm = ? WHERE idx = ?", count, arm, idx);
  }

  /** Every pending prompt is done with what it drew, its best sample if it has one (the plan draws nothing more). */
  finishRounds(): void {
    this.sql.exec("UPDATE item SET state = 'done' WHERE state = 'pending'");
  }

  // ---- drawing

  /**
   * Up to `limit` prompts of shard `shard` (of `shards`: by index modulo) due to draw now,
   * and when the shard should ask again if there is nothing now (null: nothing left for it).
   */
  due(
    shard: number,
    shards: number,
    limit: number,
    now: number,
    modelOf: (arm: number | null, model: string | null) => string,
    thinkingOf: (arm: number | null) => ArmThinking | undefined = () => undefined,
  ): { items: Due[]; retryAt: number | null } {
    const mine = "state = 'pending' AND planned > 0 AND idx % ? = ?";
    type Row = { idx: number; prompt: string; model: string | null; planned: number; arm: number | null; rounds: number; request: string | null };
    const rows = limit > 0 ? this.sql.exec<Row>(`SELECT idx, prompt, model, planned, arm, rounds, request FROM item WHERE ${mine} AND not_before <= ? ORDER BY idx LIMIT ?`, shards, shard, now, limit).toArray() : [];
    const items = rows.map((r) => ({
      idx: r.idx,
      round: r.rounds,
      prompt: r.prompt,
      model: modelOf(r.arm, r.model),
      units: r.planned,
      ...(r.request ? { request: r.request } : {}),
      ...(thinkingOf(r.arm) ? { thinking: thinkingOf(r.arm) } : {}),
    }));
    const next = this.sql.exec<{ at: number | null }>(`SELECT MIN(not_before) AS at FROM item WHERE ${mine}`, shards, shard).one().at;
    return { items, retryAt: next === null ? null : Math.max(next, now + 1) };
  }

  /**
   * Applies what a prompt's round drew, once: only while the prompt is still in that round
   * (a late or repeated delivery is dropped). One round fixed up front: the prompt is done.
   * Rounds: the core's state moves on (the kept sample, its model and the router's p for it
   * change only when this round's best is better); a pass ends the prompt.
   */
  delivered(o: { idx: number; round: number; best: string | null; reward: number | null; rewards: readonly number[]; units?: number; detail?: ItemDetail }, rounds: Rounds | null): boolean {
    const r = this.seqRows(`idx = ${Number(o.idx)} AND state = 'pending' AND planned > 0 AND rounds = ${Number(o.round)}`)[0];
    if (!r) return false;
    const planned = this.sql.exec<{ planned: number; units: number }>("SELECT planned, units FROM item WHERE idx = ?", o.idx).one();
    if (o.detail) {
      // A file batch's prompt: its tokens add up over rounds; its detail follows its kept sample.
      const better = rounds === null || r.reward === null || (o.reward ?? -Infinity) > r.reward;
      this.sql.exec(
        "UPDATE item SET prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?, detail = CASE WHEN ? THEN ? ELSE detail END WHERE idx = ?",
        o.detail.prompt_tokens,
        o.detail.completion_tokens,
        better ? 1 : 0,
        JSON.stringify(o.detail),
        o.idx,
      );
    }
    // An audited prompt keeps its samples' rewards in draw order, which its audit replays (audit.ts).
    this.sql.exec("UPDATE item SET drawn = json_insert(COALESCE(drawn, '[]'), '$[#]', json(?)) WHERE idx = ? AND audit IS NOT NULL", JSON.stringify(o.rewards), o.idx);
    if (rounds === null) {
      // What it cost: the tokens it generated for a thinking level (o.units), else what was allocated.
      this.sql.exec(
        "UPDATE item SET state = 'done', best = ?, reward = ?, samples = planned, planned = 0, rounds = 1, units = COALESCE(?, units), delivered = COALESCE(?, units) WHERE idx = ?",
        o.best,
        o.reward,
        o.units ?? null,
        o.units ?? null,
        o.idx,
      );
      return true;
    }
    const arm = r.arm ?? 0;
    const query = this.queryOf(r, rounds);
    const after = afterRound(query.arms, query.state, arm, o.rewards, o.units);
    const better = r.reward === null || (o.reward ?? -Infinity) > r.reward;
    const several = rounds.arms.length > 1;
    const p = several ? json<number[]>(r.route_p, [])[arm] : r.p;
    this.sql.exec(
      "UPDATE item SET samples = samples + ?, units = ?, delivered = ?, rounds = ?, planned = 0, arm_failures = ?, seen = ?, " +
        "best = CASE WHEN ? THEN ? ELSE best END, reward = CASE WHEN ? THEN ? ELSE reward END, model = CASE WHEN ? THEN ? ELSE model END, " +
        "p = CASE WHEN ? THEN ? ELSE p END, state = ? WHERE idx = ?",
      planned.planned,
      after.units,
      after.units,
      after.rounds,
      several ? JSON.stringify(after.drawn) : null,
      several ? null : JSON.stringify(after.seen[0]),
      better ? 1 : 0,
      o.best,
      better ? 1 : 0,
      o.reward,
      better ? 1 : 0,
      rounds.arms[arm].model,
      better ? 1 : 0,
      p,
      after.solved ? "done" : "pending",
      o.idx,
    );
    return true;
  }

  /** A prompt's round failed: `retryAt` (backing off) with its attempts counted, or for good with `why` (kept as far as it got when it drew before). */
  attemptFailed(idx: number, round: number, retry: { at: number } | { why: string }): void {
    const row = this.sql.exec<{ attempts: number }>("SELECT attempts FROM item WHERE idx = ? AND state = 'pending' AND planned > 0 AND rounds = ?", idx, round).toArray()[0];
    if (!row) return;
    if ("at" in retry) {
      this.sql.exec("UPDATE item SET attempts = attempts + 1, not_before = ? WHERE idx = ?", retry.at, idx);
      return;
    }
    this.sql.exec("UPDATE item SET planned = 0, attempts = attempts + 1, error = ?, state = CASE WHEN samples > 0 THEN 'done' ELSE 'failed' END WHERE idx = ?", retry.why, idx);
  }

  attempts(idx: number): number {
    return this.sql.exec<{ attempts: number }>("SELECT attempts FROM item WHERE idx = ?", idx).toArray()[0]?.attempts ?? 0;
  }

  // ---- accounts and views

  /** Units delivered in all: what the batch owes for its samples. */
  deliveredUnits(): number {
    return this.sql.exec<{ u: number }>("SELECT COALESCE(SUM(delivered), 0) AS u FROM item").one().u;
  }

  /** Units drawn so far by prompts in rounds (the budget they share). */
  spentInRounds(): number {
    return this.sql.exec<{ u: number }>("SELECT COALESCE(SUM(units), 0) AS u FROM item WHERE rounds > 0 OR units > 0").one().u;
  }

  counts(): { sampled: number; failed: number } {
    return this.sql.exec<{ sampled: number; failed: number }>("SELECT COALESCE(SUM(state = 'done'), 0) AS sampled, COALESCE(SUM(state = 'failed'), 0) AS failed FROM item").one();
  }

  /** Per model, the prompts answered, the samples drawn for them and the units they delivered: what the tenant's rollups count when the batch ends. */
  servedByModel(): Record<string, { prompts: number; samples: number; units: number }> {
    const rows = this.sql
      .exec<{ model: string; prompts: number; samples: number; units: number }>(
        "SELECT COALESCE(model, '') AS model, COUNT(*) AS prompts, COALESCE(SUM(samples), 0) AS samples, COALESCE(SUM(delivered), 0) AS units FROM item WHERE state = 'done' GROUP BY 1",
      )
      .toArray();
    return Object.fromEntries(rows.map((r) => [r.model, { prompts: r.prompts, samples: r.samples, units: r.units }]));
  }

  /** Prompts answered by each model (routing). */
  models(): Record<string, number> {
    return Object.fromEntries(this.sql.exec<{ model: string; n: number }>("SELECT model, COUNT(*) AS n FROM item WHERE model IS NOT NULL AND samples > 0 GROUP BY model ORDER BY model").toArray().map((r) => [r.model, r.n]));
  }

  results(): { id: string; best: string | null; reward: number | null; delivered: number; model: string | null; samples: number; p: number | null; state: "done" | "failed"; error: string | null }[] {
    return this.sql
      .exec<{ id: string; best: string | null; reward: number | null; delivered: number; model: string | null; samples: number | null; p: number | null; state: "done" | "failed"; error: string | null }>(
        "SELECT id, best, reward, delivered, model, samples, p, state, error FROM item WHERE state != 'pending' ORDER BY idx",
      )
      .toArray()
      .map((r) => ({ ...r, samples: r.samples ?? 0 }));
  }

  /** Every prompt, in order, as a file batch's output and error files report them. */
  outputRows(): OutputRow[] {
    type Raw = Omit<OutputRow, "detail" | "samples"> & { detail: string | null; samples: number | null };
    return this.sql
      .exec<Raw>("SELECT idx, id, state, best, reward, model, samples, delivered, error, detail, prompt_tokens, completion_tokens FROM item ORDER BY idx")
      .toArray()
      .map((r) => ({ ...r, samples: r.samples ?? 0, detail: r.detail ? (JSON.parse(r.detail) as ItemDetail) : null }));
  }

  /** Done prompts with a stored prediction and a reward: what the batch earned is estimated from them. */
  earnedRows(): { prediction: string; reward: number; delivered: number }[] {
    return this.sql.exec<{ prediction: string; reward: number; delivered: number }>("SELECT prediction, reward, delivered FROM item WHERE state = 'done' AND prediction IS NOT NULL AND reward IS NOT NULL").toArray();
  }

  // ---- audits (audit.ts)

  /** Picks prompts for audits, each with probability `rate` whatever it is (a random sample of the batch). */
  pickAudits(rate: number, random: () => number): void {
    if (rate <= 0) return;
    for (const idx of this.pendingIdx()) if (random() < rate) this.sql.exec("UPDATE item SET audit = 'picked' WHERE idx = ?", idx);
  }

  /** Picked prompts whose policy is done, their audit still to draw, up to `limit`. */
  toAudit(limit: number): AuditDue[] {
    return this.sql
      .exec<AuditDue>(
        "SELECT idx, prompt, request, model, samples, delivered, rounds, reward, p, prediction, drawn FROM item WHERE audit = 'picked' AND state = 'done' ORDER BY idx LIMIT ?",
        limit,
      )
      .toArray();
  }

  /** Picked prompts that failed (the LM refused them): nothing to audit. */
  dropFailedAudits(): void {
    this.sql.exec("UPDATE item SET audit = 'failed' WHERE audit = 'picked' AND state = 'failed'");
  }

  /** A prompt's audit drew `rewards` (beyond the policy's samples); or it failed, and is not retried (`rewards` null). */
  auditDrawn(idx: number, rewards: readonly number[] | null): void {
    this.sql.exec("UPDATE item SET audit = ?, audit_rewards = ? WHERE idx = ? AND audit = 'picked'", rewards ? "drawn" : "failed", rewards ? JSON.stringify(rewards) : null, idx);
  }

  /** Audits drawn but not yet known to be recorded in the tenant's ledger. */
  drawnAudits(): AuditRow[] {
    return this.auditRows("audit = 'drawn'");
  }

  auditsRecorded(idx: readonly number[]): void {
    for (const i of idx) this.sql.exec("UPDATE item SET audit = 'recorded' WHERE idx = ? AND audit = 'drawn'", i);
  }

  /** Every audit drawn, recorded or not: the batch's own audited figure. */
  audits(): AuditRow[] {
    return this.auditRows("audit IN ('drawn', 'recorded')");
  }

  /** Audits picked and not yet drawn (nor failed). */
  auditsDue(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE audit = 'picked'").one().n;
  }

  /** Audits drawn, recorded or not. */
  auditsDrawn(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE audit IN ('drawn', 'recorded')").one().n;
  }

  /** Prompts picked for an audit. */
  auditsPicked(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM item WHERE audit IS NOT NULL").one().n;
  }

  private auditRows(where: string): AuditRow[] {
    return this.sql.exec<AuditRow>(`SELECT idx, model, samples, delivered, reward, p, prediction, drawn, audit_rewards FROM item WHERE ${where} ORDER BY idx`).toArray();
  }

  /** Stops every prompt still open (the batch ended): what was delivered stays. */
  close(): void {
    this.sql.exec("UPDATE item SET planned = 0 WHERE state = 'pending'");
  }
}
