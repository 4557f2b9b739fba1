/**
 * refreshTable: brings a table's materialized state from its watermark up to
 * the newest committed version, one transaction per step of at most
 * `batchMaxVersions` versions. Each step takes the table's advisory lock and
 * re-reads the watermark under it, so concurrent or duplicate refreshes
 * serialize and the later one finds the work done: applying a version twice
 * is impossible. A table without state is built from its log start (the one
 * refresh whose cost grows with the table); after that a step costs what its
 * versions changed.
 */
import { inTransaction, type Pool, type PoolClient } from '../db/index.ts';
import { BadRequestError, NotFoundError } from '../errors/index.ts';
import { applyVersions } from './apply-versions.ts';
import { lockTableState } from '../contracts/index.ts';
import { resolveTable, type TableRef } from './table-ref.ts';
import { pipelineDefaults } from '../config/index.ts';

export interface RefreshOptions {
  /** Versions per transaction. Default 500 (the refresher passes DELTAMETA_REFRESH_BATCH_MAX_VERSIONS). */
  readonly batchMaxVersions?: number;
  /** Stop at this version instead of the newest. Default: the newest committed version when the call starts. */
  readonly upToVersion?: number;
}

export interface RefreshResult {
  /** the first version this call applied (watermark + 1 when it started) */
  readonly fromVersion: number;
  /** the watermark when the call ended; fromVersion - 1 when there was nothing to do */
  readonly toVersion: number;
  readonly versionsApplied: number;
  /** transactions that applied versions */
  readonly batches: number;
  /** delta_commit.timestamp_ms of the newest version applied; null when nothing was applied */
  readonly newestTimestampMs: number | null;
  /** file actions (adds and removes) read from the log tables: the cost of the call */
  readonly actionsRead: number;
  /** file_index rows inserted, and live rows closed (removed or replaced) */
  readonly rowsInserted: number;
  readonly rowsClosed: number;
}

interface Watermark {
  /** the version the state reflects; log_start_version - 1 without state */
  readonly mvVersion: number;
  readonly hasState: boolean;
  readonly hasLiveRows: boolean;
  readonly headVersion: number;
}

/** serves: table_state primary key; delta_commit primary key (max version per table: one backward probe) */
const watermarkSql = `
  SELECT t.log_start_version, s.mv_version, s.num_files,
         (SELECT max(c.version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head
    FROM deltameta.delta_table t LEFT JOIN deltameta.table_state s ON s.table_id = t.table_id
   WHERE t.table_id = $1`;

/** Read under the table's lock: what a previous holder of the lock committed is visible (READ COMMITTED, a new statement). */
export async function readWatermark(client: PoolClient, tableId: number): Promise<Watermark> {
  const { rows } = await client.query<{ log_start_version: number; mv_version: number | null; num_files: number | null; head: number | null }>(
    watermarkSql,
    [tableId],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`table id ${tableId} does not exist`);
  return {
    mvVersion: row.mv_version ?? row.log_start_version - 1,
    hasState: row.mv_version !== null,
    hasLiveRows: (row.num_files ?? 0) > 0,
    headVersion: row.head ?? -1,
  };
}

function checkOptions(options: RefreshOptions): { batchMaxVersions: number; upToVersion: number | undefined } {
  const batchMaxVersions = options.batchMaxVersions ?? pipelineDefaults.refreshBatchMaxVersions;
  if (!Number.isSafeInteger(batchMaxVersions) || batchMaxVersions < 1) {
    throw new BadRequestError(`batchMaxVersions must be a positive integer, got ${batchMaxVersions}`);
  }
  if (options.upToVersion !== undefined && (!Number.isSafeInteger(options.upToVersion) || options.upToVersion < 0)) {
    throw new BadRequestError(`upToVersion must be a non-negative integer, got ${options.upToVersion}`);
  }
  return { batchMaxVersions, upToVersion: options.upToVersion };
}

export async function refreshTable(pool: Pool, table: TableRef, options: RefreshOptions = {}): Promise<RefreshResult> {
  const { batchMaxVersions, upToVersion } = checkOptions(options);
  const { tableId } = await resolveTable(pool, table);
  // Fixed by the first step: commits that arrive while this call runs are the next call's (a hot table would otherwise never let it end).
  let target = upToVersion;
  let fromVersion: number | undefined;
  let toVersion: number;
  let versionsApplied = 0;
  let batches = 0;
  let newestTimestampMs: number | null = null;
  let actionsRead = 0;
  let rowsInserted = 0;
  let rowsClosed = 0;
  for (;;) {
    const step = await inTransaction(pool, async (client) => {
      await lockTableState(client, tableId);
      const watermark = await readWatermark(client, tableId);
      target ??= watermark.headVersion;
      const end = Math.min(target, watermark.headVersion, watermark.mvVersion + batchMaxVersions);
      if (end <= watermark.mvVersion) return { watermark: watermark.mvVersion, applied: undefined, done: true };
      const applied = await applyVersions(client, {
        tableId, fromVersion: watermark.mvVersion + 1, toVersion: end, createsState: !watermark.hasState, hasLiveRows: watermark.hasLiveRows,
      });
      // Caught up: no need for one more transaction just to find nothing to do.
      return { watermark: watermark.mvVersion, applied, done: end >= Math.min(target, watermark.headVersion) };
    });
    fromVersion ??= step.watermark + 1;
    if (!step.applied) {
      toVersion = step.watermark;
      break;
    }
    versionsApplied += step.applied.toVersion - step.watermark;
    batches++;
    toVersion = step.applied.toVersion;
    newestTimestampMs = step.applied.timestampMs;
    actionsRead += step.applied.actionsRead;
    rowsInserted += step.applied.rowsInserted;
    rowsClosed += step.applied.rowsClosed;
    if (step.done) break;
  }
  return { fromVersion: fromVersion ?? toVersion + 1, toVersion, versionsApplied, batches, newestTimestampMs, actionsRead, rowsInserted, rowsClosed };
}
