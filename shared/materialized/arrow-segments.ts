/**
 * refreshArrowSegments: brings a table's Arrow segments
 * (sql/000010_arrow_segments.sql) to the version its file pages answer.
 *
 * The current pages, in path order, are grouped into segments of about
 * `targetRows` rows. A page starts a new segment when its own lower bound
 * hashes under a threshold proportional to its lines (content-defined, as
 * in rsync or restic: an edit elsewhere moves no boundary) once the
 * segment holds a quarter of the target, or when the segment would pass
 * four times the target. A segment whose range, page count and pages
 * (none newer than the segment) are unchanged is kept; the others are
 * coalesced again from their pages' Arrow batches (shared/arrow/coalesce.ts)
 * and the rest deleted. A commit costs the segments it touched.
 *
 * Runs after a pages pass, under the same session lock and in one
 * REPEATABLE READ snapshot, so the pages it reads are one version's. The
 * next segment's batches are read while the worker coalesces this one.
 */
import { arrowPagesLayout, coalesceBatchesInWorker, versionLayoutAt, type VersionLayout } from '../arrow/index.ts';
import { copyOutValues, sqlInteger, type Pool, type PoolClient } from '../db/index.ts';
import { underPagesLock } from './pages-lock.ts';
import { resolveTable, type TableRef } from './table-ref.ts';

export interface ArrowSegmentsOptions {
  /** rows a segment aims at; default 65,536 (pyarrow reads 64k-row LZ4 batches at ~30 ms per 1M files) */
  readonly targetRows?: number;
  /**
   * Tables with fewer live files get no segments (and lose theirs): their
   * pages' batches are few enough to read as they are (10k files: ~150),
   * and a pass per commit would cost a busy pipeline of small tables more
   * than it saves. Default 10,000.
   */
  readonly minFiles?: number;
}

export interface ArrowSegmentsResult {
  /** the version the segments answer now; null without pages in Arrow */
  readonly version: number | null;
  /** segments after the call (0 when nothing had to be done) */
  readonly segments: number;
  readonly segmentsWritten: number;
  /** segments whose range no longer starts a segment */
  readonly segmentsDeleted: number;
  /** page batches read and coalesced: the cost of the call */
  readonly pageBatchesRead: number;
}

export interface SegmentPage {
  readonly lowerPath: string;
  readonly lines: number;
  readonly validFrom: number;
}

export interface SegmentGroup {
  readonly lower: string;
  /** the next segment's lower bound; null for the last */
  readonly upper: string | null;
  readonly pages: number;
  readonly rows: number;
  /** the newest page's valid_from */
  readonly newest: number;
}

/** FNV-1a of the string's UTF-16 code units: stable, cheap, spread enough for boundaries. */
function boundaryHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** The pages (in path order) grouped into segments; pure (test/unit/arrow-segments.test.ts). */
export function groupPages(pages: readonly SegmentPage[], targetRows: number): SegmentGroup[] {
  const groups: Array<Omit<SegmentGroup, 'upper'>> = [];
  let open: { lower: string; pages: number; rows: number; newest: number } | undefined;
  for (const page of pages) {
    const cut = open !== undefined && open.rows > 0 && (
      (open.rows >= targetRows / 4 && boundaryHash(page.lowerPath) < Math.min(1, page.lines / targetRows) * 0x100000000)
      || open.rows + page.lines > targetRows * 4);
    if (!open || cut) {
      if (open) groups.push(open);
      open = { lower: page.lowerPath, pages: 0, rows: 0, newest: page.validFrom };
    }
    open.pages++;
    open.rows += page.lines;
    open.newest = Math.max(open.newest, page.validFrom);
  }
  if (open) groups.push(open);
  return groups.map((group, index) => ({ ...group, upper: groups[index + 1]?.lower ?? null }));
}

/** serves: file_page_state, table_state and file_arrow_segment_state primary keys */
const statesSql = `
  SELECT p.version AS pages_version, s.version AS segments_version, s.layout, t.num_files
    FROM deltameta.file_page_state p
    JOIN deltameta.table_state t ON t.table_id = p.table_id
    LEFT JOIN deltameta.file_arrow_segment_state s ON s.table_id = p.table_id
   WHERE p.table_id = $1`;
/** serves: table_state and file_arrow_segment_state primary keys */
const smallTableSql = `
  SELECT s.num_files, a.version FROM deltameta.table_state s LEFT JOIN deltameta.file_arrow_segment_state a ON a.table_id = s.table_id
   WHERE s.table_id = $1`;
/** serves: file_arrow_segment and file_arrow_segment_state primary keys */
const dropSegmentsSql = [
  'DELETE FROM deltameta.file_arrow_segment WHERE table_id = $1',
  'DELETE FROM deltameta.file_arrow_segment_state WHERE table_id = $1',
];
/** serves: file_page_current, an ordered scan of the table's current pages (no bodies) */
const currentPagesSql = 'SELECT lower_path, lines, valid_from FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL ORDER BY lower_path';
/** serves: file_arrow_segment primary key */
const segmentsSql = 'SELECT lower_path, upper_path, built_version, pages FROM deltameta.file_arrow_segment WHERE table_id = $1';
/** serves: file_arrow_segment primary key */
const deleteOtherSegmentsSql = 'DELETE FROM deltameta.file_arrow_segment WHERE table_id = $1 AND lower_path <> ALL($2::text[])';
/** serves: file_page_current, one range scan. Inlined (binary COPY: copyOutValues, ~5x faster than rows for bytea), bounds escaped. */
const groupBatchesSql = (client: PoolClient, tableId: number, group: SegmentGroup): string => `
  SELECT arrow_body FROM deltameta.file_page
   WHERE table_id = ${sqlInteger(tableId)} AND valid_to IS NULL AND lower_path >= ${client.escapeLiteral(group.lower)}
     ${group.upper === null ? '' : `AND lower_path < ${client.escapeLiteral(group.upper)}`}
   ORDER BY lower_path`;
/** serves: file_arrow_segment primary key */
const upsertSegmentSql = `
  INSERT INTO deltameta.file_arrow_segment (table_id, lower_path, upper_path, built_version, pages, rows, body)
  VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (table_id, lower_path) DO UPDATE SET
    upper_path = excluded.upper_path, built_version = excluded.built_version, pages = excluded.pages, rows = excluded.rows, body = excluded.body`;
/** octet_length of a stored body reads its TOAST header only. serves: file_arrow_segment primary key, file_arrow_segment_state primary key */
const recordStateSql = `
  INSERT INTO deltameta.file_arrow_segment_state (table_id, version, layout, segments, rows, body_bytes)
  SELECT $1, $2, $3, count(*), coalesce(sum(rows), 0), coalesce(sum(octet_length(body)), 0) FROM deltameta.file_arrow_segment WHERE table_id = $1
  ON CONFLICT (table_id) DO UPDATE SET
    version = excluded.version, layout = excluded.layout, segments = excluded.segments, rows = excluded.rows,
    body_bytes = excluded.body_bytes, built_at = now()`;

export async function refreshArrowSegments(pool: Pool, table: TableRef, options: ArrowSegmentsOptions = {}): Promise<ArrowSegmentsResult> {
  const targetRows = options.targetRows ?? 65_536;
  const minFiles = options.minFiles ?? 10_000;
  const { tableId } = await resolveTable(pool, table);
  // Most tables of a busy pipeline are small: one read decides that, without the lock and a transaction per pages pass.
  const { rows } = await pool.query<{ num_files: string; version: string | null }>(smallTableSql, [tableId]);
  const small = rows[0];
  if (small && Number(small.num_files) < minFiles && small.version === null) {
    return { version: null, segments: 0, segmentsWritten: 0, segmentsDeleted: 0, pageBatchesRead: 0 };
  }
  return underPagesLock(pool, tableId, (client) => maintainSegments(client, tableId, targetRows, minFiles));
}

/** The layout every page at `version` is in, when the pages have Arrow batches in that version's layout. */
async function pagesLayout(client: PoolClient, tableId: number, version: number): Promise<VersionLayout | undefined> {
  const stored = await arrowPagesLayout(client, tableId, version);
  if (stored === null) return undefined;
  const layout = await versionLayoutAt(client, tableId, version);
  return layout?.layout.fingerprint === stored ? layout : undefined;
}

async function groupBatches(client: PoolClient, tableId: number, group: SegmentGroup): Promise<Buffer[]> {
  const batches: Buffer[] = [];
  for await (const body of copyOutValues(client, groupBatchesSql(client, tableId, group))) batches.push(body);
  return batches;
}

async function maintainSegments(client: PoolClient, tableId: number, targetRows: number, minFiles: number): Promise<ArrowSegmentsResult> {
  const none = { segments: 0, segmentsWritten: 0, segmentsDeleted: 0, pageBatchesRead: 0 };
  const { rows: states } = await client.query<{ pages_version: string; segments_version: string | null; layout: string | null; num_files: string }>(statesSql, [tableId]);
  const state = states[0];
  if (!state) return { version: null, ...none };
  if (Number(state.num_files) < minFiles) {
    if (state.segments_version !== null) for (const sql of dropSegmentsSql) await client.query(sql, [tableId]);
    return { version: null, ...none };
  }
  const version = Number(state.pages_version);
  const versionLayout = await pagesLayout(client, tableId, version);
  if (!versionLayout) return { version: null, ...none };
  const { layout, metadata } = versionLayout;
  const sameLayout = state.layout === layout.fingerprint;
  if (sameLayout && state.segments_version !== null && Number(state.segments_version) === version) return { version, ...none };
  const { rows: pageRows } = await client.query<{ lower_path: string; lines: number; valid_from: string }>(currentPagesSql, [tableId]);
  const groups = groupPages(pageRows.map((row) => ({ lowerPath: row.lower_path, lines: row.lines, validFrom: Number(row.valid_from) })), targetRows);
  const { rows: existingRows } = await client.query<{ lower_path: string; upper_path: string | null; built_version: string; pages: number }>(segmentsSql, [tableId]);
  const existing = new Map(existingRows.map((row) => [row.lower_path, row]));
  const kept = new Set(groups.filter((group) => {
    const segment = existing.get(group.lower);
    return sameLayout && segment !== undefined && segment.upper_path === group.upper && segment.pages === group.pages && group.newest <= Number(segment.built_version);
  }));
  await client.query(deleteOtherSegmentsSql, [tableId, [...kept].map((group) => group.lower)]);
  const lowers = new Set(groups.map((group) => group.lower));
  const rebuilt = groups.filter((group) => !kept.has(group));
  let pageBatchesRead = 0;
  // One group's batches read while the worker coalesces the one before (node-pg runs the client's statements in order).
  const read = (index: number): Promise<Buffer[]> | undefined => {
    const group = rebuilt[index];
    if (!group) return undefined;
    const batches = groupBatches(client, tableId, group);
    batches.catch(() => undefined);
    return batches;
  };
  let next = read(0);
  for (let index = 0; index < rebuilt.length; index++) {
    const group = rebuilt[index] as SegmentGroup;
    const batches = await (next as Promise<Buffer[]>);
    pageBatchesRead += batches.length;
    // On the worker thread: a segment is ~0.15 s of copying and LZ4 per 64k rows.
    const body = coalesceBatchesInWorker(metadata, batches);
    next = read(index + 1);
    await client.query({ text: upsertSegmentSql, values: [tableId, group.lower, group.upper, version, group.pages, group.rows, await body] });
  }
  await client.query(recordStateSql, [tableId, version, layout.fingerprint]);
  return { version, segments: groups.length, segmentsWritten: rebuilt.length, segmentsDeleted: existingRows.filter((row) => !lowers.has(row.lower_path)).length, pageBatchesRead };
}
