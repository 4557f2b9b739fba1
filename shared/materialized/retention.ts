/**
 * applyRetention: file_index keeps removed rows so that time travel is a
 * range query; past the retention they go. Rows removed at or before R —
 * the newest version committed before now − retention — are invisible at
 * every version >= R, so deleting them leaves every answer from R on
 * intact: file_index_min_version moves to R (never past the watermark).
 * Versions older than file_index_min_version are answered from the log
 * tables (snapshotLines), which keep them down to log_start_version;
 * liveFileLines refuses them with NotMaterializedError. File pages replaced
 * at or before R go too (file_page_state.min_version moves to R).
 */
import { inTransaction, type Pool } from '../db/index.ts';
import { BadRequestError } from '../errors/index.ts';
import { lockFilePages, lockTableState } from '../contracts/index.ts';

export interface RetentionOptions {
  /** Removed rows of versions committed longer ago than this leave file_index (the refresher passes DELTAMETA_FILE_INDEX_RETENTION_MS). */
  readonly retentionMs: number;
  /** Default Date.now(). */
  readonly nowMs?: number;
}

export interface TableRetention {
  readonly tableId: number;
  readonly name: string;
  readonly fileIndexMinVersion: number;
  readonly rowsDeleted: number;
}

/** serves: table_state primary key; delta_commit_timestamp (table_id, timestamp_ms): one backward probe per table */
const candidatesSql = `
  SELECT s.table_id, t.name FROM deltameta.table_state s JOIN deltameta.delta_table t ON t.table_id = s.table_id
   WHERE s.file_index_min_version < s.mv_version
     AND EXISTS (SELECT 1 FROM deltameta.delta_commit c
                  WHERE c.table_id = s.table_id AND c.timestamp_ms < $1 AND c.version > s.file_index_min_version)
   ORDER BY s.table_id`;

/** Under the lock. Timestamps increase with versions, so the newest timestamp before the cutoff is the newest version. */
const newMinimumSql = `
  SELECT s.mv_version, s.file_index_min_version,
         (SELECT c.version FROM deltameta.delta_commit c
           WHERE c.table_id = s.table_id AND c.timestamp_ms < $2 ORDER BY c.timestamp_ms DESC LIMIT 1) AS expired
    FROM deltameta.table_state s WHERE s.table_id = $1`;

/** serves: file_index_removed (table_id, removed_version) WHERE removed_version IS NOT NULL */
const deleteExpiredSql = `
  DELETE FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NOT NULL AND removed_version <= $2`;

export async function applyRetention(pool: Pool, options: RetentionOptions): Promise<TableRetention[]> {
  if (!Number.isFinite(options.retentionMs) || options.retentionMs < 0) {
    throw new BadRequestError(`retentionMs must be a non-negative number, got ${options.retentionMs}`);
  }
  const cutoffMs = (options.nowMs ?? Date.now()) - options.retentionMs;
  const { rows: candidates } = await pool.query<{ table_id: number; name: string }>(candidatesSql, [cutoffMs]);
  const changed: TableRetention[] = [];
  // One transaction per table: the minimum moves and the rows go together,
  // and one big table does not hold the others' locks.
  for (const { table_id: tableId, name } of candidates) {
    const outcome = await inTransaction(pool, async (client) => {
      await lockTableState(client, tableId);
      await lockFilePages(client, tableId);
      const { rows } = await client.query<{ mv_version: number; file_index_min_version: number; expired: number | null }>(newMinimumSql, [tableId, cutoffMs]);
      const state = rows[0];
      if (!state || state.expired === null) return undefined;
      const minimum = Math.min(state.expired, state.mv_version);
      if (minimum <= state.file_index_min_version) return undefined;
      const deleted = await client.query(deleteExpiredSql, [tableId, minimum]);
      // serves: table_state primary key
      await client.query('UPDATE deltameta.table_state SET file_index_min_version = $2 WHERE table_id = $1', [tableId, minimum]);
      // Pages replaced at or before the minimum are invisible from it on, like the rows. serves: file_page_expiry
      await client.query('DELETE FROM deltameta.file_page WHERE table_id = $1 AND valid_to <= $2', [tableId, minimum]);
      // serves: file_page_state primary key
      await client.query('UPDATE deltameta.file_page_state SET min_version = greatest(min_version, $2) WHERE table_id = $1', [tableId, minimum]);
      return { tableId, name, fileIndexMinVersion: minimum, rowsDeleted: deleted.rowCount ?? 0 };
    });
    if (outcome) changed.push(outcome);
  }
  return changed;
}
