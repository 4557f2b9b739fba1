/**
 * verifyTable: the materialized state at its watermark against the log
 * tables at the same version (invariant 4 of the design). file_index's lines
 * must equal snapshotLines byte for byte and its columns must agree with
 * their add; table_state's counts, metadata and protocol, and
 * partition_summary, must equal a recomputation from the log's lines; the
 * file pages, when built, must carry the log's list at their version.
 * Problems are listed (a bounded list), not thrown. Holds two of the
 * pool's connections at once (file_index and the log are read side by
 * side), so the pool needs at least two.
 */
import QueryStream from 'pg-query-stream';
import { crc32 } from 'node:zlib';
import type { Pool, PoolClient } from '../db/index.ts';
import { compareCodePoints, deletionVectorUniqueId, type AddAction } from '../delta/index.ts';
import { snapshotLines } from '../log-store/index.ts';
import { fileColumns, partitionKeyOf, type FileColumns } from './file-row.ts';
import { crc32Combine, inflatePage } from './page-format.ts';
import { pagesAt, pagesRange } from './page-reads.ts';
import { resolveTable, type RefreshTarget, type TableRef } from './table-ref.ts';

export interface VerifyOptions {
  /** Problems listed before the rest are only counted. Default 50. */
  readonly maxProblems?: number;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** mv_version checked; log_start_version - 1 when the table has no state */
  readonly watermark: number;
  readonly problems: string[];
}

interface Counts {
  files: number;
  bytes: number;
  records: number;
}

class Problems {
  readonly listed: string[] = [];
  private more = 0;
  constructor(private readonly max: number) {}
  add(problem: string): void {
    if (this.listed.length < this.max) this.listed.push(problem);
    else this.more++;
  }
  get count(): number {
    return this.listed.length + this.more;
  }
  list(): string[] {
    return this.more > 0 ? [...this.listed, `… and ${this.more} more`] : this.listed;
  }
}

/** serves: table_state primary key; delta_metadata / delta_protocol / delta_commit primary keys (one probe each) */
const stateSql = `
  SELECT s.mv_version, s.file_index_min_version, s.metadata, s.protocol, s.num_files, s.size_bytes, s.num_records, s.last_timestamp_ms,
         (SELECT m.action FROM deltameta.delta_metadata m WHERE m.table_id = s.table_id AND m.version <= s.mv_version ORDER BY m.version DESC LIMIT 1) AS log_metadata,
         (SELECT p.action FROM deltameta.delta_protocol p WHERE p.table_id = s.table_id AND p.version <= s.mv_version ORDER BY p.version DESC LIMIT 1) AS log_protocol,
         (SELECT c.timestamp_ms FROM deltameta.delta_commit c WHERE c.table_id = s.table_id AND c.version = s.mv_version) AS log_timestamp_ms
    FROM deltameta.table_state s WHERE s.table_id = $1`;

/** Rows no version up to the watermark can explain: a scan of the table's part of file_index (verify reads it all anyway). */
const outOfRangeSql = `
  SELECT path, dv_id, added_version, removed_version FROM deltameta.file_index
   WHERE table_id = $1 AND (added_version > $2 OR removed_version > $2) ORDER BY path, dv_id LIMIT $3`;

/** serves: file_index_live, in path order like the log's lines */
const liveRowsSql = `
  SELECT path, dv_id, size, num_records, partition_values, add_line FROM deltameta.file_index
   WHERE table_id = $1 AND removed_version IS NULL ORDER BY path, dv_id`;

interface LiveRow {
  path: string;
  dv_id: string;
  size: number;
  num_records: number | null;
  partition_values: Record<string, unknown>;
  add_line: string;
}

interface LogFile {
  path: string;
  dvId: string;
  line: string;
  columns: FileColumns;
}

function describeKey(path: string, dvId: string): string {
  return dvId === '' ? JSON.stringify(path) : `${JSON.stringify(path)} (deletion vector ${dvId})`;
}

function compareKeys(a: { path: string; dvId: string }, b: { path: string; dvId: string }): number {
  return compareCodePoints(a.path, b.path) || compareCodePoints(a.dvId, b.dvId);
}

export async function verifyTable(pool: Pool, table: TableRef, options: VerifyOptions = {}): Promise<VerifyResult> {
  const target = await resolveTable(pool, table);
  const problems = new Problems(options.maxProblems ?? 50);
  const client = await pool.connect();
  let clean = false;
  try {
    // One snapshot for the state, its counts and its rows: a refresh committing meanwhile is not seen half.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: states } = await client.query<{
      mv_version: number; file_index_min_version: number; metadata: string | null; protocol: string | null;
      num_files: number; size_bytes: number; num_records: number; last_timestamp_ms: number;
      log_metadata: string | null; log_protocol: string | null; log_timestamp_ms: number | null;
    }>(stateSql, [target.tableId]);
    const state = states[0];
    if (!state) {
      await client.query('COMMIT');
      clean = true;
      return { ok: false, watermark: target.logStartVersion - 1, problems: [`${target.name}: no materialized state (never refreshed)`] };
    }
    const watermark = state.mv_version;
    if (state.metadata !== state.log_metadata) problems.add(`table_state.metadata differs from the log's metaData at version ${watermark}`);
    if (state.protocol !== state.log_protocol) problems.add(`table_state.protocol differs from the log's protocol at version ${watermark}`);
    if (state.last_timestamp_ms !== state.log_timestamp_ms) {
      problems.add(`table_state.last_timestamp_ms is ${state.last_timestamp_ms}, the log's version ${watermark} has ${state.log_timestamp_ms}`);
    }
    if (state.file_index_min_version < target.logStartVersion) {
      problems.add(`file_index_min_version ${state.file_index_min_version} is before the log start ${target.logStartVersion}`);
    }
    const { rows: strays } = await client.query<{ path: string; dv_id: string; added_version: number; removed_version: number | null }>(
      outOfRangeSql, [target.tableId, watermark, 10],
    );
    for (const stray of strays) {
      problems.add(`file_index row ${describeKey(stray.path, stray.dv_id)} (added ${stray.added_version}, removed ${stray.removed_version ?? '-'}) is past the watermark ${watermark}`);
    }

    const recomputed: Counts = { files: 0, bytes: 0, records: 0 };
    const listDigest: ListDigest = { crc: 0, bytes: 0, lines: 0 };
    const partitions = new Map<string, Counts & { values: string }>();
    const fromLog = logFiles(pool, target.name, watermark);
    const fromIndex = (client.query(new QueryStream(liveRowsSql, [target.tableId], { batchSize: 5000 })) as AsyncIterable<LiveRow>)[Symbol.asyncIterator]();
    try {
      let logNext = await fromLog.next();
      let indexNext = await fromIndex.next();
      while (!logNext.done || !indexNext.done) {
        const log = logNext.done ? undefined : logNext.value;
        const row = indexNext.done ? undefined : indexNext.value;
        const order = !log ? 1 : !row ? -1 : compareKeys(log, { path: row.path, dvId: row.dv_id });
        // The log's lines decide the counts: they are recomputed from the log, not from file_index.
        if (log && order <= 0) {
          addToDigest(listDigest, log.line);
          const expected = log.columns;
          recomputed.files++;
          recomputed.bytes += expected.size;
          recomputed.records += expected.numRecords ?? 0;
          const partition = partitions.get(expected.partitionKey) ?? { values: expected.partitionValues, files: 0, bytes: 0, records: 0 };
          partition.files++;
          partition.bytes += expected.size;
          partition.records += expected.numRecords ?? 0;
          partitions.set(expected.partitionKey, partition);
          if (row && order === 0) {
            if (row.add_line !== log.line) problems.add(`file_index line of ${describeKey(log.path, log.dvId)} differs from the log's`);
            if (row.size !== expected.size || row.num_records !== expected.numRecords || partitionKeyOf(row.partition_values) !== expected.partitionKey) {
              problems.add(`file_index columns of ${describeKey(log.path, log.dvId)} (size, num_records, partition_values) differ from its add`);
            }
          } else {
            problems.add(`file_index is missing ${describeKey(log.path, log.dvId)}, live at version ${watermark}`);
          }
        }
        if (row && order > 0) problems.add(`file_index has ${describeKey(row.path, row.dv_id)} live, not live at version ${watermark}`);
        if (order <= 0) logNext = await fromLog.next();
        if (order >= 0) indexNext = await fromIndex.next();
      }
    } finally {
      // On an error mid-way: the log side's connection goes back (or away) now, not never.
      await fromLog.return(undefined);
    }

    const stateCounts: Counts = { files: state.num_files, bytes: state.size_bytes, records: state.num_records };
    for (const [field, column] of [['files', 'num_files'], ['bytes', 'size_bytes'], ['records', 'num_records']] as const) {
      if (stateCounts[field] !== recomputed[field]) problems.add(`table_state.${column} is ${stateCounts[field]}, the log says ${recomputed[field]}`);
    }
    // serves: partition_summary primary key (the table's rows)
    const { rows: summaries } = await client.query<{ partition_values: Record<string, unknown>; partition_key: string; num_files: number; size_bytes: number; num_records: number }>(
      'SELECT partition_values, partition_key, num_files, size_bytes, num_records FROM deltameta.partition_summary WHERE table_id = $1',
      [target.tableId],
    );
    for (const summary of summaries) {
      const key = partitionKeyOf(summary.partition_values);
      const expected = partitions.get(key);
      partitions.delete(key);
      if (!expected) {
        problems.add(`partition_summary has ${summary.partition_key} (${summary.num_files} files), no live file has these partition values`);
      } else if (summary.num_files !== expected.files || summary.size_bytes !== expected.bytes || summary.num_records !== expected.records) {
        problems.add(`partition_summary ${summary.partition_key}: ${summary.num_files} files, ${summary.size_bytes} bytes, ${summary.num_records} records; the log says ${expected.files}, ${expected.bytes}, ${expected.records}`);
      }
    }
    for (const missing of partitions.values()) problems.add(`partition_summary is missing ${missing.values} (${missing.files} files)`);
    await verifyPages(client, pool, target, watermark, listDigest, problems);
    await client.query('COMMIT');
    clean = true;
    return { ok: problems.count === 0, watermark, problems: problems.list() };
  } finally {
    client.release(clean ? undefined : true);
  }
}

/** CRC-32, bytes and lines of a list as a response carries it (each line and "\n"). */
interface ListDigest {
  crc: number;
  bytes: number;
  lines: number;
}

function addToDigest(digest: ListDigest, line: string): void {
  const bytes = Buffer.from(`${line}\n`, 'utf8');
  digest.crc = crc32(bytes, digest.crc);
  digest.bytes += bytes.length;
  digest.lines++;
}

/**
 * The file pages (when the table has them) against the log at their
 * version: each page inflates to its recorded length, CRC and line count;
 * bounds ascend from '' and every line lies within its page's range; the
 * pages together carry the log's list (combined CRC, bytes, lines); the
 * totals in file_page_state are right.
 */
async function verifyPages(client: PoolClient, pool: Pool, target: RefreshTarget, watermark: number, atWatermark: ListDigest, problems: Problems): Promise<void> {
  const range = await pagesRange(client, target.tableId);
  if (!range) return;
  if (range.version > watermark) {
    problems.add(`file pages are at version ${range.version}, past the watermark ${watermark}`);
    return;
  }
  let expected = atWatermark;
  if (range.version !== watermark) {
    expected = { crc: 0, bytes: 0, lines: 0 };
    for await (const log of logFiles(pool, target.name, range.version)) addToDigest(expected, log.line);
  }
  const found: ListDigest = { crc: 0, bytes: 0, lines: 0 };
  let pages = 0;
  let bodyBytes = 0;
  let previous: { lower: string; lastPath: string | undefined } | undefined;
  for await (const page of pagesAt(client, target.tableId, range.version, true)) {
    pages++;
    bodyBytes += page.body.length;
    const label = `file page ${JSON.stringify(page.lowerPath)} (version ${range.version})`;
    const raw = inflatePage(page.body);
    if (raw.length !== page.rawBytes || crc32(raw) !== page.crc32) problems.add(`${label}: its body does not inflate to its recorded length and CRC-32`);
    const lines = raw.length === 0 ? [] : raw.toString('utf8').replace(/\n$/, '').split('\n');
    if (lines.length !== page.lines) problems.add(`${label}: ${lines.length} lines, recorded ${page.lines}`);
    if (!previous && page.lowerPath !== '') problems.add(`${label}: the first page's lower bound is not ''`);
    if (previous && compareCodePoints(previous.lower, page.lowerPath) >= 0) problems.add(`${label}: bounds do not ascend (after ${JSON.stringify(previous.lower)})`);
    if (previous?.lastPath !== undefined && compareCodePoints(previous.lastPath, page.lowerPath) >= 0) {
      problems.add(`${label}: the page before it holds ${JSON.stringify(previous.lastPath)}, not below this page's bound`);
    }
    let lastPath: string | undefined;
    for (const line of lines) {
      const path = (JSON.parse(line) as { add: { path: string } }).add.path;
      if (compareCodePoints(path, page.lowerPath) < 0) problems.add(`${label}: holds ${JSON.stringify(path)}, below its bound`);
      lastPath = path;
    }
    previous = { lower: page.lowerPath, lastPath };
    found.crc = crc32Combine(found.crc, page.crc32, page.rawBytes);
    found.bytes += page.rawBytes;
    found.lines += page.lines;
  }
  if (found.crc !== expected.crc || found.bytes !== expected.bytes || found.lines !== expected.lines) {
    problems.add(`file pages at version ${range.version}: ${found.lines} lines, ${found.bytes} bytes, CRC-32 ${found.crc}; the log's list has ${expected.lines}, ${expected.bytes}, ${expected.crc}`);
  }
  if (range.pages !== pages || range.rawBytes !== found.bytes || range.bodyBytes !== bodyBytes) {
    problems.add(`file_page_state says ${range.pages} pages, ${range.rawBytes} bytes (${range.bodyBytes} compressed); the pages are ${pages}, ${found.bytes} (${bodyBytes})`);
  }
}

/** The log's answer at a version, with each line's key. */
async function* logFiles(pool: Pool, table: string, version: number): AsyncGenerator<LogFile> {
  const snapshot = await snapshotLines(pool, table, { version });
  for await (const line of snapshot.lines) {
    const add = (JSON.parse(line) as { add: AddAction }).add;
    yield { path: add.path, dvId: deletionVectorUniqueId(add.deletionVector), line, columns: fileColumns(add) };
  }
}
