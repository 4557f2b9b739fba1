/** Looking up tables and their versions in the log tables. */
import type { Pool, PoolClient } from '../db/index.ts';
import { BadRequestError, NotFoundError, VersionGoneError } from '../errors/index.ts';

type Queryable = Pool | PoolClient;

export interface TableRow {
  readonly tableId: number;
  readonly name: string;
  readonly location: string | null;
  readonly logStartVersion: number;
  /** newest committed version, -1 when the table row exists without commits (never visible outside a transaction) */
  readonly headVersion: number;
}

const tableNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function checkTableName(name: string): void {
  if (!tableNamePattern.test(name)) {
    throw new BadRequestError(`table name ${JSON.stringify(name)} is not valid: letters, digits, '_', '.', '-', at most 200, not starting with '.' or '-'`);
  }
}

export async function findTable(db: Queryable, name: string, options: { forUpdate?: boolean } = {}): Promise<TableRow | undefined> {
  // delta_commit's primary key serves max(version) per table as one index probe.
  const { rows } = await db.query<{ table_id: number; name: string; location: string | null; log_start_version: number; head: number | null }>(
    `SELECT t.table_id, t.name, t.location, t.log_start_version,
            (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head
       FROM deltameta.delta_table t WHERE t.name = $1 ${options.forUpdate ? 'FOR UPDATE OF t' : ''}`,
    [name],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { tableId: row.table_id, name: row.name, location: row.location, logStartVersion: row.log_start_version, headVersion: row.head ?? -1 };
}

export async function requireTable(db: Queryable, name: string): Promise<TableRow> {
  checkTableName(name);
  const table = await findTable(db, name);
  if (!table) throw new NotFoundError(`table ${JSON.stringify(name)} does not exist`);
  return table;
}

/** Resolves `--version` / `--timestamp` against the log tables: the version exists and is retained. */
export async function resolveVersion(
  db: Queryable,
  table: TableRow,
  options: { version?: number; timestampMs?: number },
): Promise<number> {
  let version = options.version ?? table.headVersion;
  if (options.timestampMs !== undefined) {
    // serves: delta_commit_timestamp (table_id, timestamp_ms)
    const { rows } = await db.query<{ version: number }>(
      `SELECT version FROM deltameta.delta_commit WHERE table_id = $1 AND timestamp_ms <= $2 ORDER BY timestamp_ms DESC LIMIT 1`,
      [table.tableId, options.timestampMs],
    );
    const found = rows[0]?.version;
    if (found === undefined) throw new NotFoundError(`${table.name}: no version at or before ${new Date(options.timestampMs).toISOString()}`);
    version = found;
  }
  if (!Number.isInteger(version) || version < 0) throw new BadRequestError(`version must be a non-negative integer, got ${version}`);
  if (version > table.headVersion) throw new NotFoundError(`${table.name}: version ${version} does not exist (latest is ${table.headVersion})`);
  if (version < table.logStartVersion) throw new VersionGoneError(table.name, version, table.logStartVersion);
  return version;
}
