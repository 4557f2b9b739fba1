/** Looking up tables and their versions in the log tables. */
import type { Pool, PoolClient } from '../db/index.ts';
import { versionAtTimestamp, type ProtocolAction } from '../delta/index.ts';
import { BadRequestError, NotFoundError, VersionGoneError } from '../errors/index.ts';

type Queryable = Pool | PoolClient;

export interface TableRow {
  readonly tableId: number;
  readonly name: string;
  /**
   * followed: its _delta_log at `location` is the authority (commits refused);
   * owned: PostgreSQL is (sql/000011_table_kinds.sql)
   */
  readonly kind: TableKind;
  /** followed: the table folder followed; owned: where it was imported from or is published to, if anywhere */
  readonly location: string | null;
  /** owned with a row in table_publication: services/publisher writes its versions to `location` */
  readonly published: boolean;
  readonly logStartVersion: number;
  /** newest committed version, -1 when the table row exists without commits (never visible outside a transaction) */
  readonly headVersion: number;
}

export const tableKinds = ['owned', 'followed'] as const;
export type TableKind = (typeof tableKinds)[number];

const tableNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function checkTableName(name: string): void {
  if (!tableNamePattern.test(name)) {
    throw new BadRequestError(`table name ${JSON.stringify(name)} is not valid: letters, digits, '_', '.', '-', at most 200, not starting with '.' or '-'`);
  }
}

export async function findTable(db: Queryable, name: string, options: { forUpdate?: boolean } = {}): Promise<TableRow | undefined> {
  // delta_commit's primary key serves max(version) per table as one index probe.
  const { rows } = await db.query<{ table_id: number; name: string; kind: TableKind; location: string | null; published: boolean; log_start_version: number; head: number | null }>(
    `SELECT t.table_id, t.name, t.kind, t.location, t.log_start_version,
            EXISTS (SELECT FROM deltameta.table_publication p WHERE p.table_id = t.table_id) AS published,
            (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head
       FROM deltameta.delta_table t WHERE t.name = $1 ${options.forUpdate ? 'FOR UPDATE OF t' : ''}`,
    [name],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { tableId: row.table_id, name: row.name, kind: row.kind, location: row.location, published: row.published, logStartVersion: row.log_start_version, headVersion: row.head ?? -1 };
}

export async function requireTable(db: Queryable, name: string): Promise<TableRow> {
  checkTableName(name);
  const table = await findTable(db, name);
  if (!table) throw new NotFoundError(`table ${JSON.stringify(name)} does not exist`);
  return table;
}

// serves: delta_metadata and delta_protocol primary keys (latest at or before a version)
const latestConfigurationSql = `
  SELECT (SELECT configuration FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS configuration,
         (SELECT action FROM deltameta.delta_protocol WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS protocol`;

// serves: delta_commit_timestamp (table_id, timestamp_ms). Within one range (file times, or in-commit timestamps) times
// increase with versions, so the newest time at or before T is the newest version. A version imported from a checkpoint
// without its commit file has no in-commit timestamp (Spark times ICT versions by their commit files only).
const newestAtOrBeforeSql = `
  SELECT version, timestamp_ms FROM deltameta.delta_commit
   WHERE table_id = $1 AND version BETWEEN $2 AND $3 AND timestamp_ms <= $4
     AND ($5::boolean IS FALSE OR NOT (is_checkpoint AND commit_info IS NULL))
   ORDER BY timestamp_ms DESC, version DESC LIMIT 1`;

// serves: delta_commit primary key (table_id, version)
const oldestInRangeSql = `
  SELECT version, timestamp_ms FROM deltameta.delta_commit
   WHERE table_id = $1 AND version BETWEEN $2 AND $3
     AND ($4::boolean IS FALSE OR NOT (is_checkpoint AND commit_info IS NULL))
   ORDER BY version LIMIT 1`;

type TimedRow = { version: number; timestamp_ms: number };

/**
 * Resolves `--version` / `--timestamp` against the log tables: the version
 * exists and is retained. A timestamp follows Spark's rule (shared/delta
 * versionAtTimestamp) over `delta_commit.timestamp_ms`, which holds a
 * version's in-commit timestamp where the table enables them and its file
 * or commit time before that.
 */
export async function resolveVersion(
  db: Queryable,
  table: TableRow,
  options: { version?: number; timestampMs?: number },
): Promise<number> {
  let version = options.version ?? table.headVersion;
  if (options.timestampMs !== undefined) {
    const { rows } = await db.query<{ configuration: Record<string, unknown> | null; protocol: string | null }>(latestConfigurationSql, [table.tableId, table.headVersion]);
    const timed = (row: TimedRow | undefined): { version: number; timestampMs: number } | undefined =>
      row ? { version: row.version, timestampMs: row.timestamp_ms } : undefined;
    version = await versionAtTimestamp(
      {
        where: table.name,
        earliestVersion: table.logStartVersion,
        latestVersion: table.headVersion,
        configuration: rows[0]?.configuration ?? undefined,
        protocol: rows[0]?.protocol ? (JSON.parse(rows[0].protocol) as ProtocolAction) : undefined,
        newestAtOrBefore: async (from, to, timestampMs, timedBy) =>
          timed((await db.query<TimedRow>(newestAtOrBeforeSql, [table.tableId, from, to, timestampMs, timedBy === 'inCommitTimestamp'])).rows[0]),
        oldest: async (from, to, timedBy) =>
          timed((await db.query<TimedRow>(oldestInRangeSql, [table.tableId, from, to, timedBy === 'inCommitTimestamp'])).rows[0]),
      },
      options.timestampMs,
    );
  }
  if (!Number.isInteger(version) || version < 0) throw new BadRequestError(`version must be a non-negative integer, got ${version}`);
  if (version > table.headVersion) throw new NotFoundError(`${table.name}: version ${version} does not exist (latest is ${table.headVersion})`);
  if (version < table.logStartVersion) throw new VersionGoneError(table.name, version, table.logStartVersion);
  return version;
}
