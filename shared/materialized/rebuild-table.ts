/**
 * rebuildTable: recovery. Drops one table's materialized state and builds it
 * again from the log tables (log_start_version to the newest version), in
 * one transaction under the table's lock: readers see the old state or the
 * new one, never a half-built one. Rows that retention had dropped come
 * back (file_index_min_version returns to log_start_version). The file
 * pages go with the old state; refreshFilePages builds them again.
 */
import { inTransaction, type Pool } from '../db/index.ts';
import { applyVersions } from './apply-versions.ts';
import { readWatermark } from './refresh-table.ts';
import { lockFilePages, lockTableState } from '../contracts/index.ts';
import { resolveTable, type TableRef } from './table-ref.ts';

export interface RebuildResult {
  /** the watermark after the rebuild; log_start_version - 1 for a table without versions */
  readonly mvVersion: number;
  readonly rowsDeleted: number;
  readonly rowsInserted: number;
  readonly actionsRead: number;
}

export async function rebuildTable(pool: Pool, table: TableRef): Promise<RebuildResult> {
  const { tableId, logStartVersion } = await resolveTable(pool, table);
  return inTransaction(pool, async (client) => {
    await lockTableState(client, tableId);
    await lockFilePages(client, tableId);
    // The table's part of file_index (hash partition pruning), through its indexes or a scan, as the planner sees fit.
    const deleted = await client.query('DELETE FROM deltameta.file_index WHERE table_id = $1', [tableId]);
    await client.query('DELETE FROM deltameta.partition_summary WHERE table_id = $1', [tableId]);
    await client.query('DELETE FROM deltameta.table_state WHERE table_id = $1', [tableId]);
    // Built again by the next refreshFilePages, from the new state.
    await client.query('DELETE FROM deltameta.file_page WHERE table_id = $1', [tableId]);
    await client.query('DELETE FROM deltameta.file_page_state WHERE table_id = $1', [tableId]);
    // The Arrow segments are of the pages: built again after them.
    await client.query('DELETE FROM deltameta.file_arrow_segment WHERE table_id = $1', [tableId]);
    await client.query('DELETE FROM deltameta.file_arrow_segment_state WHERE table_id = $1', [tableId]);
    const { headVersion } = await readWatermark(client, tableId);
    const rowsDeleted = deleted.rowCount ?? 0;
    if (headVersion < logStartVersion) return { mvVersion: logStartVersion - 1, rowsDeleted, rowsInserted: 0, actionsRead: 0 };
    const applied = await applyVersions(client, {
      tableId, fromVersion: logStartVersion, toVersion: headVersion, createsState: true, hasLiveRows: false,
    });
    return { mvVersion: applied.toVersion, rowsDeleted, rowsInserted: applied.rowsInserted, actionsRead: applied.actionsRead };
  });
}
