/**
 * The TenantLedger's SQLite schema as numbered migrations (storage/migrations.ts).
 * Nothing runs until a ledger is first written to: looking up an unknown API key must
 * create no storage.
 */
import { type Migration, addColumn, migrate as run, schemaVersion, tableExists } from "../storage/migrations.js";

const MIGRATIONS: readonly Migration[] = [
  // 1: the schema as it was before versioning (IF NOT EXISTS: objects made then already have it).
  (sql) =>
    sql.exec(`
      CREATE TABLE IF NOT EXISTS tenant (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL,
        max_batch_size INTEGER NOT NULL, max_concurrent_batches INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS budget (window TEXT PRIMARY KEY, units INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS usage (window TEXT PRIMARY KEY, start INTEGER NOT NULL, used INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS reservation (id TEXT PRIMARY KEY, units INTEGER NOT NULL, committed INTEGER NOT NULL,
        created_at INTEGER NOT NULL, ref TEXT);
      CREATE TABLE IF NOT EXISTS api_key (id TEXT PRIMARY KEY, hash BLOB NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
      CREATE TABLE IF NOT EXISTS online (k INTEGER PRIMARY KEY CHECK (k = 0), target REAL NOT NULL, min INTEGER NOT NULL,
        max INTEGER NOT NULL, state TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS active_batch (id TEXT PRIMARY KEY, started_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS charge (reservation TEXT NOT NULL, key TEXT NOT NULL, units INTEGER NOT NULL, PRIMARY KEY (reservation, key));`),
  // 2: leases. A reservation or a batch slot lives until its expiry unless renewed, so a
  // gateway that crashes, or a client that goes away, cannot hold a tenant's budget for
  // ever. Those left by the old schema get one lease (15 minutes) from now.
  (sql) => {
    addColumn(sql, "reservation", "expires_at", "INTEGER");
    addColumn(sql, "reservation", "owner", "TEXT");
    addColumn(sql, "active_batch", "expires_at", "INTEGER");
    const until = Date.now() + 900_000;
    sql.exec("UPDATE reservation SET expires_at = ? WHERE expires_at IS NULL", until);
    sql.exec("UPDATE active_batch SET expires_at = ? WHERE expires_at IS NULL", until);
  },
  // 3: waves: how many rounds an online request may sample in.
  (sql) => addColumn(sql, "online", "max_rounds", "INTEGER NOT NULL DEFAULT 4"),
  // 4: the operator's console: traffic rolled up per minute, hour and all time (rollups.ts),
  // and every batch the tenant submitted, newest first (batch-registry.ts).
  (sql) =>
    sql.exec(`
      CREATE TABLE rollup (res TEXT NOT NULL, t INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (res, t));
      CREATE TABLE batch_log (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, prompts INTEGER NOT NULL, mode TEXT NOT NULL,
        model TEXT, status TEXT NOT NULL, ended_at INTEGER, summary TEXT);
      CREATE INDEX batch_log_created ON batch_log (created_at DESC, id DESC);`),
  // 5: budget shards (budget-shard.ts): how many a tenant's online requests spread over, and
  // the last report applied from each (a report is applied once, whatever is retried).
  (sql) => {
    addColumn(sql, "online", "shards", "INTEGER NOT NULL DEFAULT 0");
    sql.exec("CREATE TABLE shard_report (shard INTEGER PRIMARY KEY, seq INTEGER NOT NULL, at INTEGER NOT NULL)");
  },
  // 6: budgets that hold. A reservation that ends (released, or its lease ran out) is kept
  // a day with when it ended, so a charge that arrives late is recorded, never lost; every
  // charge is "up to a total", which makes it idempotent without per-charge keys. Units may
  // be fractional (a prompt's prefill is a fraction of a sample).
  (sql) => {
    addColumn(sql, "reservation", "ended_at", "INTEGER");
    sql.exec("DROP TABLE IF EXISTS charge");
    sql.exec("CREATE INDEX reservation_live ON reservation (ended_at, expires_at)");
  },
  // 7: audits (docs/audits.md): the share of online requests audited, and per audited prompt
  // what the policy saw and did, and every sample's reward in draw order (audits.ts keeps the
  // last AUDIT_RETENTION).
  (sql) => {
    addColumn(sql, "online", "audit_rate", "REAL"); // null: the deployment's AUDIT_RATE
    sql.exec(`
      CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, model TEXT NOT NULL, predictor TEXT,
        predicted REAL, curve TEXT, rewards TEXT NOT NULL, samples INTEGER NOT NULL, units REAL NOT NULL, reward REAL NOT NULL,
        audit_units REAL NOT NULL);
      CREATE INDEX audit_at ON audit (at);`);
  },
  // 8: feedback from clients (feedback.ts): one row per response id, the latest replacing
  // the earlier (seq grows with each, so the oldest go first past FEEDBACK_RETENTION); and
  // each audited prompt's hidden state (float32 bytes) and its form, so audits can be
  // exported as a dataset `allot train` reads (audits.ts).
  (sql) => {
    sql.exec(`
      CREATE TABLE feedback (seq INTEGER PRIMARY KEY AUTOINCREMENT, response_id TEXT NOT NULL UNIQUE, reward REAL NOT NULL,
        comment TEXT, at INTEGER NOT NULL);`);
    addColumn(sql, "audit", "hidden", "BLOB");
    addColumn(sql, "audit", "form", "TEXT");
  },
  // 9: calibration that learns (refits.ts, docs/audits.md): per predictor, the refits of its
  // temperature and prior strength on the tenant's audits, the latest applied and a bounded
  // history kept; and whether the tenant serves them (null: "audited", the default).
  (sql) => {
    addColumn(sql, "online", "calibration", "TEXT");
    sql.exec(`
      CREATE TABLE refit (id INTEGER PRIMARY KEY AUTOINCREMENT, predictor TEXT NOT NULL, at INTEGER NOT NULL, audits INTEGER NOT NULL,
        last_audit INTEGER NOT NULL, temperature REAL NOT NULL, strength REAL NOT NULL, ece_before REAL NOT NULL, ece_after REAL NOT NULL);
      CREATE INDEX refit_predictor ON refit (predictor, id);
      CREATE INDEX audit_predictor ON audit (predictor, id);`);
  },
  // 10: feedback linked to audits (docs/audits.md#feedback): an audited prompt keeps the id
  // of the response its answer went out in, so a client's feedback on that response is
  // joined to the audit (the verifier's reward of the same answer, and the prompt's pass rate).
  (sql) => {
    addColumn(sql, "audit", "response_id", "TEXT");
    sql.exec("CREATE INDEX audit_response ON audit (response_id) WHERE response_id IS NOT NULL");
  },
  // 11: audits of batches (batches/audit.ts): each audit's source (null: online; else the
  // batch's id) and, for a batch's, a key of its own (batch id and prompt) that a repeated
  // recording (a batch resumed after an eviction) cannot insert twice. Idempotent, so it
  // holds whatever ran as 10.
  (sql) => {
    addColumn(sql, "audit", "source", "TEXT");
    addColumn(sql, "audit", "ref", "TEXT");
    sql.exec("CREATE UNIQUE INDEX IF NOT EXISTS audit_ref ON audit (ref)");
  },
];

/** Whether this object holds a tenant's ledger, of any schema version (a read). */
export const holdsLedger = (sql: SqlStorage): boolean => schemaVersion(sql) > 0 || tableExists(sql, "tenant");

export const migrate = (sql: SqlStorage): void => run(sql, MIGRATIONS);
