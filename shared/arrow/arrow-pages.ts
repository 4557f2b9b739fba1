/**
 * The Arrow side of the file pages (sql/000009_arrow_pages.sql): each page
 * row keeps, beside its gzip segment, the same lines as one Arrow record
 * batch message (arrow_body) in the layout named by arrow_layout. Every page
 * valid at a version has that version's layout (a layout change rewrites
 * every page: shared/materialized/file-pages.ts), so the first page ('')
 * speaks for all of them. The caller owns the snapshot.
 */
import { copyOutValues, sqlInteger, type PoolClient } from '../db/index.ts';

/** serves: file_page_at (table_id, lower_path = '', valid_from) */
const firstPageLayoutSql = `
  SELECT arrow_layout FROM deltameta.file_page
   WHERE table_id = $1 AND lower_path = '' AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)`;

/** The layout fingerprint of the pages valid at `version`; null when they have no Arrow batches (written before 000009). */
export async function arrowPagesLayout(client: PoolClient, tableId: number, version: number): Promise<string | null> {
  const { rows } = await client.query<{ arrow_layout: string | null }>(firstPageLayoutSql, [tableId, version]);
  return rows[0]?.arrow_layout ?? null;
}

/** serves: file_page_current (current) or file_page_at, an ordered scan; inlined for COPY (no parameters). */
const pageBatchesSql = (tableId: number, version: number, current: boolean): string => (current
  ? `SELECT arrow_body FROM deltameta.file_page WHERE table_id = ${sqlInteger(tableId)} AND valid_to IS NULL ORDER BY lower_path`
  : `SELECT arrow_body FROM deltameta.file_page
      WHERE table_id = ${sqlInteger(tableId)} AND valid_from <= ${sqlInteger(version)} AND (valid_to IS NULL OR valid_to > ${sqlInteger(version)})
      ORDER BY lower_path`);

/**
 * The record batch messages of the pages valid at `version`, in path order,
 * as the bytes of their concatenation arrive (empty pages have none), by
 * binary COPY (copyOutValues: 235 MB per 1M files in ~0.2 s, against ~1 s
 * as rows through a cursor). The layout check before the stream
 * (arrowPagesLayout) makes a page without a batch a broken invariant: the
 * stream fails rather than leave its files out.
 */
export function arrowPageBatches(client: PoolClient, tableId: number, version: number, current: boolean): AsyncGenerator<Buffer> {
  return copyOutValues(client, pageBatchesSql(tableId, version, current), {
    pieces: true, nullIsError: `a file page of table ${tableId} at version ${version} has no Arrow batch`,
  });
}

/** serves: file_arrow_segment_state primary key */
const segmentsStateSql = 'SELECT version, layout, segments, body_bytes FROM deltameta.file_arrow_segment_state WHERE table_id = $1';

export interface ArrowSegmentsAt {
  readonly segments: number;
  /** the record batches' bytes together */
  readonly bodyBytes: number;
}

/**
 * The Arrow segments (sql/000010_arrow_segments.sql) when they answer
 * `version` in the layout `fingerprint`: they are of one version only, the
 * one their state names. The caller owns the snapshot.
 */
export async function arrowSegmentsAt(client: PoolClient, tableId: number, version: number, fingerprint: string): Promise<ArrowSegmentsAt | undefined> {
  const { rows } = await client.query<{ version: string; layout: string; segments: number; body_bytes: string }>(segmentsStateSql, [tableId]);
  const state = rows[0];
  if (!state || Number(state.version) !== version || state.layout !== fingerprint) return undefined;
  return { segments: state.segments, bodyBytes: Number(state.body_bytes) };
}

/** serves: file_arrow_segment primary key, an ordered scan */
const segmentBodiesSql = (tableId: number): string => `SELECT body FROM deltameta.file_arrow_segment WHERE table_id = ${sqlInteger(tableId)} ORDER BY lower_path`;

/**
 * The segments' record batch messages in path order, as the bytes of their
 * concatenation arrive (slices, not whole messages: a stream needs no more),
 * by binary COPY (copyOutValues: ~5x faster than rows for values of
 * megabytes).
 */
export function arrowSegmentBodies(client: PoolClient, tableId: number): AsyncGenerator<Buffer> {
  return copyOutValues(client, segmentBodiesSql(tableId), { pieces: true });
}
