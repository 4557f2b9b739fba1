/**
 * Delta Sharing (issue 16): the official Python connector's `query` of a big
 * table through deltameta's reader, next to delta-rs loading the same
 * `_delta_log` from local disk, side by side in one run.
 *
 * The table: the realistic layout (bench/layouts.ts: 1,050 commits, a
 * checkpoint every 100, the one at 1,000 rewritten by delta-rs, a JSON tail
 * 1,001..1,050, 50 partitions of `date`), without deletion vectors so that
 * the connector's default (parquet) response format can serve it — a table
 * with deletion vectors is refused in parquet and read in delta format only.
 * Generated once per size under --dir and kept. Imported into a scratch
 * database as `deltameta import` does (importMaterialized, then the file
 * pages and Arrow segments), shared with the real CLI (`deltameta sharing
 * share` / `recipient`), the recipient's profile pointed at each reader.
 *
 * Each row runs in a fresh reader process (its own Redis prefix: empty L1
 * and L2): the first call is `cold`; the next --repeat calls, in the same
 * process, give `hot` (median); a second reader on the same prefix (L2
 * filled by the first, L1 empty) gives `warm` (its first call). "server ms"
 * is the same request through the connector's session with the body read and
 * nothing parsed. Timings are in Python (bench/sharing_client.py): the
 * connector (`delta-sharing` 1.4.2, .venv/delta-sharing) and delta-rs
 * (.venv), each delta-rs run on a fresh DeltaTable, the load included.
 * The number of files each side returns must be equal (the benchmark fails
 * otherwise), and so must the version.
 *
 *   node --import tsx bench/sharing.ts [--files 1000000] [--repeat 3] [--limit-hint 1000000]
 *     [--dir /tmp/deltameta-bench-sharing] [--out bench/results/sharing.json] [--prepare-only]
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { z } from 'zod';
import { createCacheRedis, createRedis, unlinkMatching } from '../shared/clients/index.ts';
import { loadConfig, projectRoot } from '../shared/config/index.ts';
import { createPool } from '../shared/db/index.ts';
import { generateTable } from '../shared/delta/index.ts';
import { importMaterialized, refreshArrowSegments, refreshFilePages } from '../shared/materialized/index.ts';
import { isolatedEnvironment, runPipelineNames, ServiceProcess } from '../shared/service/index.ts';
import { runDeltameta } from '../test/support/cli.ts';
import { ensureDeltaSharingVenv } from '../test/support/delta-sharing.ts';
import { ensureDeltaRs } from '../test/support/deltars.ts';
import { parseLayouts } from './layouts.ts';
import { dropScratchDatabase, percentile, scratchDatabase } from './support.ts';

const execFileAsync = promisify(execFile);
const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '1000000' },
    repeat: { type: 'string' },
    // rows: a LIMIT of 1M rows (the generated files hold 1,000..9,999 records each)
    'limit-hint': { type: 'string', default: '1000000' },
    dir: { type: 'string', default: '/tmp/deltameta-bench-sharing' },
    out: { type: 'string', default: path.join(projectRoot, 'bench', 'results', 'sharing.json') },
    // Generates (and caches) the table, then exits: a big table built ahead of the run.
    'prepare-only': { type: 'boolean', default: false },
  },
});
const files = Number(values.files);
const repeat = Number(values.repeat ?? (files >= 1_000_000 ? 3 : 5));
const limitHint = Number(values['limit-hint']);
const layout = parseLayouts('realistic')[0];
if (!layout) throw new Error('no realistic layout');
const checkpointVersion = 1_000;
const tableDir = path.join(values.dir, `realistic-nodv-${files}`);
const run = Date.now().toString(36);
const script = path.join(projectRoot, 'bench', 'sharing_client.py');
const database = 'deltameta_bench_sharing';
const sharedTable = 'bench.default.events';

/** The layout without deletion vectors, its checkpoint at 1,000 written by delta-rs (as bench/import.ts); a marker says it is complete. */
async function prepareTable(python: string): Promise<void> {
  const marker = path.join(tableDir, '.bench-ready');
  if (existsSync(marker)) return;
  rmSync(tableDir, { recursive: true, force: true });
  const started = performance.now();
  const l = layout as NonNullable<typeof layout>;
  await generateTable(tableDir, { files, commits: l.commits, partitions: 50, checkpointInterval: l.checkpointInterval, seed: 7, deletionVectors: false });
  const logDir = path.join(tableDir, '_delta_log');
  const prefix = `${String(checkpointVersion).padStart(20, '0')}.checkpoint.`;
  for (const name of readdirSync(logDir)) if (name.startsWith(prefix)) rmSync(path.join(logDir, name));
  rmSync(path.join(logDir, '_last_checkpoint'), { force: true });
  await execFileAsync(python, ['-c', `from deltalake import DeltaTable; DeltaTable(${JSON.stringify(tableDir)}, version=${checkpointVersion}).create_checkpoint()`]);
  writeFileSync(marker, `${new Date().toISOString()}\n`);
  console.error(`${tableDir}: generated in ${seconds(started)} s`);
}

const seconds = (from: number): number => Math.round(performance.now() - from) / 1000;
const median = (samples: readonly number[]): number => percentile(samples, 50);

const baselineNames = ['addActions', 'fileUris', 'prunedFileUris', 'version', 'metadata'] as const;
type BaselineName = (typeof baselineNames)[number];
const baselineSchema = z.object({ call: z.string(), samples: z.array(z.number()), count: z.number() });
const deltaRsSchema = z.object({
  partition: z.string(), version: z.number(),
  baselines: z.object(Object.fromEntries(baselineNames.map((name) => [name, baselineSchema])) as Record<BaselineName, typeof baselineSchema>),
});
const connectorSchema = z.object({
  samples: z.array(z.number()), rawSamples: z.array(z.number()), files: z.number(), version: z.number(), bytes: z.number(), cacheStatus: z.string(), serverTiming: z.string(),
});
type ConnectorTimes = z.infer<typeof connectorSchema>;

interface Row {
  readonly name: string;
  readonly call: string;
  readonly format: string;
  readonly files: number;
  readonly version: number;
  /** the inflated body of one raw request */
  readonly responseBytes: number;
  readonly coldMs: number;
  readonly warmMs: number;
  readonly hotMs: number;
  readonly hotSamples: number[];
  /** the same request, body read, nothing parsed (median) */
  readonly serverMs: number;
  readonly deltaRsCall: string;
  readonly deltaRsFiles?: number;
  readonly deltaRsMs: number;
  readonly deltaRsSamples: number[];
  readonly coldVsDeltaRs: number;
  readonly hotVsDeltaRs: number;
  /** the Cache-Status and Server-Timing headers of the last raw answer */
  readonly cacheStatus: string;
  readonly serverTiming: string;
  readonly readerWarnings?: string[];
}

interface Case {
  readonly name: string;
  readonly call: string;
  readonly kind: 'query' | 'version' | 'metadata';
  readonly format: 'parquet' | 'delta';
  readonly predicate?: boolean;
  readonly limitHint?: number;
  readonly baseline: BaselineName;
  /** what the file count must equal: every file, the pruned partition's, or at most every file (a limit) */
  readonly expect?: 'all' | 'pruned' | 'limit';
}

async function startReader(url: string, prefixRun: string, warnings: string[]): Promise<{ reader: ServiceProcess; port: number }> {
  const reader = ServiceProcess.spawn('reader', {
    env: isolatedEnvironment(url, runPipelineNames(prefixRun)),
    onLine: (line, level) => {
      if (level < 40) return;
      process.stderr.write(`reader | ${line}\n`);
      if (warnings.length < 10) warnings.push(line.slice(0, 400));
    },
  });
  try {
    await reader.waitReady(60_000);
    if (reader.apiPort === undefined) throw new Error('the reader did not log its port');
    return { reader, port: reader.apiPort };
  } catch (error) {
    await reader.terminate().catch(() => undefined);
    throw error;
  }
}

/** One connector process: `calls` timed calls (the first is the reader's first of this case), then `raw` unparsed ones. */
async function connector(python: string, profile: string, item: Case, partition: string, calls: number, raw: number): Promise<ConnectorTimes> {
  const args = [script, 'connector', '--profile', profile, '--table', sharedTable, '--case', item.kind, '--format', item.format, '--repeat', String(calls), '--raw', String(raw)];
  if (item.predicate) args.push('--predicate', partition);
  if (item.limitHint !== undefined) args.push('--limit-hint', String(item.limitHint));
  const { stdout } = await execFileAsync(python, args, { maxBuffer: 16 * 1024 * 1024 });
  return connectorSchema.parse(JSON.parse(stdout));
}

const python = await ensureDeltaRs();
const sharingPython = await ensureDeltaSharingVenv();
await prepareTable(python);
if (values['prepare-only']) process.exit(0);
// delta-rs first: it names the partition the pruned rows select, and the counts the connector must match.
const deltaRs = deltaRsSchema.parse(JSON.parse((await execFileAsync(python, [script, 'deltars', tableDir, '--repeat', String(repeat)], { maxBuffer: 16 * 1024 * 1024 })).stdout));
const { baselines } = deltaRs;
console.error(`delta-rs: version ${deltaRs.version}, ${baselines.addActions.count} files, ${baselines.prunedFileUris.count} in ${deltaRs.partition}`);

const cases: Case[] = [
  { name: 'query', call: 'list_files_in_table(table)', kind: 'query', format: 'parquet', baseline: 'addActions', expect: 'all' },
  { name: 'queryDelta', call: 'set_delta_format_header(); list_files_in_table(table); json.loads of each line', kind: 'query', format: 'delta', baseline: 'addActions', expect: 'all' },
  { name: 'queryPruned', call: `list_files_in_table(table, jsonPredicateHints=<${deltaRs.partition.replace('=', ' = ')}>)`, kind: 'query', format: 'parquet', predicate: true, baseline: 'prunedFileUris', expect: 'pruned' },
  { name: 'queryLimit', call: `list_files_in_table(table, limitHint=${limitHint})`, kind: 'query', format: 'parquet', limitHint, baseline: 'fileUris', expect: 'limit' },
  { name: 'version', call: 'query_table_version(table)', kind: 'version', format: 'parquet', baseline: 'version' },
  { name: 'metadata', call: 'query_table_metadata(table)', kind: 'metadata', format: 'parquet', baseline: 'metadata' },
];

const url = await scratchDatabase(database);
const config = loadConfig();
const redis = createRedis(config, 'deltameta-bench-sharing');
const cacheRedis = createCacheRedis(config, 'deltameta-bench-sharing-cache');
const profileDir = mkdtempSync(path.join(tmpdir(), 'deltameta-bench-sharing-'));
const rows: Row[] = [];
const problems: string[] = [];
const timings = { importSeconds: 0, pagesSeconds: 0 };
try {
  const pool = createPool(url, { max: 2 });
  try {
    const started = performance.now();
    const imported = await importMaterialized(pool, tableDir, 'events');
    timings.importSeconds = seconds(started);
    const pagesStarted = performance.now();
    await refreshFilePages(pool, imported.tableId);
    await refreshArrowSegments(pool, imported.tableId);
    timings.pagesSeconds = seconds(pagesStarted);
    console.error(`imported ${imported.rows} rows in ${timings.importSeconds} s; pages and segments in ${timings.pagesSeconds} s`);
  } finally {
    await pool.end();
  }
  const cli = async (...args: string[]): Promise<void> => {
    const done = await runDeltameta(['sharing', ...args], { DELTAMETA_PG_URL: url });
    if (done.code !== 0) throw new Error(`deltameta sharing ${args.join(' ')}: exit ${done.code}: ${done.stderr}`);
  };
  const cliProfile = path.join(profileDir, 'cli.share');
  await cli('share', 'bench', 'default', 'events');
  // The reader's port is only known once it runs: the CLI's profile gives the token, each reader gets a copy pointing at it.
  await cli('recipient', 'bench_client', '--share', 'bench', '--profile', cliProfile, '--endpoint', 'http://127.0.0.1:1/delta-sharing');
  const token = z.object({ bearerToken: z.string() }).parse(JSON.parse(readFileSync(cliProfile, 'utf8'))).bearerToken;
  const profileFor = (port: number): string => {
    const file = path.join(profileDir, `${port}.share`);
    writeFileSync(file, JSON.stringify({ shareCredentialsVersion: 1, endpoint: `http://127.0.0.1:${port}/delta-sharing`, bearerToken: token }), { mode: 0o600 });
    return file;
  };

  for (const item of cases) {
    const prefixRun = `bench-sharing-${run}-${item.name}`;
    const warnings: string[] = [];
    const small = item.kind !== 'query';
    const first = await startReader(url, prefixRun, warnings);
    let times: ConnectorTimes;
    try {
      times = await connector(sharingPython, profileFor(first.port), item, deltaRs.partition, (small ? Math.max(repeat, 20) : repeat) + 1, small ? 20 : Math.min(repeat, 3));
    } finally {
      await first.reader.terminate();
    }
    const second = await startReader(url, prefixRun, warnings);
    let warm: ConnectorTimes;
    try {
      warm = await connector(sharingPython, profileFor(second.port), item, deltaRs.partition, 1, 0);
    } finally {
      await second.reader.terminate();
    }
    const baseline = baselines[item.baseline];
    const expected = item.expect === 'pruned' ? baselines.prunedFileUris.count : baselines.addActions.count;
    for (const answer of [times, warm]) {
      if (answer.version !== deltaRs.version) problems.push(`${item.name}: version ${answer.version}, delta-rs ${deltaRs.version}`);
      if ((item.expect === 'all' || item.expect === 'pruned') && answer.files !== expected) problems.push(`${item.name}: ${answer.files} files, delta-rs ${expected}`);
      if (item.expect === 'limit' && (answer.files < 1 || answer.files > expected)) problems.push(`${item.name}: ${answer.files} files, not within 1..${expected}`);
    }
    if (item.expect === 'all' && baselines.fileUris.count !== expected) problems.push(`delta-rs: file_uris() ${baselines.fileUris.count} files, get_add_actions ${expected}`);
    const coldMs = times.samples[0] ?? Number.NaN;
    const hotMs = median(times.samples.slice(1));
    const deltaRsMs = median(baseline.samples);
    const row: Row = {
      name: item.name, call: item.call, format: item.format, files: times.files, ...(item.kind === 'query' ? { deltaRsFiles: baseline.count } : {}),
      version: times.version, responseBytes: times.bytes, coldMs, warmMs: warm.samples[0] ?? Number.NaN, hotMs, hotSamples: times.samples.slice(1),
      serverMs: median(times.rawSamples), deltaRsCall: baseline.call, deltaRsMs, deltaRsSamples: baseline.samples,
      coldVsDeltaRs: deltaRsMs / coldMs, hotVsDeltaRs: deltaRsMs / hotMs, cacheStatus: times.cacheStatus, serverTiming: times.serverTiming, ...(warnings.length > 0 ? { readerWarnings: warnings } : {}),
    };
    rows.push(row);
    console.error(JSON.stringify(row));
  }
} finally {
  await unlinkMatching(redis, `run:bench-sharing-${run}-*`);
  await unlinkMatching(cacheRedis, `run:bench-sharing-${run}-*`);
  redis.disconnect();
  cacheRedis.disconnect();
  rmSync(profileDir, { recursive: true, force: true });
  await dropScratchDatabase(database);
}

const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(value >= 10 ? 0 : 2)}x` : '-');
console.log(['row', 'format', 'files', 'cold ms', 'warm ms', 'hot ms', 'server ms', 'delta-rs ms', 'delta-rs/cold', 'delta-rs/hot', 'delta-rs call'].join(' | '));
for (const row of rows) {
  console.log([row.name, row.format, row.files, row.coldMs.toFixed(1), row.warmMs.toFixed(1), row.hotMs.toFixed(1), row.serverMs.toFixed(1), row.deltaRsMs.toFixed(1), ratio(row.coldVsDeltaRs), ratio(row.hotVsDeltaRs), row.deltaRsCall].join(' | '));
}
if (problems.length > 0) {
  console.error(`\nthe two sides disagree; nothing written:\n${problems.join('\n')}`);
  process.exit(1);
}
const command = `node --import tsx bench/sharing.ts --files ${files} --repeat ${repeat} --limit-hint ${limitHint}`;
const output = {
  measuredAt: new Date().toISOString(), command, table: tableDir, files, layout: `${layout.description}, 50 partitions, no deletion vectors`,
  partition: deltaRs.partition, version: deltaRs.version, ...timings, repeat, rows,
};
mkdirSync(path.dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(output, null, 2)}\n`);
console.error(`wrote ${values.out}`);
