/**
 * The table summary of a version (GET /v1/tables/{name}): version,
 * protocol, metadata, counts, commit time. At the watermark from
 * table_state (L3); within file_index's range by an aggregate over it (L3);
 * beyond the watermark as table_state's counts moved by the log tail (L4:
 * cost grows with the tail, not the table); else by counting the log
 * tables' reconciliation (L4).
 */
import type { PoolClient } from '../../shared/db/index.ts';
import type { AddAction, MetadataAction, ProtocolAction } from '../../shared/delta/index.ts';
import type { TableSummary } from '../../shared/summary/index.ts';
import { fileLines, readLogTail } from './files-source.ts';
import { noFilters } from './file-filters.ts';
import type { Plan, TableRef } from './snapshot-scope.ts';

function recordsOf(stats: string | null | undefined): number | undefined {
  if (typeof stats !== 'string') return undefined;
  try {
    const parsed = JSON.parse(stats) as { numRecords?: unknown };
    return typeof parsed.numRecords === 'number' ? parsed.numRecords : undefined;
  } catch {
    return undefined;
  }
}

interface Header {
  readonly metadata: MetadataAction | null;
  readonly protocol: ProtocolAction | null;
  readonly lastCommitAt: string;
}

// serves: delta_metadata / delta_protocol / delta_commit primary keys (newest at or before the version: one backward probe each)
const headerAtSql = `
  SELECT (SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS metadata,
         (SELECT action FROM deltameta.delta_protocol WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS protocol,
         (SELECT committed_at FROM deltameta.delta_commit WHERE table_id = $1 AND version = $2) AS committed_at`;

// serves: table_state primary key
const watermarkCountsSql = 'SELECT num_files, size_bytes, num_records FROM deltameta.table_state WHERE table_id = $1';

// serves: file_index_live and file_index_removed (the as-of shape of liveFileLines, aggregated)
const asOfCountsSql = `
  SELECT count(*)::bigint AS num_files, coalesce(sum(size), 0)::bigint AS size_bytes, coalesce(sum(num_records), 0)::bigint AS num_records
    FROM deltameta.file_index
   WHERE table_id = $1 AND added_version <= $2 AND (removed_version IS NULL OR removed_version > $2)`;

// serves: file_index_live (one probe per file key the tail changed)
const liveRowsOfKeysSql = `
  SELECT f.size, f.num_records FROM deltameta.file_index f
    JOIN unnest($2::text[], $3::text[]) AS k(path, dv_id) ON f.path = k.path AND f.dv_id = k.dv_id
   WHERE f.table_id = $1 AND f.removed_version IS NULL`;

async function headerAt(client: PoolClient, tableId: number, version: number): Promise<Header> {
  const { rows } = await client.query<{ metadata: string | null; protocol: string | null; committed_at: Date | null }>(headerAtSql, [tableId, version]);
  const row = rows[0];
  return {
    metadata: row?.metadata ? (JSON.parse(row.metadata) as MetadataAction) : null,
    protocol: row?.protocol ? (JSON.parse(row.protocol) as ProtocolAction) : null,
    lastCommitAt: (row?.committed_at ?? new Date(0)).toISOString(),
  };
}

interface Counts {
  numFiles: number;
  sizeBytes: number;
  numRecords: number;
}

function summaryOf(table: TableRef, version: number, header: Header, counts: Counts): TableSummary {
  // The field order of TableSummary: the refresher's warmed L2 entries are the same JSON.
  return {
    name: table.name, version, protocol: header.protocol, metadata: header.metadata,
    numFiles: counts.numFiles, sizeBytes: counts.sizeBytes, numRecords: counts.numRecords, lastCommitAt: header.lastCommitAt,
    kind: table.kind, location: table.location,
  };
}

async function watermarkCounts(client: PoolClient, tableId: number): Promise<Counts> {
  const { rows } = await client.query<{ num_files: number; size_bytes: number; num_records: number }>(watermarkCountsSql, [tableId]);
  const row = rows[0];
  return { numFiles: row?.num_files ?? 0, sizeBytes: row?.size_bytes ?? 0, numRecords: row?.num_records ?? 0 };
}

async function asOfCounts(client: PoolClient, tableId: number, version: number): Promise<Counts> {
  const { rows } = await client.query<{ num_files: number; size_bytes: number; num_records: number }>(asOfCountsSql, [tableId, version]);
  const row = rows[0];
  return { numFiles: row?.num_files ?? 0, sizeBytes: row?.size_bytes ?? 0, numRecords: row?.num_records ?? 0 };
}

/** Watermark counts moved by the tail: minus the live rows the tail replaced or removed, plus the tail's adds. */
async function tailCounts(client: PoolClient, tableId: number, mvVersion: number, version: number): Promise<Counts> {
  const counts = await watermarkCounts(client, tableId);
  const tail = await readLogTail(client, tableId, mvVersion, version);
  const paths: string[] = [];
  const dvIds: string[] = [];
  for (const key of tail.newest.keys()) {
    const [path, dvId] = key.split('\u0000');
    paths.push(path ?? '');
    dvIds.push(dvId ?? '');
  }
  const { rows } = await client.query<{ size: number; num_records: number | null }>(liveRowsOfKeysSql, [tableId, paths, dvIds]);
  for (const row of rows) {
    counts.numFiles -= 1;
    counts.sizeBytes -= row.size;
    counts.numRecords -= row.num_records ?? 0;
  }
  for (const entry of tail.newest.values()) {
    if (!entry.isAdd) continue;
    const add = JSON.parse(entry.action) as AddAction;
    counts.numFiles += 1;
    counts.sizeBytes += add.size;
    counts.numRecords += recordsOf(add.stats) ?? 0;
  }
  return counts;
}

async function countedCounts(client: PoolClient, table: TableRef, plan: Plan, version: number): Promise<Counts> {
  const counts: Counts = { numFiles: 0, sizeBytes: 0, numRecords: 0 };
  for await (const file of fileLines(client, table, plan, { version, filters: noFilters, after: undefined, limit: undefined })) {
    const add = (JSON.parse(file.line) as { add: AddAction }).add;
    counts.numFiles += 1;
    counts.sizeBytes += add.size;
    counts.numRecords += recordsOf(add.stats) ?? 0;
  }
  return counts;
}

export async function summaryAt(client: PoolClient, table: TableRef, plan: Plan, version: number): Promise<TableSummary> {
  const header = await headerAt(client, table.tableId, version);
  let counts: Counts;
  if (plan.level === 'l3') counts = version === plan.range.mvVersion ? await watermarkCounts(client, table.tableId) : await asOfCounts(client, table.tableId, version);
  else if (plan.source === 'tail') counts = await tailCounts(client, table.tableId, plan.range.mvVersion, version);
  else counts = await countedCounts(client, table, plan, version);
  return summaryOf(table, version, header, counts);
}
