/**
 * The commit API under concurrent writers (issue 13, "the committer under
 * concurrent writers on one table and on many"): the committer runs as its
 * own process (services/committer/main.ts, its own login), HTTP clients in
 * this one send one-add blind appends over keep-alive connections for
 * `--seconds` per scenario: 1, 4 and 16 writers on one table, on
 * `--tables` tables (writer i round-robins over them), and conflicting on
 * one table (each writer reads the head, then appends to its partition
 * declaring it read it: writers sharing a partition conflict). Prints
 * requests/s, p50/p99 latency and 409s by conflict type per scenario, and
 * checks every table's versions are 0..N, one per 201, no gap or duplicate.
 *
 *   node --import tsx bench/commit-api.ts [--writers 1,4,16] [--seconds 5] [--tables 16]
 *
 * Uses its own database (deltameta_bench_commit_api), dropped at the end.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createPool } from '../shared/db/index.ts';
import { findTable } from '../shared/log-store/index.ts';
import { ServiceProcess } from '../shared/service/index.ts';
import { dropScratchDatabase, percentile, scratchDatabase } from './support.ts';

const { values } = parseArgs({
  options: {
    writers: { type: 'string', default: '1,4,16' },
    seconds: { type: 'string', default: '5' },
    tables: { type: 'string', default: '16' },
    out: { type: 'string', default: 'bench/results/commit-api.json' },
  },
});
const writerCounts = values.writers.split(',').map(Number);
const seconds = Number(values.seconds);
const manyTables = Number(values.tables);
const databaseName = 'deltameta_bench_commit_api';
const schemaString = JSON.stringify({ type: 'struct', fields: [
  { name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'part', type: 'string', nullable: true, metadata: {} },
] });
/** 201 answers per table (its create included): each must be one version. */
const committedByTable = new Map<string, number>();
/** Partitions of the conflicts scenario: writer w appends to partition w % 4 and reads it. */
const mergePartitions = 4;

interface Row {
  readonly scenario: string;
  readonly writers: number;
  readonly commits: number;
  readonly failures: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** 409 answers by conflict type (the conflicts scenario) */
  readonly conflicts: string;
}

function createBody(id: string, partitioned = false): string {
  return [
    { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: partitioned ? ['part'] : [], configuration: {} } },
  ].map((line) => JSON.stringify(line)).join('\n');
}

function appendBody(name: string, part?: string): string {
  const partitionValues = part === undefined ? {} : { part };
  return `${JSON.stringify({ commitInfo: { timestamp: Date.now(), operation: 'WRITE', isBlindAppend: part === undefined } })}\n${
    JSON.stringify({ add: { path: `${name}.parquet`, partitionValues, size: 1000, modificationTime: Date.now(), dataChange: true, stats: '{"numRecords":10}' } })}\n`;
}

async function post(base: string, table: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(`${base}/v1/tables/${table}/commits`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', ...headers }, body });
  return { status: response.status, text: await response.text() };
}

/**
 * Appends (blind) round-robin over `tables`; with `headOf`, conflicting
 * appends instead: each writer reads the head (as a writer reads its
 * snapshot), then appends to its partition, declaring it read that
 * partition at that version — writers sharing a partition conflict.
 */
async function scenario(base: string, label: string, tables: readonly string[], writers: number, headOf?: (table: string) => Promise<number>): Promise<Row> {
  for (const table of tables) {
    const { status } = await post(base, table, createBody(table, headOf !== undefined), { 'delta-read-version': '-1' });
    if (status !== 201) throw new Error(`creating ${table}: HTTP ${status}`);
    committedByTable.set(table, 1);
  }
  const latencies: number[] = [];
  const conflicts = new Map<string, number>();
  let failures = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: writers }, async (_, writer) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const table = tables[(writer + i) % tables.length] as string;
      const part = `p${writer % mergePartitions}`;
      const context: Record<string, string> = headOf === undefined ? {} : { 'delta-read-version': String(await headOf(table)), 'delta-read-predicates': JSON.stringify([`part=${part}`]) };
      const sent = performance.now();
      const { status, text } = await post(base, table, appendBody(`w${writer}-${i}`, headOf === undefined ? undefined : part), context);
      latencies.push(performance.now() - sent);
      if (status === 409 && headOf !== undefined) {
        const type = (JSON.parse(text) as { conflictType: string }).conflictType;
        conflicts.set(type, (conflicts.get(type) ?? 0) + 1);
      } else if (status === 201) {
        committedByTable.set(table, (committedByTable.get(table) ?? 0) + 1);
      } else {
        failures++;
      }
    }
  }));
  const elapsedS = (performance.now() - started) / 1000;
  return {
    scenario: label, writers, commits: latencies.length, failures,
    perSecond: latencies.length / elapsedS, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
    conflicts: [...conflicts].map(([type, count]) => `${count} ${type}`).join(', '),
  };
}

const url = await scratchDatabase(databaseName);
const committer = ServiceProcess.spawn('committer', {
  env: { ...process.env, DELTAMETA_PG_URL: url, DELTAMETA_COMMITTER_PORT: '0', DELTAMETA_COMMITTER_ADMIN_PORT: '0', DELTAMETA_LOG_LEVEL: 'info' },
  onLine: (line, level) => {
    if (level >= 40) process.stderr.write(`committer | ${line}\n`);
  },
});
/** Runs every scenario; the tables whose versions are not exactly 0..N, or not one per 201 answer. */
async function measure(rows: Row[]): Promise<string[]> {
  await committer.waitReady();
  const base = `http://127.0.0.1:${committer.apiPort}`;
  const pool = createPool(url, { max: Math.max(...writerCounts) });
  try {
    const headOf = async (table: string): Promise<number> => (await findTable(pool, table))?.headVersion ?? -1;
    let run = 0;
    for (const writers of writerCounts) {
      run++;
      rows.push(await scenario(base, 'one table', [`bench_one_${run}`], writers));
      rows.push(await scenario(base, `${manyTables} tables`, Array.from({ length: manyTables }, (_, i) => `bench_many_${run}_${i}`), writers));
      rows.push(await scenario(base, 'conflicting', [`bench_merge_${run}`], writers, headOf));
    }
    const { rows: checks } = await pool.query<{ name: string; versions: number; max: number }>(
      'SELECT t.name, count(DISTINCT c.version)::int AS versions, max(c.version)::int AS max FROM deltameta.delta_table t JOIN deltameta.delta_commit c USING (table_id) GROUP BY t.name',
    );
    return checks.filter((check) => check.versions !== check.max + 1 || check.versions !== (committedByTable.get(check.name) ?? 0)).map((check) => check.name);
  } finally {
    await pool.end();
  }
}

const rows: Row[] = [];
let gaps: string[];
try {
  gaps = await measure(rows);
} finally {
  await committer.terminate();
  await dropScratchDatabase(databaseName);
}

const pad = (text: string, width: number): string => text.padStart(width);
console.log(`commit API: one-add appends over HTTP/1.1 keep-alive, ${seconds} s per scenario (conflicting: each reads the head, appends to its partition of ${mergePartitions}, declares it read)`);
console.log(`${'scenario'.padEnd(12)} ${pad('writers', 7)} ${pad('requests', 8)} ${pad('failed', 6)} ${pad('req/s', 7)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)}  409 by type`);
for (const row of rows) {
  console.log(`${row.scenario.padEnd(12)} ${pad(String(row.writers), 7)} ${pad(String(row.commits), 8)} ${pad(String(row.failures), 6)} ${
    pad(row.perSecond.toFixed(0), 7)} ${pad(row.p50Ms.toFixed(1), 8)} ${pad(row.p99Ms.toFixed(1), 8)}  ${row.conflicts}`);
}
console.log(gaps.length === 0 ? 'versions: every table 0..N, one per 201, no gap, no duplicate' : `versions: gap, duplicate or lost commit in ${gaps.join(', ')}`);
if (gaps.length > 0 || rows.some((row) => row.failures > 0)) process.exitCode = 1;
const command = `node --import tsx bench/commit-api.ts ${process.argv.slice(2).join(' ')}`.trim();
writeFileSync(values.out, `${JSON.stringify({ benchmark: 'commit-api', when: new Date().toISOString(), command, seconds, rows, gaps }, null, 2)}\n`);
