/**
 * A partition-pruned list in Arrow from the file pages (sql/000012): the
 * stored record batch of every page whose lines are all of a matching
 * partition goes out as it is, and only the matching lines of the mixed
 * pages (a page that spans two partitions, at most a few per partition when
 * paths group files by partition) are encoded. Encoding every matching line
 * instead costs ~10 µs each: 0.2-0.3 s for the 1% of a 1M-file table.
 *
 * Only where it is exact and cheap; undefined sends the caller back to the
 * lines (files-source.ts): partition filters only (no stats bounds), the
 * version the current pages and the materialized state are both at (the
 * count of matching files comes from partition_summary, at the watermark),
 * pages carrying Arrow batches in the version's layout, and mixed pages
 * holding no more than a few times the lines still to find. The number of
 * files found must equal partition_summary's count, or it gives up rather
 * than answer with a different list.
 */
import type { AddActionsLayout } from '../../shared/arrow/index.ts';
import { encodeAddLines, endOfStream, schemaMessage } from '../../shared/arrow/index.ts';
import { copyOutValues, sqlInteger, type PoolClient } from '../../shared/db/index.ts';
import type { AddAction } from '../../shared/delta/index.ts';
import { filtersSql, matchesFilters, type FileFilters } from './file-filters.ts';

/** Mixed pages are read line by line only while they hold at most this many lines per line still to find (and at least this floor). */
const mixedLinesPerMissing = 8;
const mixedLinesFloor = 20_000;

// serves: table_state and file_page_state primary keys
const versionsSql = `
  SELECT (SELECT mv_version FROM deltameta.table_state WHERE table_id = $1)::bigint AS mv,
         (SELECT version FROM deltameta.file_page_state WHERE table_id = $1)::bigint AS pages,
         (SELECT arrow_layout FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL AND lower_path = '') AS layout`;

/** A text literal for SQL inlined into COPY (which takes no parameters): standard strings, quotes doubled. */
function sqlText(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The partition filters as a condition on a jsonb `partition_values`, values inlined (filtersSql's semantics). */
function inlinedPartitionCondition(filters: FileFilters): string {
  return filters.partitions.map((filter) => (filter.value === null
    ? `nullif(partition_values ->> ${sqlText(filter.column)}, '') IS NULL`
    : `partition_values ->> ${sqlText(filter.column)} = ${sqlText(filter.value)}`)).join(' AND ');
}

/** A page of the matching partitions (pure) or of several (mixed); the others hold no matching file and are not read. */
interface PageMeta {
  readonly lower_path: string;
  /** the next page's lower bound (a mixed page's range ends there); null for the last page */
  readonly upper_path: string | null;
  readonly lines: number;
  readonly pure: boolean;
  readonly mixed: boolean;
  /** the stored batch's size, for a pure page (from its TOAST pointer: the body is not read) */
  readonly arrow_bytes: number;
}

/** The Arrow stream's parts (schema, batches, end), or undefined where this path does not apply. */
export async function prunedArrowFromPages(
  client: PoolClient, tableId: number, version: number, filters: FileFilters, layout: AddActionsLayout, maxBytes: number,
): Promise<Buffer[] | undefined> {
  if (filters.partitions.length === 0 || filters.stats.length > 0) return undefined;
  if (new Set(filters.partitions.map((filter) => filter.column)).size !== filters.partitions.length) return undefined;
  const { rows: [state] } = await client.query<{ mv: string | null; pages: string | null; layout: string | null }>(versionsSql, [tableId]);
  if (!state || Number(state.mv) !== version || Number(state.pages) !== version || state.layout !== layout.fingerprint) return undefined;

  const condition = filtersSql({ partitions: filters.partitions, stats: [] }, 2);
  // serves: partition_summary primary key (the table's partitions)
  const { rows: [counted] } = await client.query<{ files: string }>(
    `SELECT coalesce(sum(num_files), 0)::bigint AS files FROM deltameta.partition_summary WHERE table_id = $1 AND ${condition.sql}`, [tableId, ...condition.params],
  );
  const expected = Number(counted?.files ?? 0);
  // serves: file_page_current, an ordered scan of the current pages (no bodies: they are stored out of line);
  // only the pure and mixed ones come back (a few hundred rows, not the table's thousands of pages).
  const { rows: pages } = await client.query<PageMeta>(
    `SELECT lower_path, lines, pure, mixed,
            CASE WHEN mixed THEN (SELECT min(next.lower_path) FROM deltameta.file_page next
                                   WHERE next.table_id = $1 AND next.valid_to IS NULL AND next.lower_path > page.lower_path) END AS upper_path,
            CASE WHEN pure THEN octet_length(arrow_body) ELSE 0 END AS arrow_bytes
       FROM (SELECT lower_path, lines, arrow_body, partition_values IS NOT NULL AND ${condition.sql} AS pure, partition_values IS NULL AS mixed
               FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL) page
      WHERE pure OR mixed ORDER BY lower_path`, [tableId, ...condition.params],
  );
  const inPure = pages.reduce((sum, page) => sum + (page.pure ? page.lines : 0), 0);
  // Past the byte bound the lines' path decides (it refuses an unpaged list that large, naming the bound).
  if (pages.reduce((sum, page) => sum + page.arrow_bytes, 0) > maxBytes) return undefined;
  const missing = expected - inPure;
  if (missing < 0) return undefined;
  const mixedLines = pages.reduce((sum, page) => sum + (page.mixed ? page.lines : 0), 0);
  if (missing > 0 && mixedLines > Math.max(mixedLinesFloor, missing * mixedLinesPerMissing)) return undefined;

  const found = missing > 0 ? await matchingLinesOfMixedPages(client, tableId, version, pages, filters) : new Map<number, string[]>();
  if ([...found.values()].reduce((sum, lines) => sum + lines.length, 0) !== missing) return undefined;
  const bodies = inPure === 0 ? [] : await pureBodies(client, tableId, filters);
  if (bodies.length !== pages.filter((page) => page.pure).length) return undefined;

  const parts: Buffer[] = [schemaMessage(layout)];
  let next = 0;
  pages.forEach((page, index) => {
    if (page.pure) parts.push(bodies[next++] as Buffer);
    const lines = found.get(index);
    if (lines && lines.length > 0) parts.push(encodeAddLines(layout, lines));
  });
  parts.push(endOfStream);
  return parts;
}

/** The stored batches of the pages of a matching partition, in path order (binary COPY: bytea as bytes). */
async function pureBodies(client: PoolClient, tableId: number, filters: FileFilters): Promise<Buffer[]> {
  const sql = `SELECT arrow_body FROM deltameta.file_page
    WHERE table_id = ${sqlInteger(tableId)} AND valid_to IS NULL AND partition_values IS NOT NULL AND ${inlinedPartitionCondition(filters)}
    ORDER BY lower_path`;
  const bodies: Buffer[] = [];
  for await (const body of copyOutValues(client, sql, { nullIsError: `a file page of table ${tableId} has no Arrow batch` })) bodies.push(body);
  return bodies;
}

/** The live lines of path ranges (an open upper bound: to the end), each by its index. serves: file_index_live, one range scan per range */
const rangeLinesSql = (open: boolean): string => `
  SELECT r.range, f.add_line FROM unnest($2::int[], $3::text[], $4::text[]) AS r(range, lower, upper)
   CROSS JOIN LATERAL (SELECT path, dv_id, add_line FROM deltameta.file_index
     WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $5
       AND path >= r.lower COLLATE "C" ${open ? '' : 'AND path < r.upper COLLATE "C"'}
     ORDER BY path, dv_id OFFSET 0) f
   ORDER BY r.range, f.path, f.dv_id`;

/**
 * The matching live lines of each mixed page (by its index in `pages`), read
 * by its path range. The last page's range has no upper bound: it is read
 * apart, since "upper IS NULL OR path < upper" would turn every range's
 * index scan into a scan to the end of the table.
 */
async function matchingLinesOfMixedPages(client: PoolClient, tableId: number, version: number, pages: readonly PageMeta[], filters: FileFilters): Promise<Map<number, string[]>> {
  const ranges = pages.flatMap((page, index) => (page.mixed ? [{ index, lower: page.lower_path, upper: page.upper_path ?? undefined }] : []));
  const found = new Map<number, string[]>();
  for (const open of [false, true]) {
    const chosen = ranges.filter((range) => (range.upper === undefined) === open);
    if (chosen.length === 0) continue;
    const { rows } = await client.query<{ range: number; add_line: string }>(rangeLinesSql(open), [
      tableId, chosen.map((range) => range.index), chosen.map((range) => range.lower), chosen.map((range) => range.upper ?? null), version,
    ]);
    for (const row of rows) {
      const { add } = JSON.parse(row.add_line) as { add: AddAction };
      if (!matchesFilters(add, filters)) continue;
      const lines = found.get(row.range) ?? [];
      lines.push(row.add_line);
      found.set(row.range, lines);
    }
  }
  return found;
}
