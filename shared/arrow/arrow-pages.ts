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

/** serves: file_page_current, an ordered scan */
const currentBatchesSql = 'SELECT lines, arrow_body FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL ORDER BY lower_path';
/** serves: file_page_at */
const batchesAtSql = `
  SELECT lines, arrow_body FROM deltameta.file_page
   WHERE table_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) ORDER BY lower_path`;

const fetchPages = 256;
let cursorCounter = 0;

/**
 * The record batch messages of the pages valid at `version`, in path order
 * (empty pages have none). Fetched in binary format, one FETCH ahead:
 * bytea as text is hex, twice the bytes and a decode per byte (~0.3 s per
 * 100k files here); binary is the stored bytes as they are.
 */
export async function* arrowPageBatches(client: PoolClient, tableId: number, version: number, current: boolean): AsyncGenerator<Buffer> {
  const [sql, params] = current ? [currentBatchesSql, [tableId]] : [batchesAtSql, [tableId, version]];
  const cursor = `arrow_pages_${++cursorCounter}`;
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql.replace('SELECT lines, arrow_body', 'SELECT arrow_body')} `, params);
  const fetch = (): Promise<Array<{ arrow_body: Buffer | null }>> =>
    // node-pg's QueryConfig types leave `binary` out; it asks for every result column in binary format.
    client.query<{ arrow_body: Buffer | null }>({ text: `FETCH FORWARD ${fetchPages} FROM ${cursor}`, binary: true } as { text: string }).then((result) => result.rows);
  let rows = await fetch();
  for (;;) {
    const more = rows.length >= fetchPages;
    const ahead = more ? fetch() : undefined;
    ahead?.catch(() => undefined);
    for (const row of rows) {
      // The layout check before the stream (arrowPagesLayout) makes a missing batch a broken invariant, not a request error.
      if (!row.arrow_body) throw new Error(`file page of table ${tableId} at version ${version} has no Arrow batch`);
      if (row.arrow_body.length > 0) yield row.arrow_body;
    }
    if (!ahead) break;
    rows = await ahead;
  }
  await client.query(`CLOSE ${cursor}`);
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
