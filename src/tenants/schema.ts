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
];

/** Whether this object holds a tenant's ledger, of any schema version (a read). */
export const holdsLedger = (sql: SqlStorage): boolean => schemaVersion(sql) > 0 || tableExists(sql, "tenant");

export const migrate = (sql: SqlStorage): void => run(sql, MIGRATIONS);
