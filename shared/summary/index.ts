/**
 * The table summary (docs/design.md `GET /v1/tables/{name}`): version, protocol,
 * metadata and counts, as the materialized state has it at its watermark.
 * Keyed by (table, version) in Redis, so an entry never needs invalidation;
 * the refresher writes it for hot tables right after a refresh (cache
 * warming) and the reader reads it as its L2 — both in the cache's Redis
 * instance (shared/clients createCacheRedis), whose budget may evict it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisKeys, summaryTtlSeconds } from '../contracts/index.ts';
import type { Pool } from '../db/index.ts';
import type { MetadataAction, ProtocolAction } from '../delta/index.ts';
import type { TableKind } from '../log-store/index.ts';

export interface TableSummary {
  readonly name: string;
  readonly version: number;
  readonly protocol: ProtocolAction | null;
  readonly metadata: MetadataAction | null;
  readonly numFiles: number;
  readonly sizeBytes: number;
  readonly numRecords: number;
  readonly lastCommitAt: string;
  /** followed (its _delta_log at `location` is the authority) or owned (sql/000011_table_kinds.sql) */
  readonly kind: TableKind;
  /** followed: the folder followed; owned: where it was imported from or is published to; null if neither */
  readonly location: string | null;
}

/**
 * What tells apart summaries of one version that differ without a new
 * version (a handover changes the kind, `deltameta publish` the location):
 * part of their cache keys. Undefined for an owned table without a location
 * (the common case keeps the short key).
 */
export function summarySource(kind: TableKind, location: string | null): string | undefined {
  if (kind === 'owned' && location === null) return undefined;
  return createHash('sha256').update(`${kind}\u0000${location ?? ''}`).digest('hex').slice(0, 12);
}


/** The summary at the materialized watermark, or undefined when the table has no materialized state yet. */
export async function materializedSummary(pool: Pool, table: string): Promise<TableSummary | undefined> {
  return (await summaryRow(pool, table))?.summary;
}

async function summaryRow(pool: Pool, table: string): Promise<{ tableId: number; summary: TableSummary } | undefined> {
  // serves: delta_table name unique index, table_state primary key
  const { rows } = await pool.query<{
    table_id: number; mv_version: number; metadata: string | null; protocol: string | null; num_files: number; size_bytes: number; num_records: number; last_commit_at: Date;
    kind: TableKind; location: string | null;
  }>(
    `SELECT t.table_id, t.kind, t.location, s.mv_version, s.metadata, s.protocol, s.num_files, s.size_bytes, s.num_records, s.last_commit_at
       FROM deltameta.delta_table t JOIN deltameta.table_state s USING (table_id) WHERE t.name = $1`,
    [table],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { tableId: row.table_id, summary: {
    name: table,
    version: row.mv_version,
    protocol: row.protocol ? (JSON.parse(row.protocol) as ProtocolAction) : null,
    metadata: row.metadata ? (JSON.parse(row.metadata) as MetadataAction) : null,
    numFiles: row.num_files,
    sizeBytes: row.size_bytes,
    numRecords: row.num_records,
    lastCommitAt: row.last_commit_at.toISOString(),
    kind: row.kind,
    location: row.location,
  } };
}

/** Writes the summary at the watermark; `cacheRedis` must be the instance the reader's L2 reads. */
export async function warmTableSummary(pool: Pool, cacheRedis: Redis, prefix: string, table: string): Promise<TableSummary | undefined> {
  const found = await summaryRow(pool, table);
  if (!found) return undefined;
  const source = summarySource(found.summary.kind, found.summary.location);
  await cacheRedis.set(redisKeys(prefix).summary(table, found.tableId, found.summary.version, source), JSON.stringify(found.summary), 'EX', summaryTtlSeconds);
  return found.summary;
}
