/**
 * refreshFilePages: brings a table's file pages (sql/000005_file_pages.sql)
 * from the version they answer up to the materialized state's watermark.
 *
 * Pages cover contiguous path ranges. The paths that the versions in
 * (pages version, watermark] added or removed name the pages to rewrite;
 * adjacent ones are rewritten together as one run, a run smaller than
 * `mergeBelowBytes` takes in its right neighbour (page-runs.ts), and a
 * run's live lines (file_index at the watermark, page-lines.ts) are cut
 * again into pages of about `targetBytes` (page-cutter.ts) and written
 * (page-writer.ts). Only those pages get a new version: a commit costs what
 * it touched, not what the table holds. Versions are applied one at a
 * time, so the pages answer every version from their min_version to their
 * version. Without pages (or too far behind) the table's pages are built
 * whole at the watermark.
 *
 * Runs beside file_index's refresh, not inside it: one REPEATABLE READ
 * snapshot gives the watermark and the rows at it, and a session advisory
 * lock (taken before the snapshot, so the previous holder's pages are
 * visible) serializes maintainers of one table. Refreshes of file_index
 * never wait for it; rebuild and retention take the lock too.
 *
 * Each page also gets its Arrow batch (sql/000009_arrow_pages.sql) in the
 * layout of its version (shared/arrow). A version whose metaData changes
 * the layout rewrites every page at that version, so all pages valid at a
 * version share one layout; pages without batches, or whose layout is not
 * their version's, are rebuilt.
 */
import { arrowPagesLayout, layoutAt, versionLayoutAt, type AddActionsLayout } from '../arrow/index.ts';
import type { Pool, PoolClient } from '../db/index.ts';
import { compareCodePoints } from '../delta/index.ts';
import { currentLowerPathsSql, deletePagesSql, pageStateSql, recordPageStateSql } from './file-pages-sql.ts';
import { PageCutter } from './page-cutter.ts';
import { batchedRunLines, runLines, streamRunAboveBytes, type RunLine } from './page-lines.ts';
import { affectedRuns, type PageRun } from './page-runs.ts';
import { underPagesLock } from './pages-lock.ts';
import { closePages, PageWriter } from './page-writer.ts';
import { resolveTable, type TableRef } from './table-ref.ts';

export interface FilePagesOptions {
  /**
   * Pages are cut at about this many uncompressed bytes. Default 32 KiB: at
   * 1M files, 64 KiB pages read back ~15% faster but a commit touching
   * pages all over the table rewrites 2x the bytes (measured, docs/reader.md).
   */
  readonly targetBytes?: number;
  /** Runs below this take in their right neighbour. Default targetBytes / 4. */
  readonly mergeBelowBytes?: number;
  /** More versions behind than this: build whole. Default 200. */
  readonly maxIncrementalVersions?: number;
  /**
   * Write the pages' Arrow batches (sql/000009). Default true; false only
   * measures what they cost (the reader then encodes Arrow lists per request).
   */
  readonly arrowBatches?: boolean;
}

export interface FilePagesResult {
  /** the version the pages answered before; null without pages */
  readonly fromVersion: number | null;
  /** the version they answer now (the watermark); null when the table has no materialized state */
  readonly version: number | null;
  readonly rebuilt: boolean;
  readonly pagesWritten: number;
  readonly pagesClosed: number;
  /** add lines read from file_index: the cost of the call */
  readonly linesRead: number;
}

interface PageState {
  readonly mvVersion: number;
  readonly logStartVersion: number;
  readonly pagesVersion: number | null;
  readonly fileIndexMinVersion: number;
}

async function readState(client: PoolClient, tableId: number): Promise<PageState | undefined> {
  const { rows } = await client.query<{ mv_version: number; file_index_min_version: number; log_start_version: number; pages_version: number | null }>(pageStateSql, [tableId]);
  const row = rows[0];
  return row && {
    mvVersion: row.mv_version, fileIndexMinVersion: row.file_index_min_version, logStartVersion: row.log_start_version,
    pagesVersion: row.pages_version,
  };
}

export async function refreshFilePages(pool: Pool, table: TableRef, options: FilePagesOptions = {}): Promise<FilePagesResult> {
  const targetBytes = options.targetBytes ?? 32 * 1024;
  const mergeBelowBytes = options.mergeBelowBytes ?? targetBytes / 4;
  const maxIncrementalVersions = options.maxIncrementalVersions ?? 200;
  const arrowBatches = options.arrowBatches ?? true;
  const { tableId } = await resolveTable(pool, table);
  return underPagesLock(pool, tableId, (client) => maintain(client, tableId, { targetBytes, mergeBelowBytes, maxIncrementalVersions, arrowBatches }));
}

interface Totals {
  written: number;
  rawBytes: number;
  bodyBytes: number;
  closed: number;
  closedRawBytes: number;
  closedBodyBytes: number;
  linesRead: number;
}

/** Cuts and writes the runs' pages at `version`, from their live lines at that version. */
async function rewriteRuns(client: PoolClient, tableId: number, runs: readonly PageRun[], version: number, atWatermark: boolean, options: Required<FilePagesOptions>, totals: Totals): Promise<void> {
  const { targetBytes } = options;
  const writer = new PageWriter(client, tableId, version, options.arrowBatches ? await versionLayoutAt(client, tableId, version) : undefined);
  const cut = async (run: PageRun, lines: AsyncIterable<RunLine> | Iterable<RunLine>): Promise<void> => {
    const cutter = new PageCutter(run.lower, targetBytes);
    for await (const row of lines) {
      cutter.push(row.path, row.add_line);
      totals.linesRead++;
      for (const page of cutter.take()) await writer.add(page);
    }
    for (const page of cutter.finish()) await writer.add(page);
  };
  // Bounded runs of ordinary size: their lines in one query (a commit
  // touching pages all over a table would otherwise cost a round trip per page).
  const batched = runs.filter((run) => run.upper !== null && run.oldBytes <= streamRunAboveBytes);
  if (batched.length > 0) {
    const rows = await batchedRunLines(client, tableId, batched, version, atWatermark);
    let next = 0;
    for (const run of batched) {
      const upper = run.upper as string;
      const start = next;
      while (next < rows.length && compareCodePoints((rows[next] as RunLine).path, upper) < 0) next++;
      await cut(run, rows.slice(start, next));
    }
  }
  for (const run of runs) {
    if (!batched.includes(run)) await cut(run, runLines(client, tableId, run, version, atWatermark));
  }
  await writer.flush();
  totals.written += writer.written;
  totals.rawBytes += writer.rawBytes;
  totals.bodyBytes += writer.bodyBytes;
}

/** Every current page as one run: a layout change rewrites the table's pages at its version. */
async function wholeTableRun(client: PoolClient, tableId: number): Promise<PageRun[]> {
  const { rows } = await client.query<{ lower_path: string }>(currentLowerPathsSql, [tableId]);
  return [{ lower: '', upper: null, replaces: rows.map((row) => row.lower_path), oldBytes: Number.POSITIVE_INFINITY }];
}

async function maintain(client: PoolClient, tableId: number, options: Required<FilePagesOptions>): Promise<FilePagesResult> {
  const state = await readState(client, tableId);
  if (!state) return { fromVersion: null, version: null, rebuilt: false, pagesWritten: 0, pagesClosed: 0, linesRead: 0 };
  const from = state.pagesVersion;
  const to = state.mvVersion;
  if (from !== null && from >= to) return { fromVersion: from, version: from, rebuilt: false, pagesWritten: 0, pagesClosed: 0, linesRead: 0 };
  // Version by version, so that the pages answer every version from
  // min_version on; from scratch without pages, when the log or file_index
  // no longer holds the versions in between, or when that many versions
  // would cost more than a build.
  // Pages without Arrow batches (written before 000009) or not in their version's layout are rebuilt too.
  const fromLayout = from === null || !options.arrowBatches ? undefined : await layoutAt(client, tableId, from);
  const arrowStale = options.arrowBatches && from !== null && (await arrowPagesLayout(client, tableId, from)) !== (fromLayout?.fingerprint ?? null);
  const rebuild = from === null || arrowStale || from < state.logStartVersion - 1 || from < state.fileIndexMinVersion || to - from > options.maxIncrementalVersions;
  const totals: Totals = { written: 0, rawBytes: 0, bodyBytes: 0, closed: 0, closedRawBytes: 0, closedBodyBytes: 0, linesRead: 0 };
  if (rebuild) {
    await client.query(deletePagesSql, [tableId]);
    await rewriteRuns(client, tableId, [{ lower: '', upper: null, replaces: [], oldBytes: Number.POSITIVE_INFINITY }], to, true, options, totals);
  } else {
    let layout: AddActionsLayout | undefined = fromLayout;
    for (let version = from + 1; version <= to; version++) {
      const previous = layout;
      layout = options.arrowBatches ? await layoutAt(client, tableId, version) : undefined;
      const runs = layout?.fingerprint === previous?.fingerprint
        ? await affectedRuns(client, tableId, version - 1, version, options.mergeBelowBytes)
        : await wholeTableRun(client, tableId);
      if (runs.length === 0) continue;
      const closed = await closePages(client, tableId, version, runs.flatMap((run) => run.replaces));
      totals.closed += closed.pages;
      totals.closedRawBytes += closed.rawBytes;
      totals.closedBodyBytes += closed.bodyBytes;
      await rewriteRuns(client, tableId, runs, version, version === to, options, totals);
    }
  }
  await client.query(recordPageStateSql, [
    tableId, to, totals.written, totals.rawBytes, totals.bodyBytes, rebuild, totals.closed, totals.closedRawBytes, totals.closedBodyBytes,
  ]);
  return { fromVersion: from, version: to, rebuilt: rebuild, pagesWritten: totals.written, pagesClosed: totals.closed, linesRead: totals.linesRead };
}
