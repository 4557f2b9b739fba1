/**
 * A new table's materialized state written by its import, in the import's
 * transaction, as its base checkpoint is read: the import returns with
 * table_state at the head, so the first read after it is a materialized one
 * (issue 12). The rows are the ones a build from log_start_version writes
 * (applyVersions with createsState): each add of the checkpoint that the tail
 * does not touch is one live row added at the checkpoint's version, final as
 * it comes and streamed by COPY; the keys the tail touches (bounded by the
 * tail's size) are reconciled at the end with the same reconcileKey as a
 * build. The checkpoint's tombstones close nothing (no row is live before
 * it), as in a build. An import from version 0 (no checkpoint) is built by
 * applyVersions itself once its rows are written.
 */
import { lockTableState } from '../contracts/index.ts';
import type { PoolClient } from '../db/index.ts';
import { deletionVectorUniqueId, type Action, type AddAction } from '../delta/index.ts';
import { InternalError } from '../errors/index.ts';
import {
  importTable, type BaseInput, type BaseReader, type ImportedSegment, type ImportMaterializer, type ImportOptions, type ImportResult,
} from '../log-store/index.ts';
import type { Pool } from '../db/index.ts';
import { applyVersions } from './apply-versions.ts';
import { startBaseWorker, type BaseSink } from './import-base.ts';
import type { PartitionCount } from './import-base-messages.ts';
import { copyFileIndexRows, copyLine } from './copy.ts';
import { fileColumns, fileIndexRow, type FileIndexRow } from './file-row.ts';
import { reconcileKey, type KeyAction } from './intervals.ts';

/** importTable that leaves a new table materialized (default import: newest checkpoint and its tail) when it returns. */
export function importMaterialized(pool: Pool, tableDir: string, tableName: string, options: ImportOptions = {}): Promise<ImportResult> {
  return importTable(pool, tableDir, tableName, { ...options, materializer: (tableId) => new ImportState(tableId) });
}

interface TailKey {
  readonly path: string;
  readonly dvId: string;
  /** in (version, ordinal) order: the checkpoint's add (if any) first, then the tail's actions */
  readonly actions: KeyAction[];
}

/**
 * serves: delta_commit, delta_metadata and delta_protocol primary keys: the
 * head's commit and the newest metaData / protocol at or before it (the
 * header a build reads with createsState).
 */
const headerSql = `
  SELECT c.timestamp_ms, c.committed_at,
         (SELECT m.action FROM deltameta.delta_metadata m WHERE m.table_id = $1 AND m.version <= $2 ORDER BY m.version DESC LIMIT 1) AS metadata,
         (SELECT p.action FROM deltameta.delta_protocol p WHERE p.table_id = $1 AND p.version <= $2 ORDER BY p.version DESC LIMIT 1) AS protocol
    FROM deltameta.delta_commit c WHERE c.table_id = $1 AND c.version = $2`;

/** A new table: no partition row exists yet. serves: partition_summary primary key (inserts) */
const insertPartitionsSql = `
  INSERT INTO deltameta.partition_summary (table_id, partition_values, num_files, size_bytes, num_records)
  SELECT $1, d.partition_values::jsonb, d.files, d.bytes, d.records
    FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS d(partition_values, files, bytes, records)`;

/** serves: table_state primary key (the row must not exist yet) */
const createStateSql = `
  INSERT INTO deltameta.table_state (table_id, mv_version, file_index_min_version, metadata, protocol,
                                     num_files, size_bytes, num_records, last_commit_at, last_timestamp_ms, refreshed_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())`;

function compareKeys(a: FileIndexRow, b: FileIndexRow): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : a.dvId < b.dvId ? -1 : a.dvId > b.dvId ? 1 : a.addedVersion - b.addedVersion;
}

function keyOf(path: string, dvId: string): string {
  return `${path}\u0000${dvId}`;
}

function pathAndDv(json: string): [string, string] {
  const add = JSON.parse(json) as AddAction;
  return [add.path, deletionVectorUniqueId(add.deletionVector)];
}

/** A file_index row made ahead (prepare), with its COPY line. */
interface PreparedRow {
  readonly row: FileIndexRow;
  readonly line: string;
}

/** Tail keys reconciled per prepare() call: a few ms, well under the time PostgreSQL takes for a chunk. */
const prepareKeysPerSlice = 2_000;

export class ImportState implements ImportMaterializer, BaseSink {
  private lines: string[] = [];
  private readonly tailKeys = new Map<string, TailKey>();
  /** rows of tail keys reconciled ahead; dropped when the checkpoint turns out to hold an add on the key */
  private readonly prepared = new Map<string, PreparedRow[]>();
  /** the tail's adds by their JSON text (KeyAction.add) */
  private readonly tailAdds = new Map<string, AddAction>();
  private toPrepare: IterableIterator<[string, TailKey]> | undefined;
  private readonly partitions = new Map<string, PartitionCount>();
  private files = 0;
  private bytes = 0;
  private records = 0;

  constructor(private readonly tableId: number) {}

  get pending(): number {
    return this.lines.length;
  }

  tail(version: number, actions: readonly Action[]): void {
    actions.forEach((action, ordinal) => {
      if (action.kind === 'add') {
        const json = JSON.stringify(action.add);
        // Kept parsed: reconciling the key needs the add's columns, which parsing its JSON again would cost.
        this.tailAdds.set(json, action.add);
        this.tailAction(action.add.path, deletionVectorUniqueId(action.add.deletionVector)).push({ version, ordinal, add: json });
      } else if (action.kind === 'remove') {
        this.tailAction(action.remove.path, deletionVectorUniqueId(action.remove.deletionVector)).push({ version, ordinal, add: null });
      }
    });
  }

  private tailAction(path: string, dvId: string): KeyAction[] {
    const key = keyOf(path, dvId);
    let entry = this.tailKeys.get(key);
    if (!entry) {
      entry = { path, dvId, actions: [] };
      this.tailKeys.set(key, entry);
    }
    return entry.actions;
  }

  get touchedKeys(): string[] {
    return [...this.tailKeys.keys()];
  }

  touchedAdd(version: number, json: string): void {
    const key = keyOf(...pathAndDv(json));
    const entry = this.tailKeys.get(key);
    if (!entry) throw new InternalError(`import state: the worker sent back an add on a key the tail does not touch`);
    entry.actions.unshift({ version, ordinal: -1, add: json });
    this.prepared.delete(key);
  }

  /**
   * Reconciles a slice of the tail's keys ahead of finish (the import's main
   * thread is idle while PostgreSQL ingests the checkpoint): ~190k keys at
   * 1M files in the realistic layout, seconds of work that finish otherwise
   * does after the checkpoint, on the critical path. A key whose checkpoint
   * add arrives later is dropped (touchedAdd) and reconciled again in finish.
   */
  prepare(): void {
    this.toPrepare ??= this.tailKeys.entries();
    for (let done = 0; done < prepareKeysPerSlice; done++) {
      const next = this.toPrepare.next();
      if (next.done) return;
      const [key, { path, dvId, actions }] = next.value;
      this.prepared.set(key, this.reconciled(path, dvId, actions));
    }
  }

  private reconciled(path: string, dvId: string, actions: readonly KeyAction[]): PreparedRow[] {
    return reconcileKey(actions).intervals.map((interval) => {
      const row = fileIndexRow(path, dvId, interval, this.tailAdds.get(interval.add));
      return { row, line: copyLine(this.tableId, row) };
    });
  }

  mergeCounts(partitions: readonly [string, PartitionCount][], files: number, bytes: number, records: number): void {
    this.files += files;
    this.bytes += bytes;
    this.records += records;
    for (const [key, count] of partitions) {
      const mine = this.partitions.get(key);
      if (mine) {
        mine.files += count.files;
        mine.bytes += count.bytes;
        mine.records += count.records;
      } else {
        this.partitions.set(key, { ...count });
      }
    }
  }

  /** The checkpoint read and turned into rows by a worker thread (import-base.ts). */
  readBase(base: BaseInput): BaseReader {
    return startBaseWorker(this, base);
  }

  baseAdd(version: number, add: AddAction): void {
    const dvId = deletionVectorUniqueId(add.deletionVector);
    const key = keyOf(add.path, dvId);
    const touched = this.tailKeys.get(key);
    if (touched) {
      // The checkpoint's version is below every tail version: its add comes first. The ordinal only orders within a version.
      touched.actions.unshift({ version, ordinal: -1, add: JSON.stringify(add) });
      this.prepared.delete(key);
      return;
    }
    this.write({ path: add.path, dvId, addedVersion: version, removedVersion: null, ...fileColumns(add) });
  }

  private write(row: FileIndexRow, line = copyLine(this.tableId, row)): void {
    this.lines.push(line);
    if (row.removedVersion !== null) return;
    this.files++;
    this.bytes += row.size;
    this.records += row.numRecords ?? 0;
    const count = this.partitions.get(row.partitionKey);
    if (count) {
      count.files++;
      count.bytes += row.size;
      count.records += row.numRecords ?? 0;
    } else {
      this.partitions.set(row.partitionKey, { partitionValues: row.partitionValues, files: 1, bytes: row.size, records: row.numRecords ?? 0 });
    }
  }

  take(): ((client: PoolClient) => Promise<void>) | undefined {
    if (this.lines.length === 0) return undefined;
    const lines = this.lines;
    this.lines = [];
    return (client) => copyFileIndexRows(client, lines);
  }

  async finish(client: PoolClient, segment: ImportedSegment): Promise<void> {
    if (segment.tableId !== this.tableId) throw new InternalError(`import state of table ${this.tableId} finished for table ${segment.tableId}`);
    await lockTableState(client, this.tableId);
    if (segment.baseVersion === undefined) {
      // From version 0: the build itself, over rows just written (no checkpoint: a short log).
      await applyVersions(client, { tableId: this.tableId, fromVersion: segment.logStartVersion, toVersion: segment.version, createsState: true, hasLiveRows: false });
      return;
    }
    const tailRows: PreparedRow[] = [];
    for (const [key, { path, dvId, actions }] of this.tailKeys) tailRows.push(...(this.prepared.get(key) ?? this.reconciled(path, dvId, actions)));
    // One more sorted run on the heap (import-base-worker.ts inPathOrder: why).
    tailRows.sort((a, b) => compareKeys(a.row, b.row));
    for (const { row, line } of tailRows) this.write(row, line);
    this.tailKeys.clear();
    this.prepared.clear();
    this.tailAdds.clear();
    await this.take()?.(client);
    const counts = [...this.partitions.values()];
    if (counts.length > 0) {
      await client.query(insertPartitionsSql, [
        this.tableId, counts.map((count) => count.partitionValues), counts.map((count) => count.files),
        counts.map((count) => count.bytes), counts.map((count) => count.records),
      ]);
    }
    const { rows } = await client.query<{ timestamp_ms: number; committed_at: Date; metadata: string | null; protocol: string | null }>(
      headerSql, [this.tableId, segment.version],
    );
    const header = rows[0];
    if (!header) throw new InternalError(`table id ${this.tableId}: version ${segment.version} has no commit row`);
    await client.query(createStateSql, [
      this.tableId, segment.version, segment.logStartVersion, header.metadata, header.protocol, this.files, this.bytes, this.records,
      header.committed_at, header.timestamp_ms,
    ]);
  }
}
