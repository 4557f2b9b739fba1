/**
 * refreshFilePages: brings a table's file pages (sql/000005_file_pages.sql)
 * from the version they answer up to the materialized state's watermark.
 *
 * Pages cover contiguous path ranges. The paths that the versions in
 * (pages version, watermark] added or removed name the pages to rewrite;
 * adjacent ones are rewritten together as one run, a run smaller than
 * `mergeBelowBytes` takes in its right neighbour, and a run's live lines
 * (file_index at the watermark) are cut again into pages of about
 * `targetBytes`. Only those pages get a new version: a commit costs what it
 * touched, not what the table holds. Versions are applied one at a time,
 * so the pages answer every version from their min_version to their
 * version. Without pages (or too far behind) the table's pages are built
 * whole at the watermark.
 *
 * Runs beside file_index's refresh, not inside it: one REPEATABLE READ
 * snapshot gives the watermark and the rows at it, and a session advisory
 * lock (taken before the snapshot, so the previous holder's pages are
 * visible) serializes maintainers of one table. Refreshes of file_index
 * never wait for it; rebuild and retention take the lock too.
 */
import { lockFilePagesSession, unlockFilePagesSession } from '../contracts/index.ts';
import type { Pool, PoolClient } from '../db/index.ts';
import { compareCodePoints } from '../delta/index.ts';
import { compressPage, type PageBody } from './page-format.ts';
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

/** serves: table_state and file_page_state primary keys, delta_table primary key */
const stateSql = `
  SELECT s.mv_version, s.file_index_min_version, t.log_start_version, p.version AS pages_version
    FROM deltameta.table_state s
    JOIN deltameta.delta_table t ON t.table_id = s.table_id
    LEFT JOIN deltameta.file_page_state p ON p.table_id = s.table_id
   WHERE s.table_id = $1`;

/** serves: delta_add / delta_remove primary keys (table_id, version, ordinal) */
const changedPathsSql = `
  SELECT DISTINCT path FROM (
    SELECT path FROM deltameta.delta_add WHERE table_id = $1 AND version > $2 AND version <= $3
    UNION ALL
    SELECT path FROM deltameta.delta_remove WHERE table_id = $1 AND version > $2 AND version <= $3
  ) changed`;

/**
 * The current page of each changed path (the one with the greatest lower
 * bound at or below it: there is always one with ''), with its upper bound.
 * serves: file_page_current, two probes per path.
 */
const affectedPagesSql = `
  SELECT DISTINCT page.lower_path, page.raw_bytes, upper.lower_path AS upper_path
    FROM unnest($2::text[]) AS changed(path)
   CROSS JOIN LATERAL (
     SELECT lower_path, raw_bytes FROM deltameta.file_page
      WHERE table_id = $1 AND valid_to IS NULL AND lower_path <= changed.path COLLATE "C"
      ORDER BY lower_path DESC LIMIT 1) page
    LEFT JOIN LATERAL (
     SELECT lower_path FROM deltameta.file_page
      WHERE table_id = $1 AND valid_to IS NULL AND lower_path > page.lower_path
      ORDER BY lower_path LIMIT 1) upper ON true`;

/** serves: file_page_current */
const pageAtSql = `
  SELECT page.raw_bytes,
         (SELECT u.lower_path FROM deltameta.file_page u
           WHERE u.table_id = $1 AND u.valid_to IS NULL AND u.lower_path > page.lower_path
           ORDER BY u.lower_path LIMIT 1) AS upper_path
    FROM deltameta.file_page page
   WHERE page.table_id = $1 AND page.valid_to IS NULL AND page.lower_path = $2`;

/** Runs above this many old bytes are read through a cursor, alone. */
const streamAboveBytes = 4 * 1024 * 1024;

interface Run {
  readonly lower: string;
  upper: string | null;
  /** lower bounds of the current pages the run replaces */
  readonly replaces: string[];
  oldBytes: number;
}

interface Chunk {
  readonly lower: string;
  readonly lines: string[];
  rawBytes: number;
  lastPath: string;
}

/**
 * Cuts a run's lines into pages of about targetBytes, never between two
 * lines of one path (a page boundary is a path), the first page keeping the
 * run's lower bound; a small tail joins the page before it.
 */
class PageCutter {
  private current: Chunk | undefined;
  private held: Chunk | undefined;
  private readonly ready: Chunk[] = [];

  constructor(private readonly lower: string, private readonly targetBytes: number) {}

  push(path: string, line: string): void {
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    if (this.current && this.current.rawBytes >= this.targetBytes && path !== this.current.lastPath) {
      if (this.held) this.ready.push(this.held);
      this.held = this.current;
      this.current = undefined;
    }
    this.current ??= { lower: this.held ? path : this.lower, lines: [], rawBytes: 0, lastPath: path };
    this.current.lines.push(line);
    this.current.rawBytes += bytes;
    this.current.lastPath = path;
  }

  /** pages complete so far */
  take(): Chunk[] {
    return this.ready.splice(0);
  }

  /** the rest; a run without lines keeps an empty page only for the '' bound (every version has one) */
  finish(): Chunk[] {
    const tail = this.current;
    if (this.held && tail && tail.rawBytes < this.targetBytes / 4) {
      this.held.lines.push(...tail.lines);
      this.held.rawBytes += tail.rawBytes;
      this.ready.push(this.held);
    } else {
      if (this.held) this.ready.push(this.held);
      if (tail) this.ready.push(tail);
    }
    if (!this.held && !tail && this.lower === '') this.ready.push({ lower: '', lines: [], rawBytes: 0, lastPath: '' });
    this.held = undefined;
    this.current = undefined;
    return this.take();
  }
}

/**
 * Live lines of [lower, upper) at `version`. At the watermark: serves
 * file_index_live, an ordered range scan. Before it: the live and the
 * removed rows of the range live at the version, merged in path order (as
 * liveFileLines does for a whole table).
 */
async function* runLines(client: PoolClient, tableId: number, run: Run, version: number, atWatermark: boolean): AsyncGenerator<{ path: string; add_line: string }> {
  const range = `path >= $2 ${run.upper === null ? '' : 'AND path < $4'}`;
  const sql = atWatermark
    ? `SELECT path, add_line FROM deltameta.file_index
        WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $3 AND ${range}
        ORDER BY path, dv_id`
    : `SELECT path, add_line FROM (
         (SELECT path, dv_id, add_line FROM deltameta.file_index
           WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $3 AND ${range}
           ORDER BY path, dv_id)
         UNION ALL
         (SELECT path, dv_id, add_line FROM deltameta.file_index
           WHERE table_id = $1 AND removed_version IS NOT NULL AND removed_version > $3 AND added_version <= $3 AND ${range}
           ORDER BY path, dv_id)
       ) asof ORDER BY path, dv_id`;
  const params = run.upper === null ? [tableId, run.lower, version] : [tableId, run.lower, version, run.upper];
  if (run.oldBytes <= streamAboveBytes) {
    const { rows } = await client.query<{ path: string; add_line: string }>(sql, params);
    yield* rows;
    return;
  }
  await client.query(`DECLARE file_page_lines NO SCROLL CURSOR FOR ${sql}`, params);
  try {
    for (;;) {
      const { rows } = await client.query<{ path: string; add_line: string }>('FETCH FORWARD 5000 FROM file_page_lines');
      yield* rows;
      if (rows.length < 5000) break;
    }
  } finally {
    await client.query('CLOSE file_page_lines');
  }
}

/**
 * The live lines at `version` of several bounded runs, in path order: the
 * runs are disjoint and ascending, so path order is run order. One index
 * range scan per run (serves: file_index_live, plus file_index_removed
 * before the watermark). OFFSET 0 keeps each run's scan a scan of its
 * range: flattened, the planner may prefer one ordered walk of the whole
 * table with every range as a join filter (seconds instead of
 * milliseconds). Rows come back run by run, each run in order; the order
 * is checked here rather than paid for with a sort.
 */
async function batchedRunLines(client: PoolClient, tableId: number, runs: readonly Run[], version: number, atWatermark: boolean): Promise<Array<{ path: string; dv_id: string; add_line: string }>> {
  const range = 'path >= r.lower COLLATE "C" AND path < r.upper COLLATE "C"';
  const live = `SELECT path, dv_id, add_line FROM deltameta.file_index
     WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $4 AND ${range}`;
  const removed = `SELECT path, dv_id, add_line FROM deltameta.file_index
     WHERE table_id = $1 AND removed_version IS NOT NULL AND removed_version > $4 AND added_version <= $4 AND ${range}`;
  const { rows } = await client.query<{ path: string; dv_id: string; add_line: string }>(
    `SELECT f.path, f.dv_id, f.add_line FROM unnest($2::text[], $3::text[]) AS r(lower, upper)
      CROSS JOIN LATERAL (SELECT * FROM (${atWatermark ? live : `${live} UNION ALL ${removed}`}) run ORDER BY path, dv_id OFFSET 0) f`,
    [tableId, runs.map((run) => run.lower), runs.map((run) => run.upper), version],
  );
  const compare = (a: { path: string; dv_id: string }, b: { path: string; dv_id: string }): number => compareCodePoints(a.path, b.path) || compareCodePoints(a.dv_id, b.dv_id);
  for (let i = 1; i < rows.length; i++) {
    if (compare(rows[i - 1] as { path: string; dv_id: string }, rows[i] as { path: string; dv_id: string }) > 0) return rows.sort(compare);
  }
  return rows;
}

/** Compresses several pages at once (libuv's pool) and inserts them in batches of ~2 MB, in order. */
class PageWriter {
  private readonly compressing: Promise<{ chunk: Chunk; page: PageBody }>[] = [];
  private batch: { chunk: Chunk; page: PageBody }[] = [];
  private batchBytes = 0;
  written = 0;
  rawBytes = 0;
  bodyBytes = 0;

  constructor(private readonly client: PoolClient, private readonly tableId: number, private readonly version: number) {}

  async add(chunk: Chunk): Promise<void> {
    const raw = Buffer.from(chunk.lines.length === 0 ? '' : `${chunk.lines.join('\n')}\n`, 'utf8');
    this.compressing.push(compressPage(raw).then((page) => ({ chunk, page })));
    if (this.compressing.length >= 8) await this.collect(this.compressing.shift() as Promise<{ chunk: Chunk; page: PageBody }>);
  }

  private async collect(pending: Promise<{ chunk: Chunk; page: PageBody }>): Promise<void> {
    const done = await pending;
    this.batch.push(done);
    this.batchBytes += done.page.body.length;
    // 2 MB of bodies per INSERT: their hex text and the message stay small (8 MB batches: 470 MB peak RSS on a 1M-file build, 2 MB: 300 MB).
    if (this.batchBytes >= 2 * 1024 * 1024) await this.insert();
  }

  private async insert(): Promise<void> {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    await this.client.query(
      `INSERT INTO deltameta.file_page (table_id, valid_from, lines, raw_bytes, crc32, lower_path, body)
       SELECT $1, $2, * FROM unnest($3::integer[], $4::integer[], $5::integer[], $6::text[], $7::bytea[])`,
      [
        this.tableId, this.version,
        batch.map((entry) => entry.chunk.lines.length),
        batch.map((entry) => entry.page.rawBytes),
        batch.map((entry) => entry.page.crc32 | 0),
        batch.map((entry) => entry.chunk.lower),
        batch.map((entry) => entry.page.body),
      ],
    );
    for (const entry of batch) {
      this.written++;
      this.rawBytes += entry.page.rawBytes;
      this.bodyBytes += entry.page.body.length;
    }
  }

  async flush(): Promise<void> {
    while (this.compressing.length > 0) await this.collect(this.compressing.shift() as Promise<{ chunk: Chunk; page: PageBody }>);
    await this.insert();
  }
}

async function readState(client: PoolClient, tableId: number): Promise<PageState | undefined> {
  const { rows } = await client.query<{ mv_version: number; file_index_min_version: number; log_start_version: number; pages_version: number | null }>(stateSql, [tableId]);
  const row = rows[0];
  return row && {
    mvVersion: row.mv_version, fileIndexMinVersion: row.file_index_min_version, logStartVersion: row.log_start_version,
    pagesVersion: row.pages_version,
  };
}

/** The runs of pages that (from, to] touched, merged where adjacent and extended where small. */
async function affectedRuns(client: PoolClient, tableId: number, from: number, to: number, mergeBelowBytes: number): Promise<Run[]> {
  const { rows: changed } = await client.query<{ path: string }>(changedPathsSql, [tableId, from, to]);
  if (changed.length === 0) return [];
  const { rows: pages } = await client.query<{ lower_path: string; raw_bytes: number; upper_path: string | null }>(
    affectedPagesSql, [tableId, changed.map((row) => row.path)],
  );
  pages.sort((a, b) => compareCodePoints(a.lower_path, b.lower_path));
  const runs: Run[] = [];
  for (const page of pages) {
    const last = runs[runs.length - 1];
    if (last && last.upper === page.lower_path) {
      last.upper = page.upper_path;
      last.replaces.push(page.lower_path);
      last.oldBytes += page.raw_bytes;
    } else {
      runs.push({ lower: page.lower_path, upper: page.upper_path, replaces: [page.lower_path], oldBytes: page.raw_bytes });
    }
  }
  // Small runs take in their right neighbour (a later run, if that is the neighbour): pages do not dwindle.
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i] as Run;
    while (run.oldBytes < mergeBelowBytes && run.upper !== null) {
      const next = runs[i + 1];
      if (next && next.lower === run.upper) {
        run.upper = next.upper;
        run.replaces.push(...next.replaces);
        run.oldBytes += next.oldBytes;
        runs.splice(i + 1, 1);
        continue;
      }
      const { rows } = await client.query<{ raw_bytes: number; upper_path: string | null }>(pageAtSql, [tableId, run.upper]);
      const neighbour = rows[0];
      if (!neighbour) throw new Error(`file pages of table ${tableId}: no current page at ${JSON.stringify(run.upper)}`);
      run.replaces.push(run.upper);
      run.oldBytes += neighbour.raw_bytes;
      run.upper = neighbour.upper_path;
    }
  }
  return runs;
}

export async function refreshFilePages(pool: Pool, table: TableRef, options: FilePagesOptions = {}): Promise<FilePagesResult> {
  const targetBytes = options.targetBytes ?? 32 * 1024;
  const mergeBelowBytes = options.mergeBelowBytes ?? targetBytes / 4;
  const maxIncrementalVersions = options.maxIncrementalVersions ?? 200;
  const { tableId } = await resolveTable(pool, table);
  const client = await pool.connect();
  let reusable = false;
  try {
    await lockFilePagesSession(client, tableId);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const result = await maintain(client, tableId, { targetBytes, mergeBelowBytes, maxIncrementalVersions });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      reusable = await unlockFilePagesSession(client, tableId).then(() => true, () => false);
    }
  } finally {
    client.release(reusable ? undefined : true);
  }
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
  const rebuild = from === null || from < state.logStartVersion - 1 || from < state.fileIndexMinVersion || to - from > options.maxIncrementalVersions;
  const totals = { written: 0, rawBytes: 0, bodyBytes: 0, closed: 0, closedRawBytes: 0, closedBodyBytes: 0, linesRead: 0 };
  const rewrite = async (runs: Run[], version: number): Promise<void> => {
    const writer = new PageWriter(client, tableId, version);
    const cut = async (run: Run, lines: AsyncIterable<{ path: string; add_line: string }> | Iterable<{ path: string; add_line: string }>): Promise<void> => {
      const cutter = new PageCutter(run.lower, options.targetBytes);
      for await (const row of lines) {
        cutter.push(row.path, row.add_line);
        totals.linesRead++;
        for (const chunk of cutter.take()) await writer.add(chunk);
      }
      for (const chunk of cutter.finish()) await writer.add(chunk);
    };
    // Bounded runs of ordinary size: their lines in one query (a commit
    // touching pages all over a table would otherwise cost a round trip per page).
    const batched = runs.filter((run) => run.upper !== null && run.oldBytes <= streamAboveBytes);
    if (batched.length > 0) {
      const rows = await batchedRunLines(client, tableId, batched, version, version === to);
      let next = 0;
      for (const run of batched) {
        const upper = run.upper as string;
        const start = next;
        while (next < rows.length && compareCodePoints((rows[next] as { path: string }).path, upper) < 0) next++;
        await cut(run, rows.slice(start, next));
      }
    }
    for (const run of runs) {
      if (!batched.includes(run)) await cut(run, runLines(client, tableId, run, version, version === to));
    }
    await writer.flush();
    totals.written += writer.written;
    totals.rawBytes += writer.rawBytes;
    totals.bodyBytes += writer.bodyBytes;
  };
  if (rebuild) {
    await client.query('DELETE FROM deltameta.file_page WHERE table_id = $1', [tableId]);
    await rewrite([{ lower: '', upper: null, replaces: [], oldBytes: Number.POSITIVE_INFINITY }], to);
  } else {
    for (let version = from + 1; version <= to; version++) {
      const runs = await affectedRuns(client, tableId, version - 1, version, options.mergeBelowBytes);
      if (runs.length === 0) continue;
      const { rows } = await client.query<{ pages: number; raw_bytes: string | null; body_bytes: string | null }>(
        `WITH closed AS (
           UPDATE deltameta.file_page SET valid_to = $2
            WHERE table_id = $1 AND valid_to IS NULL AND lower_path = ANY($3::text[])
            RETURNING raw_bytes, octet_length(body) AS body_bytes)
         SELECT count(*)::integer AS pages, sum(raw_bytes) AS raw_bytes, sum(body_bytes) AS body_bytes FROM closed`,
        [tableId, version, runs.flatMap((run) => run.replaces)],
      );
      totals.closed += rows[0]?.pages ?? 0;
      totals.closedRawBytes += Number(rows[0]?.raw_bytes ?? 0);
      totals.closedBodyBytes += Number(rows[0]?.body_bytes ?? 0);
      await rewrite(runs, version);
    }
  }
  await client.query(
    `INSERT INTO deltameta.file_page_state AS s (table_id, version, min_version, pages, raw_bytes, body_bytes)
     VALUES ($1, $2, $2, $3, $4, $5)
     ON CONFLICT (table_id) DO UPDATE SET
       version = excluded.version,
       min_version = CASE WHEN $6 THEN excluded.min_version ELSE s.min_version END,
       pages = CASE WHEN $6 THEN excluded.pages ELSE s.pages + excluded.pages - $7 END,
       raw_bytes = CASE WHEN $6 THEN excluded.raw_bytes ELSE s.raw_bytes + excluded.raw_bytes - $8 END,
       body_bytes = CASE WHEN $6 THEN excluded.body_bytes ELSE s.body_bytes + excluded.body_bytes - $9 END,
       built_at = now()`,
    [tableId, to, totals.written, totals.rawBytes, totals.bodyBytes, rebuild, totals.closed, totals.closedRawBytes, totals.closedBodyBytes],
  );
  return { fromVersion: from, version: to, rebuilt: rebuild, pagesWritten: totals.written, pagesClosed: totals.closed, linesRead: totals.linesRead };
}
