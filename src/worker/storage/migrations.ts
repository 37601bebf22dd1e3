/**
 * Versioned schema migrations for a Durable Object's SQLite storage. The version lives in
 * a one-row table `_schema` (workerd refuses PRAGMA user_version: SQLITE_AUTH). Reading
 * the version of an object that was never written creates nothing.
 */
export type Migration = (sql: SqlStorage) => void;

export function tableExists(sql: SqlStorage, name: string): boolean {
  return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", name).one().n > 0;
}

/** The version the storage is at (0: never migrated). A read. */
export function schemaVersion(sql: SqlStorage): number {
  if (!tableExists(sql, "_schema")) return 0;
  return sql.exec<{ version: number }>("SELECT version FROM _schema").one().version;
}

/** Applies the migrations the storage has not had yet, in order, recording each. */
export function migrate(sql: SqlStorage, migrations: readonly Migration[]): void {
  let v = schemaVersion(sql);
  if (v >= migrations.length) return;
  sql.exec("CREATE TABLE IF NOT EXISTS _schema (k INTEGER PRIMARY KEY CHECK (k = 0), version INTEGER NOT NULL)");
  for (; v < migrations.length; v++) {
    migrations[v](sql);
    sql.exec("INSERT INTO _schema VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET version = excluded.version", v + 1);
  }
}

/** Adds a column unless it is there (objects made before versioning may have it already). */
export function addColumn(sql: SqlStorage, table: string, column: string, type: string): void {
  const has = sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`).toArray().some((c) => c.name === column);
  if (!has) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
}
