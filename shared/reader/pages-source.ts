/**
 * A whole-table file list from the refresher's file pages
 * (sql/000005_file_pages.sql): the pages valid at the version, in path
 * order, framed as one gzip member (header, the pages' DEFLATE segments as
 * stored, trailer with the combined CRC-32). Nothing is decoded or
 * compressed: ~55 MB of finished bytes per 1M files. A list under
 * `compressMinBytes` is inflated and kept as identity, like any small body.
 * Inside the answer's snapshot (snapshot-scope.ts).
 */
import { Readable } from 'node:stream';
import type { Pool, PoolClient } from '../db/index.ts';
import { GzipAssembler, gzipHeader, inflatePage, pagesAnswer, pagesAt, pagesRange } from '../refresh/index.ts';
import type { EncodedBody } from './response-body.ts';

/** undefined when the pages do not answer this version (not built yet, behind the watermark, or older than they reach) */
export async function pagesListBody(client: PoolClient, tableId: number, version: number, compressMinBytes: number): Promise<EncodedBody | undefined> {
  const range = await pagesRange(client, tableId);
  if (!range || !pagesAnswer(range, version)) return undefined;
  const assembler = new GzipAssembler();
  const bodies: Buffer[] = [];
  for await (const page of pagesAt(client, tableId, version, version === range.version)) {
    assembler.add(page);
    if (page.body.length > 0) bodies.push(page.body);
  }
  if (assembler.uncompressedBytes < compressMinBytes) {
    return { body: Buffer.concat(bodies.map(inflatePage)), encoding: 'identity' };
  }
  return { body: Buffer.concat([gzipHeader, ...bodies, assembler.trailer()]), encoding: 'gzip' };
}

/**
 * A list too big to keep (compressed bytes of the current pages above
 * `aboveBytes`) as a gzip stream read page by page from one REPEATABLE READ
 * snapshot, which the stream holds until it ends or the client goes away.
 * undefined (nothing held) when the pages do not answer the version or the
 * list is small enough to go through the cache levels.
 */
export async function streamPagesIfLarge(pool: Pool, tableId: number, version: number, aboveBytes: number): Promise<Readable | undefined> {
  const client = await pool.connect();
  let handedOver = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const range = await pagesRange(client, tableId);
    if (!range || !pagesAnswer(range, version) || range.bodyBytes <= aboveBytes) return undefined;
    handedOver = true;
    return Readable.from(gzipMember(client, tableId, version, version === range.version), { objectMode: false });
  } finally {
    if (!handedOver) await endSnapshot(client);
  }
}

async function endSnapshot(client: PoolClient): Promise<void> {
  const reusable = await client.query('ROLLBACK').then(() => true, () => false);
  client.release(reusable ? undefined : true);
}

async function* gzipMember(client: PoolClient, tableId: number, version: number, current: boolean): AsyncGenerator<Buffer> {
  try {
    yield gzipHeader;
    const assembler = new GzipAssembler();
    for await (const page of pagesAt(client, tableId, version, current)) {
      assembler.add(page);
      if (page.body.length > 0) yield page.body;
    }
    yield assembler.trailer();
  } finally {
    await endSnapshot(client);
  }
}
