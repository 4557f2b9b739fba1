/**
 * One refresh step: versions fromVersion..toVersion of one table applied to
 * its materialized state, inside the caller's transaction (which holds the
 * table's lock). Reads only those versions' actions, by the log tables'
 * primary keys, in key order through a cursor, so that a step of a million
 * actions (a build from a checkpoint) runs in bounded memory. Writes with a
 * few set-based statements per chunk of keys, never one per file: one
 * UPDATE … FROM unnest closes the live rows the step removes or replaces,
 * one COPY inserts the new rows; then the count deltas go to table_state and
 * partition_summary.
 */
import { cursorBatches, type PoolClient } from '../db/index.ts';
import { InternalError } from '../errors/index.ts';
import { copyFileIndexRows, copyLine } from './copy.ts';
import { fileIndexRow, partitionKeyOf } from './file-row.ts';
import { reconcileKey, type KeyAction } from './intervals.ts';

export interface VersionRange {
  readonly tableId: number;
  readonly fromVersion: number;
  readonly toVersion: number;
  /** table_state holds no row yet: this step creates it (fromVersion is log_start_version) */
  readonly createsState: boolean;
  /**
   * Whether a live row can exist before the step. False for a build (no
   * state, or a rebuild that just cleared it): then no key needs looking
   * up, and a checkpoint's million adds cost no index probe each.
   */
  readonly hasLiveRows: boolean;
}

export interface AppliedVersions {
  readonly toVersion: number;
  readonly timestampMs: number;
  readonly actionsRead: number;
  readonly rowsInserted: number;
  readonly rowsClosed: number;
}

/** Rows fetched from the cursor at a time, and rows written at a time: ~10-20 MB each for big builds. */
const fetchRows = 10_000;
const flushRows = 20_000;

/**
 * serves: delta_add / delta_remove primary keys (table_id, version, ordinal):
 * only the step's versions are read. The sort groups each key's actions in
 * (version, ordinal) order; path and dv_id are COLLATE "C" (code point
 * order, the order of snapshot lines).
 */
const stepActionsSql = `
  SELECT path, dv_id, version, ordinal, action FROM (
    SELECT path, dv_id, version, ordinal, action
      FROM deltameta.delta_add WHERE table_id = $1 AND version BETWEEN $2 AND $3
    UNION ALL
    SELECT path, dv_id, version, ordinal, NULL
      FROM deltameta.delta_remove WHERE table_id = $1 AND version BETWEEN $2 AND $3
  ) actions
  ORDER BY path, dv_id, version, ordinal`;

/**
 * serves: delta_commit, delta_metadata and delta_protocol primary keys (one
 * probe each): the step's last commit, and the newest metaData / protocol
 * within the step (NULL: unchanged).
 */
const stepHeaderSql = `
  SELECT c.timestamp_ms, c.committed_at,
         (SELECT m.action FROM deltameta.delta_metadata m
           WHERE m.table_id = $1 AND m.version BETWEEN $2 AND $3 ORDER BY m.version DESC LIMIT 1) AS metadata,
         (SELECT p.action FROM deltameta.delta_protocol p
           WHERE p.table_id = $1 AND p.version BETWEEN $2 AND $3 ORDER BY p.version DESC LIMIT 1) AS protocol
    FROM deltameta.delta_commit c WHERE c.table_id = $1 AND c.version = $3`;

/**
 * serves: file_index_live (table_id, path, dv_id) WHERE removed_version IS
 * NULL — one index probe per key of the chunk (a nested loop over the
 * unnest, whose length the planner knows). Returns what the closed rows
 * took from the counts, per partition.
 */
const closeLiveRowsSql = `
  WITH closed AS (
    UPDATE deltameta.file_index f SET removed_version = c.version
      FROM unnest($2::text[], $3::text[], $4::bigint[]) AS c(path, dv_id, version)
     WHERE f.table_id = $1 AND f.path = c.path COLLATE "C" AND f.dv_id = c.dv_id COLLATE "C" AND f.removed_version IS NULL
    RETURNING f.partition_values, f.size, f.num_records
  )
  SELECT partition_values, count(*)::bigint AS files, sum(size)::bigint AS bytes, coalesce(sum(num_records), 0)::bigint AS records
    FROM closed GROUP BY partition_values`;

/**
 * Not INSERT … ON CONFLICT: CHECK constraints are tested on the proposed
 * row before the conflict is found, and a delta is negative when files go.
 * Update the partitions that exist, insert the others (a negative count
 * there is drift, and the CHECK says so). The table's lock rules out a race
 * between the two. serves: partition_summary primary key (table_id,
 * partition_key)
 */
const partitionDeltasSql = `
  WITH delta AS (
    SELECT d.partition_values::jsonb AS partition_values, d.files, d.bytes, d.records
      FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS d(partition_values, files, bytes, records)
  ), updated AS (
    UPDATE deltameta.partition_summary p
       SET num_files = p.num_files + delta.files, size_bytes = p.size_bytes + delta.bytes, num_records = p.num_records + delta.records
      FROM delta
     WHERE p.table_id = $1 AND p.partition_key = delta.partition_values::text COLLATE "C"
    RETURNING p.partition_key, p.num_files
  ), inserted AS (
    INSERT INTO deltameta.partition_summary (table_id, partition_values, num_files, size_bytes, num_records)
    SELECT $1, delta.partition_values, delta.files, delta.bytes, delta.records FROM delta
     WHERE NOT EXISTS (SELECT 1 FROM updated WHERE updated.partition_key = delta.partition_values::text COLLATE "C")
    RETURNING partition_key, num_files
  )
  SELECT partition_key, num_files FROM updated UNION ALL SELECT partition_key, num_files FROM inserted`;

/** serves: partition_summary primary key */
const emptyPartitionsSql = `
  DELETE FROM deltameta.partition_summary WHERE table_id = $1 AND partition_key = ANY($2::text[]) AND num_files = 0`;

/** serves: table_state primary key (the row must not exist yet) */
const createStateSql = `
  INSERT INTO deltameta.table_state (table_id, mv_version, file_index_min_version, metadata, protocol,
                                     num_files, size_bytes, num_records, last_commit_at, last_timestamp_ms, refreshed_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())`;

/** serves: table_state primary key */
const advanceStateSql = `
  UPDATE deltameta.table_state
     SET mv_version = $2, metadata = coalesce($3, metadata), protocol = coalesce($4, protocol),
         num_files = num_files + $5, size_bytes = size_bytes + $6, num_records = num_records + $7,
         last_commit_at = $8, last_timestamp_ms = $9, refreshed_at = now()
   WHERE table_id = $1`;

interface PartitionDelta {
  partitionValues: string;
  files: number;
  bytes: number;
  records: number;
}

/** What the step changes in the counts, in total and per partition (refresh-tables.ts keeps one per table). */
export class CountDeltas {
  files = 0;
  bytes = 0;
  records = 0;
  readonly partitions = new Map<string, PartitionDelta>();

  add(partitionKey: string, partitionValues: string, files: number, bytes: number, records: number): void {
    this.files += files;
    this.bytes += bytes;
    this.records += records;
    const delta = this.partitions.get(partitionKey);
    if (delta) {
      delta.files += files;
      delta.bytes += bytes;
      delta.records += records;
    } else {
      this.partitions.set(partitionKey, { partitionValues, files, bytes, records });
    }
  }

  changedPartitions(): PartitionDelta[] {
    return [...this.partitions.values()].filter((delta) => delta.files !== 0 || delta.bytes !== 0 || delta.records !== 0);
  }
}

/** Keys handed over whole, written a chunk at a time: closes first, then the chunk's new rows. */
class StepWriter {
  private closePaths: string[] = [];
  private closeDvIds: string[] = [];
  private closeVersions: number[] = [];
  private lines: string[] = [];
  readonly deltas = new CountDeltas();
  rowsInserted = 0;
  rowsClosed = 0;

  constructor(private readonly client: PoolClient, private readonly range: VersionRange) {}

  get pending(): number {
    return this.lines.length + this.closePaths.length;
  }

  key(path: string, dvId: string, actions: readonly KeyAction[]): void {
    const { closeAt, intervals } = reconcileKey(actions);
    if (this.range.hasLiveRows) {
      this.closePaths.push(path);
      this.closeDvIds.push(dvId);
      this.closeVersions.push(closeAt);
    }
    for (const interval of intervals) {
      const row = fileIndexRow(path, dvId, interval);
      this.lines.push(copyLine(this.range.tableId, row));
      if (row.removedVersion === null) this.deltas.add(row.partitionKey, row.partitionValues, 1, row.size, row.numRecords ?? 0);
    }
  }

  /**
   * Writes what has been handed over: closes before inserts (a replaced
   * key's new live row would otherwise collide with the old one in
   * file_index_live). Takes the pending rows at once, so keys handed over
   * while it runs go to the next flush.
   */
  async flush(): Promise<void> {
    const [paths, dvIds, versions, lines] = [this.closePaths, this.closeDvIds, this.closeVersions, this.lines];
    this.closePaths = [];
    this.closeDvIds = [];
    this.closeVersions = [];
    this.lines = [];
    if (paths.length > 0) {
      const { rows } = await this.client.query<{ partition_values: Record<string, unknown>; files: number; bytes: number; records: number }>(
        closeLiveRowsSql,
        [this.range.tableId, paths, dvIds, versions],
      );
      for (const row of rows) {
        this.deltas.add(partitionKeyOf(row.partition_values), JSON.stringify(row.partition_values), -row.files, -row.bytes, -row.records);
        this.rowsClosed += row.files;
      }
    }
    if (lines.length > 0) {
      await copyFileIndexRows(this.client, lines);
      this.rowsInserted += lines.length;
    }
  }
}

export async function applyVersions(client: PoolClient, range: VersionRange): Promise<AppliedVersions> {
  const { tableId, fromVersion, toVersion } = range;
  // A new state takes the newest header at or before its first version (a
  // table's first metaData may precede a checkpoint-based log start).
  const { rows: headers } = await client.query<{ timestamp_ms: number; committed_at: Date; metadata: string | null; protocol: string | null }>(
    stepHeaderSql,
    [tableId, range.createsState ? 0 : fromVersion, toVersion],
  );
  const header = headers[0];
  if (!header) throw new InternalError(`table id ${tableId}: version ${toVersion} has no commit row`);

  const writer = new StepWriter(client, range);
  let actionsRead = 0;
  let path: string | undefined;
  let dvId = '';
  let actions: KeyAction[] = [];
  const batches = cursorBatches<{ path: string; dv_id: string; version: number; ordinal: number; action: string | null }>(
    client, stepActionsSql, [tableId, fromVersion, toVersion], { batchRows: fetchRows, name: 'refresh_actions' },
  );
  for await (const rows of batches) {
    for (const row of rows) {
      if (row.path !== path || row.dv_id !== dvId) {
        if (path !== undefined) writer.key(path, dvId, actions);
        path = row.path;
        dvId = row.dv_id;
        actions = [];
      }
      actions.push({ version: row.version, ordinal: row.ordinal, add: row.action });
    }
    actionsRead += rows.length;
    if (writer.pending >= flushRows) await writer.flush();
  }
  if (path !== undefined) writer.key(path, dvId, actions);
  await writer.flush();

  const { deltas } = writer;
  const changed = deltas.changedPartitions();
  if (changed.length > 0) {
    const { rows } = await client.query<{ partition_key: string; num_files: number }>(partitionDeltasSql, [
      tableId, changed.map((delta) => delta.partitionValues), changed.map((delta) => delta.files),
      changed.map((delta) => delta.bytes), changed.map((delta) => delta.records),
    ]);
    const emptied = rows.filter((row) => row.num_files === 0).map((row) => row.partition_key);
    if (emptied.length > 0) await client.query(emptyPartitionsSql, [tableId, emptied]);
  }
  if (range.createsState) {
    await client.query(createStateSql, [
      tableId, toVersion, fromVersion, header.metadata, header.protocol, deltas.files, deltas.bytes, deltas.records,
      header.committed_at, header.timestamp_ms,
    ]);
  } else {
    await client.query(advanceStateSql, [
      tableId, toVersion, header.metadata, header.protocol, deltas.files, deltas.bytes, deltas.records, header.committed_at, header.timestamp_ms,
    ]);
  }
  return { toVersion, timestampMs: header.timestamp_ms, actionsRead, rowsInserted: writer.rowsInserted, rowsClosed: writer.rowsClosed };
}
