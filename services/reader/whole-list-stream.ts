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
 *
 * A slow client must not hold a connection and a snapshot for as long as it
 * likes: streams draw from a small pool of their own (Reader.streamPool), so
 * they can never take the connections cached answers are produced from, and
 * a stream not sent within `sendTimeoutMs` is cut off (boundSendTime),
 * which ends its snapshot and frees its connection.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { Pool, PoolClient } from '../../shared/db/index.ts';
import { gzipMember, pagesAnswer, pagesAt, pagesRange } from '../../shared/materialized/index.ts';
import { fileLines } from './files-source.ts';
import { noFilters } from './file-filters.ts';
import { beginSnapshotSql, cancelOnAbort, planInSnapshot, requestAbandonment, type TableRef } from './snapshot-scope.ts';

export type WholeListStream =
  | { readonly source: 'file pages'; readonly level: 'l3'; readonly encoding: 'gzip'; readonly stream: Readable }
  | { readonly source: 'rows'; readonly level: 'l3' | 'l4'; readonly encoding: 'identity'; readonly stream: Readable };

/** Compressed bytes per add line, to judge a list without pages (measured: 58 MB per 1M files). */
const estimatedCompressedBytesPerFile = 64;
const batchBytes = 256 * 1024;

// serves: table_state primary key
const watermarkFileCountSql = 'SELECT num_files FROM deltameta.table_state WHERE table_id = $1';

/** The snapshot a stream reads from, and how to end it (once: later calls wait for the first). */
export interface StreamSnapshot {
  readonly client: PoolClient;
  readonly finish: () => Promise<void>;
}

/**
 * Runs `work` in a REPEATABLE READ snapshot on a connection of `pool` (the
 * streams' own, Reader.streamPool, never the one cached answers are
 * produced from), cancelled if the request is abandoned. What `work`
 * returns (a stream) owns the snapshot and must call `finish` when it ends;
 * when it returns undefined or throws, the snapshot ends here.
 */
export async function inStreamSnapshot<R>(pool: Pool, work: (snapshot: StreamSnapshot) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  // A client gone away mid-FETCH: cancel it, so the snapshot ends now rather than after the batch.
  const abandoned = requestAbandonment.getStore()?.signal;
  const stopWatching = cancelOnAbort(pool, client, abandoned);
  let ended: Promise<void> | undefined;
  const finish = (): Promise<void> => (ended ??= endSnapshot(client, stopWatching, abandoned));
  try {
    await client.query(beginSnapshotSql);
    const result = await work({ client, finish });
    if (result === undefined) await finish();
    return result;
  } catch (error) {
    await finish();
    throw error;
  }
}

export function streamWholeListIfLarge(pool: Pool, table: TableRef, version: number, options: { aboveBytes: number; l3Enabled: boolean; filePagesEnabled: boolean; maxTailActions?: number }): Promise<WholeListStream | undefined> {
  return inStreamSnapshot(pool, async ({ client, finish }): Promise<WholeListStream | undefined> => {
    const range = options.l3Enabled && options.filePagesEnabled ? await pagesRange(client, table.tableId) : undefined;
    if (range && pagesAnswer(range, version)) {
      if (range.bodyBytes <= options.aboveBytes) return undefined;
      return { source: 'file pages', level: 'l3', encoding: 'gzip', stream: endingWith(Readable.from(pagesMember(client, finish, table.tableId, version, version === range.version)), finish) };
    }
    const { rows } = await client.query<{ num_files: number }>(watermarkFileCountSql, [table.tableId]);
    const estimate = range?.bodyBytes ?? (rows[0]?.num_files ?? 0) * estimatedCompressedBytesPerFile;
    if (estimate <= options.aboveBytes) return undefined;
    const plan = await planInSnapshot(client, table, version, options.l3Enabled, options.maxTailActions);
    return { source: 'rows', level: plan.level, encoding: 'identity', stream: endingWith(Readable.from(ndjsonBatches(client, finish, table, plan, version)), finish) };
  });
}

/** A stream destroyed before its generator started never runs the generator's finally: end the snapshot on close too. */
export function endingWith(stream: Readable, finish: () => Promise<void>): Readable {
  stream.once('close', () => void finish());
  return stream;
}

async function endSnapshot(client: PoolClient, stopWatching: () => void, abandoned: AbortSignal | undefined): Promise<void> {
  stopWatching();
  const reusable = await client.query('ROLLBACK').then(() => true, () => false);
  // A cancel for an abandoned request may still be on its way: it must not land on the next user of this connection.
  client.release(reusable && abandoned?.aborted !== true ? undefined : true);
}

/**
 * Passes the stream's chunks through and destroys it (with `onOverrun`
 * first) when it has not sent everything within `timeoutMs`. Not a stall
 * detector: loopback and WAN buffers take megabytes from a client that reads
 * a few bytes a second, so "no progress for a while" is seen too late or
 * never; a deadline on the whole send bounds how long any client holds the
 * stream's connection and snapshot (set it well above the largest list's
 * transfer time on an honest link).
 */
export function boundSendTime(timeoutMs: number, onOverrun: () => void): Transform {
  const deadline = setTimeout(() => {
    onOverrun();
    bounded.destroy(new Error(`the list was not sent within ${timeoutMs} ms (DELTAMETA_READER_STREAM_SEND_TIMEOUT_MS)`));
  }, timeoutMs);
  deadline.unref();
  const bounded = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      clearTimeout(deadline);
      callback();
    },
    destroy(error, callback) {
      clearTimeout(deadline);
      callback(error);
    },
  });
  return bounded;
}

async function* pagesMember(client: PoolClient, finish: () => Promise<void>, tableId: number, version: number, current: boolean): AsyncGenerator<Buffer> {
  try {
    yield* gzipMember(pagesAt(client, tableId, version, current));
  } finally {
    await finish();
  }
}

async function* ndjsonBatches(client: PoolClient, finish: () => Promise<void>, table: TableRef, plan: Awaited<ReturnType<typeof planInSnapshot>>, version: number): AsyncGenerator<Buffer> {
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
    await finish();
  }
}
