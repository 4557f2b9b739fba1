/**
 * The live files of a version, as snapshot lines (addLine: byte for byte
 * what `replay` prints), sorted by path then deletion-vector id in code
 * point order, filtered and paged. From file_index (L3) with the filters
 * pushed into SQL; beyond the watermark from the state at the watermark
 * merged with the log tail reconciled in memory (L4); else from the log
 * tables (L4). Runs inside one snapshot (snapshot-scope.ts).
 */
import { cursorBatches, type PoolClient } from '../../shared/db/index.ts';
import { addLine, compareCodePoints, deletionVectorUniqueId, type AddAction, type RemoveAction } from '../../shared/delta/index.ts';
import { reconciledFiles } from '../../shared/log-store/index.ts';
import { filtersSql, matchesFilters, type FileFilters } from './file-filters.ts';
import type { Plan, TableRef } from './snapshot-scope.ts';

export interface FileKeyPosition {
  readonly path: string;
  readonly dvId: string;
}

export interface FilesQuery {
  readonly version: number;
  readonly filters: FileFilters;
  /** only files strictly after this key (paging) */
  readonly after: FileKeyPosition | undefined;
  /** at most this many lines */
  readonly limit: number | undefined;
}

export interface FileLine extends FileKeyPosition {
  readonly line: string;
}

function compareKeys(a: FileKeyPosition, b: FileKeyPosition): number {
  return compareCodePoints(a.path, b.path) || compareCodePoints(a.dvId, b.dvId);
}

const fetchRows = 5000;

/**
 * file_index rows live at `version` (the as-of shape of liveFileLines, with
 * filters and the paging key pushed down). serves: file_index_live (ordered
 * scan from the paging key) merged with file_index_removed for time travel.
 */
async function* materializedLines(client: PoolClient, tableId: number, version: number, atWatermark: boolean, query: FilesQuery): AsyncGenerator<FileLine> {
  const after = query.after ?? { path: '', dvId: '' };
  const filters = filtersSql(query.filters, 5);
  const branch = (removed: boolean): string => `
    (SELECT path, dv_id, add_line FROM deltameta.file_index
      WHERE table_id = $1 AND ${removed ? 'removed_version IS NOT NULL AND removed_version > $2' : 'removed_version IS NULL'}
        AND added_version <= $2 AND (path, dv_id) > ($3::text, $4::text) AND ${filters.sql}
      ORDER BY path, dv_id)`;
  // At the watermark a partition filter first picks the matching partitions
  // from partition_summary (a few rows), then reads only their live files
  // through file_index_live_partition and sorts those: a path-ordered scan
  // would walk every live file of the table to keep 1% of them.
  const partitionsOnly = filtersSql({ partitions: query.filters.partitions, stats: [] }, 5 + filters.params.length);
  const livePartitions = query.filters.partitions.length > 0 ? `
    (SELECT path, dv_id, add_line FROM deltameta.file_index
      WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $2
        AND partition_key IN (SELECT partition_key FROM deltameta.partition_summary WHERE table_id = $1 AND ${partitionsOnly.sql})
        AND (path, dv_id) > ($3::text, $4::text) AND ${filters.sql}
      ORDER BY path, dv_id)` : undefined;
  const sql = atWatermark
    ? `${livePartitions ?? branch(false)} ${query.limit !== undefined ? `LIMIT ${query.limit}` : ''}`
    : `SELECT path, dv_id, add_line FROM (${branch(false)} UNION ALL ${branch(true)}) snapshot ORDER BY path, dv_id ${query.limit !== undefined ? `LIMIT ${query.limit}` : ''}`;
  const params = [tableId, version, after.path, after.dvId, ...filters.params, ...(atWatermark && livePartitions ? partitionsOnly.params : [])];
  // One FETCH ahead: PostgreSQL produces the next batch while this one is encoded.
  const batches = cursorBatches<{ path: string; dv_id: string; add_line: string }>(client, sql, params, { batchRows: fetchRows, name: 'reader_files', fetchAhead: true });
  for await (const rows of batches) {
    for (const row of rows) yield { path: row.path, dvId: row.dv_id, line: row.add_line };
  }
}

export interface LogTail {
  /** the newest action on each file key changed in (watermark, version], by key */
  readonly newest: Map<string, { readonly isAdd: boolean; readonly action: string }>;
}

export function tailKey(path: string, dvId: string): string {
  return `${path}\u0000${dvId}`;
}

/** serves: delta_add / delta_remove primary keys (table_id, version, ordinal): the versions after the watermark. */
export async function readLogTail(client: PoolClient, tableId: number, fromExclusive: number, toInclusive: number): Promise<LogTail> {
  const { rows } = await client.query<{ is_add: boolean; path: string; dv_id: string; action: string }>(
    `SELECT is_add, path, dv_id, action FROM (
       SELECT true AS is_add, version, ordinal, path, dv_id, action FROM deltameta.delta_add WHERE table_id = $1 AND version > $2 AND version <= $3
       UNION ALL
       SELECT false, version, ordinal, path, dv_id, action FROM deltameta.delta_remove WHERE table_id = $1 AND version > $2 AND version <= $3
     ) tail ORDER BY version, ordinal`,
    [tableId, fromExclusive, toInclusive],
  );
  const newest = new Map<string, { isAdd: boolean; action: string }>();
  for (const row of rows) newest.set(tailKey(row.path, row.dv_id), { isAdd: row.is_add, action: row.action });
  return { newest };
}

function addKey(add: AddAction | RemoveAction): FileKeyPosition {
  return { path: add.path, dvId: deletionVectorUniqueId(add.deletionVector) };
}

/** State at the watermark (filters in SQL) merged in key order with the tail's adds (filters in memory). */
async function* tailLines(client: PoolClient, table: TableRef, mvVersion: number, query: FilesQuery): AsyncGenerator<FileLine> {
  const tail = await readLogTail(client, table.tableId, mvVersion, query.version);
  const tailAdds: FileLine[] = [];
  for (const entry of tail.newest.values()) {
    if (!entry.isAdd) continue;
    const add = JSON.parse(entry.action) as AddAction;
    const key = addKey(add);
    if (query.after && compareKeys(key, query.after) <= 0) continue;
    if (!matchesFilters(add, query.filters)) continue;
    tailAdds.push({ ...key, line: addLine(add) });
  }
  tailAdds.sort(compareKeys);
  let next = 0;
  let emitted = 0;
  const limit = query.limit ?? Number.POSITIVE_INFINITY;
  for await (const base of materializedLines(client, table.tableId, mvVersion, true, { ...query, limit: undefined })) {
    if (emitted >= limit) return;
    if (tail.newest.has(tailKey(base.path, base.dvId))) continue;
    while (next < tailAdds.length && compareKeys(tailAdds[next] as FileLine, base) < 0 && emitted < limit) {
      yield tailAdds[next++] as FileLine;
      emitted++;
    }
    if (emitted >= limit) return;
    yield base;
    emitted++;
  }
  while (next < tailAdds.length && emitted < limit) {
    yield tailAdds[next++] as FileLine;
    emitted++;
  }
}

/** The log tables alone: the reference reconciliation (what snapshotLines streams), filtered and paged in memory. */
async function* logLines(client: PoolClient, table: TableRef, query: FilesQuery): AsyncGenerator<FileLine> {
  let emitted = 0;
  const limit = query.limit ?? Number.POSITIVE_INFINITY;
  if (limit <= 0) return;
  for await (const row of reconciledFiles(client, table.tableId, query.version, table.logStartVersion)) {
    const add = JSON.parse(row.action) as AddAction;
    const key = addKey(add);
    if (query.after && compareKeys(key, query.after) <= 0) continue;
    if (!matchesFilters(add, query.filters)) continue;
    yield { ...key, line: addLine(add) };
    if (++emitted >= limit) return;
  }
}

export function fileLines(client: PoolClient, table: TableRef, plan: Plan, query: FilesQuery): AsyncGenerator<FileLine> {
  if (plan.level === 'l3') return materializedLines(client, table.tableId, query.version, query.version === plan.range.mvVersion, query);
  if (plan.source === 'tail') return tailLines(client, table, plan.range.mvVersion, query);
  return logLines(client, table, query);
}
