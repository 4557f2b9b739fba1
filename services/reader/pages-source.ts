/**
 * A whole-table file list from the refresher's file pages
 * (sql/000005_file_pages.sql): the pages valid at the version, in path
 * order, framed as one gzip member (header, the pages' DEFLATE segments as
 * stored, trailer with the combined CRC-32: gzipMember). Nothing is decoded or
 * compressed: ~58 MB of finished bytes per 1M files. A list under
 * `compressMinBytes` is inflated and kept as identity, like any small body.
 * Inside the answer's snapshot (snapshot-scope.ts).
 */
import { gunzipSync } from 'node:zlib';
import type { PoolClient } from '../../shared/db/index.ts';
import { GzipAssembler, gzipMember, pagesAnswer, pagesAt, pagesRange } from '../../shared/materialized/index.ts';
import type { EncodedBody } from './response-body.ts';

/** undefined when the pages do not answer this version (not built yet, behind the watermark, or older than they reach) */
export async function pagesListBody(client: PoolClient, tableId: number, version: number, compressMinBytes: number): Promise<EncodedBody | undefined> {
  const range = await pagesRange(client, tableId);
  if (!range || !pagesAnswer(range, version)) return undefined;
  const assembler = new GzipAssembler();
  const chunks: Buffer[] = [];
  for await (const chunk of gzipMember(pagesAt(client, tableId, version, version === range.version), assembler)) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  if (assembler.uncompressedBytes < compressMinBytes) return { body: gunzipSync(body), encoding: 'identity' };
  return { body, encoding: 'gzip' };
}
