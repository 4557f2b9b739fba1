/**
 * Whole file lists too big for the reader to hold (docs/design.md section
 * 6: reader memory within its cache budget): streamed to the client from
 * one REPEATABLE READ snapshot, which the stream holds until it ends or is
 * destroyed (a client gone away), and never kept in L1/L2.
 * - From the file pages when they answer the version: the gzip member is
 *   assembled on the way (header, the stored segments, the trailer with the
 *   combined CRC-32), nothing compressed.
 * - Else from the rows (file_index, the log tail or the log tables, as
 *   fileLines plans it), as NDJSON a batch at a time; the caller gzips it
 *   for clients that accept gzip.
 * "Too big" is judged before reading: the pages' compressed bytes, or the
 * table's file count at the watermark times ~64 bytes a compressed line.
 */
import { Readable } from 'node:stream';
import type { Pool, PoolClient } from '../../shared/db/index.ts';
import { gzipMember, pagesAnswer, pagesAt, pagesRange } from '../../shared/materialized/index.ts';
import { fileLines } from './files-source.ts';
import { noFilters } from './file-filters.ts';
import { beginSnapshotSql, planInSnapshot, type TableRef } from './snapshot-scope.ts';

export type WholeListStream =
  | { readonly source: 'file pages'; readonly level: 'l3'; readonly encoding: 'gzip'; readonly stream: Readable }
  | { readonly source: 'rows'; readonly level: 'l3' | 'l4'; readonly encoding: 'identity'; readonly stream: Readable };

/** Compressed bytes per add line, to judge a list without pages (measured: 58 MB per 1M files). */
const estimatedCompressedBytesPerFile = 64;
const batchBytes = 256 * 1024;

// serves: table_state primary key
const watermarkFileCountSql = 'SELECT num_files FROM deltameta.table_state WHERE table_id = $1';

export async function streamWholeListIfLarge(pool: Pool, table: TableRef, version: number, options: { aboveBytes: number; l3Enabled: boolean; filePagesEnabled: boolean }): Promise<WholeListStream | undefined> {
  const client = await pool.connect();
  let handedOver = false;
  try {
    await client.query(beginSnapshotSql);
    const range = options.l3Enabled && options.filePagesEnabled ? await pagesRange(client, table.tableId) : undefined;
    if (range && pagesAnswer(range, version)) {
      if (range.bodyBytes <= options.aboveBytes) return undefined;
      handedOver = true;
      return { source: 'file pages', level: 'l3', encoding: 'gzip', stream: Readable.from(pagesMember(client, table.tableId, version, version === range.version)) };
    }
    const { rows } = await client.query<{ num_files: number }>(watermarkFileCountSql, [table.tableId]);
    const estimate = range?.bodyBytes ?? (rows[0]?.num_files ?? 0) * estimatedCompressedBytesPerFile;
    if (estimate <= options.aboveBytes) return undefined;
    const plan = await planInSnapshot(client, table, version, options.l3Enabled);
    handedOver = true;
    return { source: 'rows', level: plan.level, encoding: 'identity', stream: Readable.from(ndjsonBatches(client, table, plan, version)) };
  } finally {
    if (!handedOver) await endSnapshot(client);
  }
}

async function endSnapshot(client: PoolClient): Promise<void> {
  const reusable = await client.query('ROLLBACK').then(() => true, () => false);
  client.release(reusable ? undefined : true);
}

async function* pagesMember(client: PoolClient, tableId: number, version: number, current: boolean): AsyncGenerator<Buffer> {
  try {
    yield* gzipMember(pagesAt(client, tableId, version, current));
  } finally {
    await endSnapshot(client);
  }
}

async function* ndjsonBatches(client: PoolClient, table: TableRef, plan: Awaited<ReturnType<typeof planInSnapshot>>, version: number): AsyncGenerator<Buffer> {
  try {
    let pending: string[] = [];
    let pendingBytes = 0;
    for await (const file of fileLines(client, table, plan, { version, filters: noFilters, after: undefined, limit: undefined })) {
      pending.push(file.line, '\n');
      pendingBytes += file.line.length + 1;
      if (pendingBytes >= batchBytes) {
        yield Buffer.from(pending.join(''), 'utf8');
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pending.length > 0) yield Buffer.from(pending.join(''), 'utf8');
  } finally {
    await endSnapshot(client);
  }
}
