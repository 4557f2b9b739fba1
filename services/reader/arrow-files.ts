/**
 * GET /v1/tables/{name}/files as an Arrow IPC stream (Accept:
 * application/vnd.apache.arrow.stream): the same files as the NDJSON list,
 * in the columns of delta-rs's get_add_actions(flatten=True) for the
 * table's schema at the version (shared/arrow), optionally projected with
 * `fields=`. Buffers are LZ4_FRAME-compressed inside the stream, so bodies
 * go out as identity.
 * - A whole list is streamed from one snapshot, like the big NDJSON lists
 *   (whole-list-stream.ts): from the Arrow segments when they answer the
 *   version in its layout (a few large LZ4 batches, sql/000010), else from
 *   the file pages' stored batches when they do (one small batch a page),
 *   each framed as schema message, the batches as stored, end-of-stream:
 *   nothing encoded; else encoded batch by batch from the rows. A list
 *   from the segments says its size before it is sent (`bytes`), so the
 *   route can keep it in L1 as it goes.
 * - A page or a filtered list is encoded from its lines (the NDJSON route's
 *   paging, so both formats page alike) and kept like any answer.
 */
import { Readable } from 'node:stream';
import type { Pool, PoolClient } from '../../shared/db/index.ts';
import {
  arrowPageBatches, arrowPagesLayout, arrowSegmentBodies, arrowSegmentsAt, encodeAddLines, endOfStream, layoutAt, projectLayout, schemaMessage, type AddActionsLayout,
} from '../../shared/arrow/index.ts';
import { BadRequestError, NotFoundError } from '../../shared/errors/index.ts';
import { pagesAnswer, pagesRange } from '../../shared/materialized/index.ts';
import { noFilters } from './file-filters.ts';
import { fileLines } from './files-source.ts';
import type { BodyBound, EncodedBody } from './response-body.ts';
import { planInSnapshot, type TableRef } from './snapshot-scope.ts';
import { endingWith, inStreamSnapshot } from './whole-list-stream.ts';

/** Rows per record batch when encoding per request: ~1-2 MB of columns. */
const batchRows = 8192;

/** `fields=a,b,c`: the columns to keep, in the stream's own order; undefined keeps all. */
export function parseFields(raw: string | undefined): readonly string[] | undefined {
  if (raw === undefined) return undefined;
  const fields = raw.split(',').map((name) => name.trim());
  if (fields.length === 0 || fields.some((name) => name === '')) throw new BadRequestError('fields: a comma-separated list of column names, none empty');
  return fields;
}

/** The layout at `version`, projected to `fields`: a name the stream does not have is a 400 naming it. */
export async function arrowLayoutAt(client: PoolClient, tableId: number, version: number, fields: readonly string[] | undefined): Promise<{ layout: AddActionsLayout; projected: boolean }> {
  const layout = await layoutAt(client, tableId, version);
  if (!layout) throw new NotFoundError(`the table has no metaData at version ${version}`);
  if (fields === undefined) return { layout, projected: false };
  const projected = projectLayout(layout, fields);
  if ('unknown' in projected) throw new BadRequestError(`fields: no column "${projected.unknown}" in the file list at version ${version} (columns: ${layout.columns.map((column) => column.name).join(', ')})`);
  return { layout: projected, projected: true };
}

/** Record batch messages of at most batchRows lines each, from lines in order. */
async function* encodedBatches(layout: AddActionsLayout, lines: AsyncIterable<string>): AsyncGenerator<Buffer> {
  let pending: string[] = [];
  for await (const line of lines) {
    pending.push(line);
    if (pending.length >= batchRows) {
      yield encodeAddLines(layout, pending);
      pending = [];
    }
  }
  if (pending.length > 0) yield encodeAddLines(layout, pending);
}

/** A page or filtered list as one Arrow stream, refused (bound) once it passes bound.maxBytes. */
export async function encodeArrowBody(layout: AddActionsLayout, lines: AsyncIterable<string>, bound: BodyBound | undefined): Promise<EncodedBody> {
  const parts: Buffer[] = [schemaMessage(layout)];
  let bytes = 0;
  for await (const batch of encodedBatches(layout, lines)) {
    parts.push(batch);
    bytes += batch.length;
    if (bound && bytes > bound.maxBytes) throw bound.refusal();
  }
  parts.push(endOfStream);
  return { body: Buffer.concat(parts), encoding: 'identity' };
}

export interface ArrowListStream {
  readonly source: 'arrow segments' | 'file pages' | 'rows';
  readonly level: 'l3' | 'l4';
  readonly stream: Readable;
  /** the stream's exact length, when known before sending (the segments) */
  readonly bytes?: number;
}

/**
 * A whole list in Arrow, streamed from one snapshot on `pool` (the streams'
 * own, Reader.streamPool); the snapshot ends when the stream ends or is
 * destroyed. A bad `fields` is thrown before anything is sent.
 */
export function streamArrowWholeList(pool: Pool, table: TableRef, version: number, fields: readonly string[] | undefined, options: { l3Enabled: boolean; filePagesEnabled: boolean; arrowSegmentsEnabled: boolean; maxTailActions?: number }): Promise<ArrowListStream> {
  return inStreamSnapshot(pool, async ({ client, finish }): Promise<ArrowListStream> => {
    const { layout, projected } = await arrowLayoutAt(client, table.tableId, version, fields);
    const stored = options.l3Enabled && options.filePagesEnabled && !projected;
    const segments = stored && options.arrowSegmentsEnabled ? await arrowSegmentsAt(client, table.tableId, version, layout.fingerprint) : undefined;
    if (segments) {
      const bytes = schemaMessage(layout).length + segments.bodyBytes + endOfStream.length;
      return { source: 'arrow segments', level: 'l3', bytes, stream: endingWith(Readable.from(framed(layout, arrowSegmentBodies(client, table.tableId), finish)), finish) };
    }
    const range = stored ? await pagesRange(client, table.tableId) : undefined;
    if (range && pagesAnswer(range, version) && (await arrowPagesLayout(client, table.tableId, version)) === layout.fingerprint) {
      const batches = arrowPageBatches(client, table.tableId, version, version === range.version);
      return { source: 'file pages', level: 'l3', stream: endingWith(Readable.from(framed(layout, batches, finish)), finish) };
    }
    const plan = await planInSnapshot(client, table, version, options.l3Enabled, options.maxTailActions);
    async function* lines(): AsyncGenerator<string> {
      for await (const file of fileLines(client, table, plan, { version, filters: noFilters, after: undefined, limit: undefined })) yield file.line;
    }
    return { source: 'rows', level: plan.level, stream: endingWith(Readable.from(framed(layout, encodedBatches(layout, lines()), finish)), finish) };
  });
}

async function* framed(layout: AddActionsLayout, batches: AsyncIterable<Buffer>, finish: () => Promise<void>): AsyncGenerator<Buffer> {
  try {
    yield schemaMessage(layout);
    yield* batches;
    yield endOfStream;
  } finally {
    await finish();
  }
}
