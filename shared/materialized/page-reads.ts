/**
 * Reading file pages (sql/000005_file_pages.sql): the range of versions
 * they answer, and the pages of a version in path order, as stored. The
 * caller owns the snapshot (the reader's REPEATABLE READ transaction), so
 * the range and the pages agree.
 */
import { cursorBatches, type PoolClient } from '../db/index.ts';
import type { PageBody } from './page-format.ts';

export interface PagesRange {
  readonly minVersion: number;
  readonly version: number;
  /** of the current list (at `version`) */
  readonly pages: number;
  readonly rawBytes: number;
  readonly bodyBytes: number;
}

export interface StoredPage extends PageBody {
  readonly lowerPath: string;
  readonly lines: number;
}

/** serves: file_page_state primary key */
const pagesRangeSql = 'SELECT min_version, version, pages, raw_bytes, body_bytes FROM deltameta.file_page_state WHERE table_id = $1';

export async function pagesRange(client: PoolClient, tableId: number): Promise<PagesRange | undefined> {
  const { rows } = await client.query<{ min_version: number; version: number; pages: number; raw_bytes: number; body_bytes: number }>(
    pagesRangeSql, [tableId],
  );
  const row = rows[0];
  return row && { minVersion: row.min_version, version: row.version, pages: row.pages, rawBytes: row.raw_bytes, bodyBytes: row.body_bytes };
}

export function pagesAnswer(range: PagesRange | undefined, version: number): boolean {
  return range !== undefined && version >= range.minVersion && version <= range.version;
}

/** Pages per FETCH: ~2 MB of bodies. */
const fetchPages = 256;

/** serves: file_page_current, an ordered scan */
const currentPagesSql = 'SELECT lower_path, lines, raw_bytes, crc32, body FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL ORDER BY lower_path';

/** serves: file_page_at */
const pagesAtSql = `
  SELECT lower_path, lines, raw_bytes, crc32, body FROM deltameta.file_page
   WHERE table_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) ORDER BY lower_path`;

/**
 * The pages valid at `version`, in path order; `current`: the version is
 * the pages' newest. (Bodies arrive as hex text: node-pg's protocol parser
 * decodes every field as UTF-8, so binary results would be mangled.)
 */
export async function* pagesAt(client: PoolClient, tableId: number, version: number, current: boolean): AsyncGenerator<StoredPage> {
  const [sql, params] = current ? [currentPagesSql, [tableId]] : [pagesAtSql, [tableId, version]];
  type PageRow = { lower_path: string; lines: number; raw_bytes: number; crc32: number; body: Buffer };
  for await (const rows of cursorBatches<PageRow>(client, sql, params, { batchRows: fetchPages, name: 'file_pages' })) {
    for (const row of rows) {
      yield {
        lowerPath: row.lower_path,
        lines: row.lines, rawBytes: row.raw_bytes, crc32: row.crc32 >>> 0, body: row.body,
      };
    }
  }
}
