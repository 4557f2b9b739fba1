/**
 * The file_index answer for a version: the live add actions as snapshot
 * lines (byte for byte what snapshotLines and `replay` print), sorted by
 * path then deletion-vector id in code point order, streamed.
 */
import { cursorBatches, type Pool, type PoolClient } from '../db/index.ts';
import { NotMaterializedError } from './errors.ts';
import { resolveTable, type TableRef } from './table-ref.ts';

export interface MaterializedRange {
  /** the oldest version file_index answers (file_index_min_version) */
  readonly minVersion: number;
  /** the watermark */
  readonly mvVersion: number;
}

/** serves: table_state primary key */
const materializedRangeSql = 'SELECT file_index_min_version, mv_version FROM deltameta.table_state WHERE table_id = $1';

export async function materializedRange(db: Pool | PoolClient, tableId: number): Promise<MaterializedRange | undefined> {
  const { rows } = await db.query<{ file_index_min_version: number; mv_version: number }>(materializedRangeSql, [tableId]);
  const row = rows[0];
  return row ? { minVersion: row.file_index_min_version, mvVersion: row.mv_version } : undefined;
}

/**
 * At the watermark only live rows can match (nothing is removed after it):
 * serves: file_index_live (table_id, path, dv_id) WHERE removed_version IS
 * NULL, an ordered scan with no sort.
 */
const latestSql = `
  SELECT add_line FROM deltameta.file_index
   WHERE table_id = $1 AND removed_version IS NULL
   ORDER BY path, dv_id`;

/**
 * Time travel: the live rows added by v, and the removed rows live at v (no
 * key is in both: a live row's interval starts after its predecessors'
 * end). serves: file_index_live (an ordered scan, added_version checked on
 * the row) and file_index_removed / file_index_expiry for the removed half,
 * merged in path order (Merge Append). The ORDER BY inside each branch is
 * what lets the planner merge: a UNION ALL leaf over a partitioned table is
 * not pulled up, so without it each branch is planned unordered and the
 * whole answer sorted.
 */
const asOfSql = `
  SELECT add_line FROM (
    (SELECT path, dv_id, add_line FROM deltameta.file_index
      WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $2
      ORDER BY path, dv_id)
    UNION ALL
    (SELECT path, dv_id, add_line FROM deltameta.file_index
      WHERE table_id = $1 AND removed_version IS NOT NULL AND removed_version > $2 AND added_version <= $2
      ORDER BY path, dv_id)
  ) snapshot
  ORDER BY path, dv_id`;

/** Lines per FETCH: ~3 MB. */
const fetchRows = 5000;

/**
 * `version` defaults to the watermark. The range check and the rows come
 * from one REPEATABLE READ snapshot: retention deleting rows and moving
 * file_index_min_version commits both or neither for this reader. A cursor
 * (planned for a fast start, as streaming wants) is read a batch at a time;
 * a consumer that stops early closes it and ends the transaction. Throws
 * NotMaterializedError (on the first iteration) when file_index cannot
 * answer the version.
 */
export async function* liveFileLines(pool: Pool, table: TableRef, version?: number): AsyncGenerator<string> {
  const target = await resolveTable(pool, table);
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const range = await materializedRange(client, target.tableId);
    const at = version ?? range?.mvVersion;
    if (!range || at === undefined || at < range.minVersion || at > range.mvVersion) throw new NotMaterializedError(target.name, at, range);
    const [sql, params] = at === range.mvVersion ? [latestSql, [target.tableId]] : [asOfSql, [target.tableId, at]];
    for await (const rows of cursorBatches<{ add_line: string }>(client, sql, params, { batchRows: fetchRows, name: 'file_lines' })) {
      for (const row of rows) yield row.add_line;
    }
  } finally {
    // Also when the consumer stopped early or an error came up: the connection goes back clean, or not at all.
    const reusable = await client.query('ROLLBACK').then(() => true, () => false);
    client.release(reusable ? undefined : true);
  }
}
