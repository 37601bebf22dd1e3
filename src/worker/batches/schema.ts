/** BatchRun's SQLite schema as numbered migrations (storage/migrations.ts). */
import { type Migration, addColumn, migrate as run, tableExists } from "../storage/migrations.js";

const MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(`
      CREATE TABLE IF NOT EXISTS batch (k INTEGER PRIMARY KEY CHECK (k = 0), id TEXT NOT NULL, tenant TEXT NOT NULL,
        spec TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, predictor TEXT, reservation TEXT,
        budget_units INTEGER NOT NULL, allocated INTEGER NOT NULL DEFAULT 0, error_type TEXT, error_message TEXT);
      CREATE TABLE IF NOT EXISTS item (idx INTEGER PRIMARY KEY, id TEXT NOT NULL, prompt TEXT NOT NULL, p REAL,
        units INTEGER, state TEXT NOT NULL DEFAULT 'pending', best TEXT, reward REAL, charged INTEGER NOT NULL DEFAULT 0);`),
  // Routing: the model that answers a prompt and its samples.
  (sql) => {
    addColumn(sql, "item", "model", "TEXT");
    addColumn(sql, "item", "samples", "INTEGER");
  },
  // Outages and settlement: a prompt's attempts, when it may be tried again and why it
  // failed; the batch's step attempts, deadline, whether its ending was settled with the
  // ledger, and when it finished (for retention).
  (sql) => {
    addColumn(sql, "item", "attempts", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "item", "not_before", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "item", "error", "TEXT");
    addColumn(sql, "batch", "step_attempts", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "batch", "deadline", "INTEGER");
    addColumn(sql, "batch", "settled", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "batch", "finished_at", "INTEGER");
  },
  // Waves: per prompt, rounds sampled, samples planned for the current round, and units
  // charged so far (charged in steps, as rounds are drawn).
  (sql) => {
    addColumn(sql, "item", "rounds", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "item", "planned", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "item", "charged_units", "INTEGER NOT NULL DEFAULT 0");
    // The prior's strength, kept with the batch: a predictor updated or removed mid-batch does not change its rounds.
    addColumn(sql, "batch", "prior_strength", "REAL");
  },
  // Real-valued waves: each prompt's predicted one-sample reward distribution (JSON atoms,
  // pandora.ts), fixed at prediction time, and the rewards its samples got so far (JSON).
  // Routed waves (a cascade): the router's p per model and failures per model (JSON), the
  // model planned for the current round, and the router's menu (models and costs) kept with
  // the batch, so a router updated mid-batch does not change its rounds.
  (sql) => {
    addColumn(sql, "item", "atoms", "TEXT");
    addColumn(sql, "item", "seen", "TEXT");
    addColumn(sql, "item", "route_p", "TEXT");
    addColumn(sql, "item", "arm_failures", "TEXT");
    addColumn(sql, "item", "arm", "INTEGER");
    addColumn(sql, "batch", "route_options", "TEXT");
  },
  // Scale: the prompts live only in their rows (the batch row keeps their count), and each
  // prompt's prediction (JSON) is kept as its page is predicted, one page per alarm.
  (sql) => {
    addColumn(sql, "batch", "prompts", "INTEGER");
    addColumn(sql, "item", "prediction", "TEXT");
    // Sharded sampling: how many shards draw.
    addColumn(sql, "batch", "shards", "INTEGER");
  },
  // Budgets that hold: the units each prompt has delivered (what the batch is charged, up to
  // a total in one ledger call per step rather than one per prompt), and what each
  // predicted prompt's prefill costs (PREFILL_UNITS when the batch was submitted).
  (sql) => {
    addColumn(sql, "item", "delivered", "REAL NOT NULL DEFAULT 0");
    addColumn(sql, "batch", "prefill", "REAL NOT NULL DEFAULT 0");
    sql.exec("UPDATE item SET delivered = CASE WHEN charged = 1 THEN COALESCE(units, 0) ELSE COALESCE(charged_units, 0) END");
  },
  // A batch made from a file of OpenAI requests (POST /v1/batches with input_file_id): each
  // prompt's own request (its input, chat messages or a prompt, and its sampling, JSON),
  // what its kept sample was beyond its text (finish reason, tool calls, reasoning: JSON),
  // and the tokens of every sample it drew, for the batch's output file.
  (sql) => {
    addColumn(sql, "item", "request", "TEXT");
    addColumn(sql, "item", "detail", "TEXT");
    addColumn(sql, "item", "prompt_tokens", "INTEGER NOT NULL DEFAULT 0");
    addColumn(sql, "item", "completion_tokens", "INTEGER NOT NULL DEFAULT 0");
  },
  // Audits (batches/audit.ts, docs/audits.md): per prompt, whether it was picked for an
  // audit and how far its audit got (picked, drawn, recorded, failed), the rewards of the
  // policy's samples in draw order, and the audit's own; per batch, the rate it was picked at.
  (sql) => {
    addColumn(sql, "item", "audit", "TEXT");
    addColumn(sql, "item", "drawn", "TEXT");
    addColumn(sql, "item", "audit_rewards", "TEXT");
    addColumn(sql, "batch", "audit_rate", "REAL NOT NULL DEFAULT 0");
  },
  // Thinking budgets: each prompt's own expected units per sample at each level (JSON), the
  // cost of its arms in rounds, so a prompt predicted to think long is planned at what it
  // will cost, not at the batch's mean.
  (sql) => {
    addColumn(sql, "item", "arm_costs", "TEXT");
  },
];

/** Whether this object holds a batch (a read: it creates nothing). */
export const hasBatch = (sql: SqlStorage): boolean => tableExists(sql, "batch");

export const migrate = (sql: SqlStorage): void => run(sql, MIGRATIONS);
