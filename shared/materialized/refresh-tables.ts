/**
 * refreshTables: one refresh step for many tables in one transaction, with
 * a fixed number of statements whatever the number of tables — what keeps
 * the refresher's cost per commit low when commits are spread over many
 * tables (a step per table costs a dozen round trips, and on a busy
 * machine those are what the time goes to: docs/pipeline.md, "Throughput").
 *
 * The same step as refreshTable's (apply-versions.ts), set-based across
 * tables: the tables' advisory locks in table id order (the only order in
 * which anything takes more than one), their watermarks read under them,
 * their step's actions read through one cursor in (table, key, version)
 * order and reconciled per key, live rows closed with one UPDATE, new rows
 * with one COPY, count and partition deltas and the new watermarks with one
 * statement each.
 *
 * Only tables with materialized state and at most `maxVersionsBehind`
 * versions to apply take part; the others (a first build, a table far
 * behind) are left to refreshTable, one transaction per step of their own.
 * A table that no longer exists is reported, not failed.
 */
import { cursorBatches, transactionOn, type PoolClient, type Pool } from '../db/index.ts';
import { InternalError } from '../errors/index.ts';
import { lockNamespaces } from '../contracts/index.ts';
import { CountDeltas } from './apply-versions.ts';
import { copyFileIndexRows, copyLine } from './copy.ts';
import { fileIndexRow, partitionKeyOf } from './file-row.ts';
import { reconcileKey, type KeyAction } from './intervals.ts';

export type TableStep =
  /** applied (toVersion may equal the watermark it found: nothing to do) */
  | { readonly kind: 'refreshed'; readonly fromVersion: number; readonly toVersion: number; readonly versionsApplied: number; readonly newestTimestampMs: number | null }
  /** not for this path: no state yet, or more than maxVersionsBehind to apply */
  | { readonly kind: 'single' }
  | { readonly kind: 'missing' };

export interface RefreshTablesOptions {
  /** a table further behind than this is left to refreshTable. Default 100. */
  readonly maxVersionsBehind?: number;
}

const fetchRows = 10_000;
const flushRows = 20_000;

/**
 * Per table: its watermark, its head, and — for a table this path takes
 * (state, 1..$2 versions to apply) — its step's header: the head's commit
 * row and the newest metaData / protocol within the step (NULL: unchanged).
 * serves: delta_table, table_state primary keys; delta_commit, delta_metadata,
 * delta_protocol primary keys (one backward probe each per table)
 */
const stepsSql = `
  SELECT w.table_id, w.mv_version, w.num_files, w.head, c.timestamp_ms, c.committed_at,
         (SELECT m.action FROM deltameta.delta_metadata m
           WHERE m.table_id = w.table_id AND m.version BETWEEN w.mv_version + 1 AND w.head ORDER BY m.version DESC LIMIT 1) AS metadata,
         (SELECT p.action FROM deltameta.delta_protocol p
           WHERE p.table_id = w.table_id AND p.version BETWEEN w.mv_version + 1 AND w.head ORDER BY p.version DESC LIMIT 1) AS protocol
    FROM (SELECT t.table_id, s.mv_version, s.num_files,
                 (SELECT max(c.version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head
            FROM deltameta.delta_table t LEFT JOIN deltameta.table_state s ON s.table_id = t.table_id
           WHERE t.table_id = ANY($1::bigint[])) w
    LEFT JOIN deltameta.delta_commit c
      ON c.table_id = w.table_id AND c.version = w.head AND w.head > w.mv_version AND w.head - w.mv_version <= $2`;

/** serves: delta_add / delta_remove primary keys (table_id, version, ordinal), per table of the step */
const actionsSql = `
  SELECT r.table_id, a.path, a.dv_id, a.version, a.ordinal, a.action
    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(table_id, from_v, to_v)
    CROSS JOIN LATERAL (
      SELECT path, dv_id, version, ordinal, action
        FROM deltameta.delta_add WHERE table_id = r.table_id AND version BETWEEN r.from_v AND r.to_v
      UNION ALL
      SELECT path, dv_id, version, ordinal, NULL
        FROM deltameta.delta_remove WHERE table_id = r.table_id AND version BETWEEN r.from_v AND r.to_v
    ) a
   ORDER BY r.table_id, a.path COLLATE "C", a.dv_id COLLATE "C", a.version, a.ordinal`;

/** The usual step is a few actions per table: one plain query, and a cursor only when that many rows come back. */
const plainActionsSql = `${actionsSql} LIMIT ${fetchRows + 1}`;

/** serves: file_index_live (table_id, path, dv_id) WHERE removed_version IS NULL, one probe per key */
const closeLiveRowsSql = `
  WITH closed AS (
    UPDATE deltameta.file_index f SET removed_version = c.version
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS c(table_id, path, dv_id, version)
     WHERE f.table_id = c.table_id AND f.path = c.path COLLATE "C" AND f.dv_id = c.dv_id COLLATE "C" AND f.removed_version IS NULL
    RETURNING f.table_id, f.partition_values, f.size, f.num_records
  )
  SELECT table_id, partition_values, count(*)::bigint AS files, sum(size)::bigint AS bytes, coalesce(sum(num_records), 0)::bigint AS records
    FROM closed GROUP BY table_id, partition_values`;

/** As apply-versions.ts's, for many tables. serves: partition_summary primary key */
const partitionDeltasSql = `
  WITH delta AS (
    SELECT d.table_id, d.partition_values::jsonb AS partition_values, d.files, d.bytes, d.records
      FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS d(table_id, partition_values, files, bytes, records)
  ), updated AS (
    UPDATE deltameta.partition_summary p
       SET num_files = p.num_files + delta.files, size_bytes = p.size_bytes + delta.bytes, num_records = p.num_records + delta.records
      FROM delta
     WHERE p.table_id = delta.table_id AND p.partition_key = delta.partition_values::text COLLATE "C"
    RETURNING p.table_id, p.partition_key, p.num_files
  ), inserted AS (
    INSERT INTO deltameta.partition_summary (table_id, partition_values, num_files, size_bytes, num_records)
    SELECT delta.table_id, delta.partition_values, delta.files, delta.bytes, delta.records FROM delta
     WHERE NOT EXISTS (SELECT 1 FROM updated WHERE updated.table_id = delta.table_id AND updated.partition_key = delta.partition_values::text COLLATE "C")
    RETURNING table_id, partition_key, num_files
  )
  SELECT table_id, partition_key FROM updated WHERE num_files = 0
  UNION ALL SELECT table_id, partition_key FROM inserted WHERE num_files = 0`;

/** serves: partition_summary primary key */
const emptyPartitionsSql = `
  DELETE FROM deltameta.partition_summary p
   USING unnest($1::bigint[], $2::text[]) AS e(table_id, partition_key)
   WHERE p.table_id = e.table_id AND p.partition_key = e.partition_key AND p.num_files = 0`;

/** serves: table_state primary key */
const advanceStatesSql = `
  UPDATE deltameta.table_state s
     SET mv_version = u.mv_version, metadata = coalesce(u.metadata, s.metadata), protocol = coalesce(u.protocol, s.protocol),
         num_files = s.num_files + u.files, size_bytes = s.size_bytes + u.bytes, num_records = s.num_records + u.records,
         last_commit_at = u.committed_at, last_timestamp_ms = u.timestamp_ms, refreshed_at = now()
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::bigint[])
         AS u(table_id, mv_version, metadata, protocol, files, bytes, records, committed_at, timestamp_ms)
   WHERE s.table_id = u.table_id`;

interface Header {
  readonly timestampMs: number;
  readonly committedAt: Date;
  readonly metadata: string | null;
  readonly protocol: string | null;
}

type ActionRow = { table_id: number; path: string; dv_id: string; version: number; ordinal: number; action: string | null };

/** The step's actions: one plain query when they are few (the usual step), else a cursor, a batch at a time. */
async function* actionBatches(client: PoolClient, ranges: unknown[]): AsyncGenerator<ActionRow[]> {
  const { rows } = await client.query<ActionRow>(plainActionsSql, ranges);
  if (rows.length <= fetchRows) {
    if (rows.length > 0) yield rows;
    return;
  }
  yield* cursorBatches<ActionRow>(client, actionsSql, ranges, { batchRows: fetchRows, name: 'refresh_tables_actions' });
}

interface Step {
  readonly tableId: number;
  readonly from: number;
  readonly to: number;
  readonly hasLiveRows: boolean;
  readonly deltas: CountDeltas;
}

/** Closes and rows handed over per key, written a chunk at a time (closes first: a replaced key's new live row would collide). */
class StepsWriter {
  private close: { tableIds: number[]; paths: string[]; dvIds: string[]; versions: number[] } = { tableIds: [], paths: [], dvIds: [], versions: [] };
  private lines: string[] = [];

  constructor(private readonly client: PoolClient, private readonly steps: ReadonlyMap<number, Step>) {}

  get pending(): number {
    return this.lines.length + this.close.paths.length;
  }

  key(step: Step, path: string, dvId: string, actions: readonly KeyAction[]): void {
    const { closeAt, intervals } = reconcileKey(actions);
    if (step.hasLiveRows) {
      this.close.tableIds.push(step.tableId);
      this.close.paths.push(path);
      this.close.dvIds.push(dvId);
      this.close.versions.push(closeAt);
    }
    for (const interval of intervals) {
      const row = fileIndexRow(path, dvId, interval);
      this.lines.push(copyLine(step.tableId, row));
      if (row.removedVersion === null) step.deltas.add(row.partitionKey, row.partitionValues, 1, row.size, row.numRecords ?? 0);
    }
  }

  async flush(): Promise<void> {
    const [close, lines] = [this.close, this.lines];
    this.close = { tableIds: [], paths: [], dvIds: [], versions: [] };
    this.lines = [];
    if (close.paths.length > 0) {
      const { rows } = await this.client.query<{ table_id: string; partition_values: Record<string, unknown>; files: number; bytes: number; records: number }>(
        closeLiveRowsSql, [close.tableIds, close.paths, close.dvIds, close.versions],
      );
      for (const row of rows) {
        const step = this.steps.get(Number(row.table_id));
        if (!step) throw new InternalError(`closed a row of table id ${row.table_id}, which is not in the step`);
        step.deltas.add(partitionKeyOf(row.partition_values), JSON.stringify(row.partition_values), -row.files, -row.bytes, -row.records);
      }
    }
    if (lines.length > 0) await copyFileIndexRows(this.client, lines);
  }
}

/** One transaction: every table of `tableIds` that this path takes is brought to its head (at most maxVersionsBehind versions). */
export async function refreshTables(pool: Pool, tableIds: readonly number[], options: RefreshTablesOptions = {}): Promise<Map<number, TableStep>> {
  const maxVersionsBehind = options.maxVersionsBehind ?? 100;
  const ids = [...new Set(tableIds)].sort((a, b) => a - b);
  for (const id of ids) if (!Number.isSafeInteger(id) || id <= 0) throw new InternalError(`a table id must be a positive integer, got ${id}`);
  if (ids.length === 0) return new Map();
  // The locks in the same round trip as BEGIN (literal keys: checked integers), in ascending order — a function scan
  // hands an array out in its order — and the same keys as lockTableState's, so a refreshTable, a rebuild or
  // retention on one of them waits, and none deadlocks.
  const keys = [...new Set(ids.map((id) => id % 2147483647))].sort((a, b) => a - b);
  const client = await pool.connect();
  try {
    return await transactionOn(client, (locked) => refreshLocked(locked, ids, maxVersionsBehind),
      `BEGIN; SELECT pg_advisory_xact_lock(${lockNamespaces.tableState}, key) FROM unnest('{${keys.join(',')}}'::int[]) AS key`);
  } finally {
    client.release();
  }
}

async function refreshLocked(client: PoolClient, ids: readonly number[], maxVersionsBehind: number): Promise<Map<number, TableStep>> {
  const result = new Map<number, TableStep>(ids.map((id) => [id, { kind: 'missing' }]));
  // A statement after the locks: what a previous holder committed is visible (READ COMMITTED).
  const { rows: marks } = await client.query<{
    table_id: number; mv_version: number | null; num_files: number | null; head: number | null;
    timestamp_ms: number | null; committed_at: Date | null; metadata: string | null; protocol: string | null;
  }>(stepsSql, [ids, maxVersionsBehind]);
  const steps = new Map<number, Step>();
  const headers = new Map<number, Header>();
  for (const mark of marks) {
    const tableId = Number(mark.table_id);
    const from = mark.mv_version === null ? null : Number(mark.mv_version);
    const head = mark.head === null ? -1 : Number(mark.head);
    if (from === null || head - from > maxVersionsBehind) {
      result.set(tableId, { kind: 'single' });
    } else if (head <= from) {
      result.set(tableId, { kind: 'refreshed', fromVersion: from + 1, toVersion: from, versionsApplied: 0, newestTimestampMs: null });
    } else {
      if (mark.timestamp_ms === null || mark.committed_at === null) throw new InternalError(`table id ${tableId}: version ${head} has no commit row`);
      steps.set(tableId, { tableId, from: from + 1, to: head, hasLiveRows: Number(mark.num_files ?? 0) > 0, deltas: new CountDeltas() });
      headers.set(tableId, { timestampMs: Number(mark.timestamp_ms), committedAt: mark.committed_at, metadata: mark.metadata, protocol: mark.protocol });
    }
  }
  if (steps.size === 0) return result;
  const list = [...steps.values()];
  const ranges = [list.map((step) => step.tableId), list.map((step) => step.from), list.map((step) => step.to)];

  const writer = new StepsWriter(client, steps);
  let step: Step | undefined;
  let path: string | undefined;
  let dvId = '';
  let actions: KeyAction[] = [];
  for await (const rows of actionBatches(client, ranges)) {
    for (const row of rows) {
      const tableId = Number(row.table_id);
      if (tableId !== step?.tableId || row.path !== path || row.dv_id !== dvId) {
        if (step && path !== undefined) writer.key(step, path, dvId, actions);
        step = steps.get(tableId);
        if (!step) throw new InternalError(`an action of table id ${tableId}, which is not in the step`);
        path = row.path;
        dvId = row.dv_id;
        actions = [];
      }
      actions.push({ version: Number(row.version), ordinal: Number(row.ordinal), add: row.action });
    }
    if (writer.pending >= flushRows) await writer.flush();
  }
  if (step && path !== undefined) writer.key(step, path, dvId, actions);
  await writer.flush();

  const partitions = { tableIds: [] as number[], values: [] as string[], files: [] as number[], bytes: [] as number[], records: [] as number[] };
  for (const one of list) {
    for (const delta of one.deltas.changedPartitions()) {
      partitions.tableIds.push(one.tableId);
      partitions.values.push(delta.partitionValues);
      partitions.files.push(delta.files);
      partitions.bytes.push(delta.bytes);
      partitions.records.push(delta.records);
    }
  }
  if (partitions.tableIds.length > 0) {
    const { rows: emptied } = await client.query<{ table_id: string; partition_key: string }>(partitionDeltasSql, [
      partitions.tableIds, partitions.values, partitions.files, partitions.bytes, partitions.records,
    ]);
    if (emptied.length > 0) await client.query(emptyPartitionsSql, [emptied.map((row) => row.table_id), emptied.map((row) => row.partition_key)]);
  }
  const header = (one: Step): Header => {
    const found = headers.get(one.tableId);
    if (!found) throw new InternalError(`table id ${one.tableId}: no header for its step`);
    return found;
  };
  await client.query(advanceStatesSql, [
    list.map((one) => one.tableId), list.map((one) => one.to), list.map((one) => header(one).metadata), list.map((one) => header(one).protocol),
    list.map((one) => one.deltas.files), list.map((one) => one.deltas.bytes), list.map((one) => one.deltas.records),
    list.map((one) => header(one).committedAt), list.map((one) => header(one).timestampMs),
  ]);
  for (const one of list) {
    result.set(one.tableId, { kind: 'refreshed', fromVersion: one.from, toVersion: one.to, versionsApplied: one.to - one.from + 1, newestTimestampMs: header(one).timestampMs });
  }
  return result;
}
