/**
 * The commit API under concurrent writers (issue 13, "the committer under
 * concurrent writers on one table and on many"): the committer runs as its
 * own process (services/committer/main.ts, its own login), HTTP clients in
 * this one send one-add blind appends over keep-alive connections for
 * `--seconds` per scenario: 1, 4 and 16 writers on one table, and on
 * `--tables` tables (writer i round-robins over them). Prints commits/s and
 * p50/p99 latency per scenario, and checks every table's versions are
 * 0..N with no gap and no duplicate.
 *
 *   node --import tsx bench/commit-api.ts [--writers 1,4,16] [--seconds 5] [--tables 16]
 *
 * Uses its own database (deltameta_bench_commit_api), dropped at the end.
 */
import { parseArgs } from 'node:util';
import { createPool } from '../shared/db/index.ts';
import { ServiceProcess } from '../shared/service/index.ts';
import { dropScratchDatabase, percentile, scratchDatabase } from './support.ts';

const { values } = parseArgs({
  options: {
    writers: { type: 'string', default: '1,4,16' },
    seconds: { type: 'string', default: '5' },
    tables: { type: 'string', default: '16' },
  },
});
const writerCounts = values.writers.split(',').map(Number);
const seconds = Number(values.seconds);
const manyTables = Number(values.tables);
const databaseName = 'deltameta_bench_commit_api';
const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

interface Row {
  readonly scenario: string;
  readonly writers: number;
  readonly commits: number;
  readonly failures: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function createBody(id: string): string {
  return [
    { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
  ].map((line) => JSON.stringify(line)).join('\n');
}

function appendBody(name: string): string {
  return `${JSON.stringify({ commitInfo: { timestamp: Date.now(), operation: 'WRITE', isBlindAppend: true } })}\n${
    JSON.stringify({ add: { path: `${name}.parquet`, partitionValues: {}, size: 1000, modificationTime: Date.now(), dataChange: true, stats: '{"numRecords":10}' } })}\n`;
}

async function post(base: string, table: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${base}/v1/tables/${table}/commits`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', ...headers }, body });
  await response.arrayBuffer();
  return response.status;
}

async function scenario(base: string, label: string, tables: readonly string[], writers: number): Promise<Row> {
  for (const table of tables) {
    const status = await post(base, table, createBody(table), { 'delta-read-version': '-1' });
    if (status !== 201) throw new Error(`creating ${table}: HTTP ${status}`);
  }
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: writers }, async (_, writer) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const table = tables[(writer + i) % tables.length] as string;
      const sent = performance.now();
      const status = await post(base, table, appendBody(`w${writer}-${i}`));
      latencies.push(performance.now() - sent);
      if (status !== 201) failures++;
    }
  }));
  const elapsedS = (performance.now() - started) / 1000;
  return {
    scenario: label, writers, commits: latencies.length, failures,
    perSecond: latencies.length / elapsedS, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
  };
}

const url = await scratchDatabase(databaseName);
const committer = ServiceProcess.spawn('committer', {
  env: { ...process.env, DELTAMETA_PG_URL: url, DELTAMETA_COMMITTER_PORT: '0', DELTAMETA_COMMITTER_ADMIN_PORT: '0', DELTAMETA_LOG_LEVEL: 'info' },
  onLine: (line, level) => {
    if (level >= 40) process.stderr.write(`committer | ${line}\n`);
  },
});
/** Runs every scenario; the number of tables whose versions are not exactly 0..N. */
async function measure(rows: Row[]): Promise<number> {
  await committer.waitReady();
  const base = `http://127.0.0.1:${committer.apiPort}`;
  let run = 0;
  for (const writers of writerCounts) {
    run++;
    rows.push(await scenario(base, 'one table', [`bench_one_${run}`], writers));
    rows.push(await scenario(base, `${manyTables} tables`, Array.from({ length: manyTables }, (_, i) => `bench_many_${run}_${i}`), writers));
  }
  const pool = createPool(url, { max: 1 });
  try {
    const { rows: checks } = await pool.query<{ name: string; versions: number; max: number }>(
      'SELECT t.name, count(DISTINCT c.version)::int AS versions, max(c.version)::int AS max FROM deltameta.delta_table t JOIN deltameta.delta_commit c USING (table_id) GROUP BY t.name',
    );
    return checks.filter((check) => check.versions !== check.max + 1).length;
  } finally {
    await pool.end();
  }
}

const rows: Row[] = [];
let gaps: number;
try {
  gaps = await measure(rows);
} finally {
  await committer.terminate();
  await dropScratchDatabase(databaseName);
}

const pad = (text: string, width: number): string => text.padStart(width);
console.log(`commit API: one-add blind appends over HTTP/1.1 keep-alive, ${seconds} s per scenario`);
console.log(`${'scenario'.padEnd(12)} ${pad('writers', 7)} ${pad('commits', 8)} ${pad('failed', 6)} ${pad('commits/s', 10)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)}`);
for (const row of rows) {
  console.log(`${row.scenario.padEnd(12)} ${pad(String(row.writers), 7)} ${pad(String(row.commits), 8)} ${pad(String(row.failures), 6)} ${
    pad(row.perSecond.toFixed(0), 10)} ${pad(row.p50Ms.toFixed(1), 8)} ${pad(row.p99Ms.toFixed(1), 8)}`);
}
console.log(gaps === 0 ? 'versions: every table 0..N, no gap, no duplicate' : `versions: ${gaps} table(s) with a gap or duplicate`);
if (gaps > 0 || rows.some((row) => row.failures > 0)) process.exitCode = 1;
