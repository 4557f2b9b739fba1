/**
 * Reader latency against file-based replay (docs/design.md section 6). For
 * generated tables of each size and layout (bench/layouts.ts): import,
 * refresh, then per endpoint the cold (empty L1 and L2: L3 answers; whole
 * lists from the file pages, and once more from file_index rows with the
 * pages switched off), warm (L2 hit in a reader without L1) and hot (L1 hit)
 * latency as a client sees it — a Python client timing each request to a
 * decoded answer, gzip and JSON / NDJSON / Arrow decoding included
 * (bench/reader-client.ts) — next to the project's replay and, per endpoint, the
 * delta-rs call a user would make for the same answer
 * (bench/deltars_baselines.py, timed inside one Python process, table load
 * included) reading the same _delta_log from local disk; then throughput and
 * p99 of hot summaries under 32 keep-alive connections (a reader process of
 * its own, as deployed, after a warm-up run; autocannon in another process).
 *
 *   node --import tsx bench/reader.ts [--sizes 10000,100000] [--seconds 5]
 *     [--layout today|realistic|both] [--realistic-max-files 100000]
 *     [--endpoints summary,arrowFiles,…] [--merge]
 *
 * --endpoints measures only those; --merge replaces their rows in the
 * existing bench/results/reader.json (same layout, size and endpoint) and
 * keeps the rest, recording both commands: a focused re-run on a quiet
 * machine without the whole suite.
 *
 * The realistic layout writes a checkpoint every 100 of ~1,000 commits, so
 * its generation and import cost ~10 times today's: its sizes are capped at
 * --realistic-max-files (rows and output say when a size was capped).
 *
 * Uses its own database (deltameta_bench_reader); writes bench/results/reader.json.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { loadConfig, loadReaderConfig, localLoginUrl, projectRoot } from '../shared/config/index.ts';
import { createPool } from '../shared/db/index.ts';
import { z } from 'zod';
import { replay } from '../shared/delta/index.ts';
import { createLogger } from '../shared/logging/index.ts';
import { importTable } from '../shared/log-store/index.ts';
import { createRegistry, readerMetrics } from '../shared/metrics/index.ts';
import { Reader } from '../services/reader/index.ts';
import { refreshArrowSegments, refreshFilePages, refreshTable } from '../shared/materialized/index.ts';
import { createCacheRedis, createRedis, unlinkMatching } from '../shared/clients/index.ts';
import { ensureDeltaRs } from '../test/support/deltars.ts';
import { generateLayout, parseLayouts, type LayoutName } from './layouts.ts';
import { answersArrow, arrowStreamType, clientTimes, type ClientFormat } from './reader-client.ts';
import { dropScratchDatabase, percentile, scratchDatabase, startServices } from './support.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    seconds: { type: 'string', default: '5' },
    layout: { type: 'string', default: 'both' },
    'realistic-max-files': { type: 'string', default: '100000' },
    endpoints: { type: 'string' },
    merge: { type: 'boolean', default: false },
  },
});
const onlyEndpoints = values.endpoints?.split(',').map((name) => name.trim());
const sizes = values.sizes.split(',').map(Number);
const loadSeconds = Number(values.seconds);
const layouts = parseLayouts(values.layout);
const realisticMaxFiles = Number(values['realistic-max-files']);
const config = loadConfig();
const logger = createLogger('bench-reader', 'warn');
const run = Date.now().toString(36);
const redis = createRedis(config, 'deltameta-bench-reader');
// L2 in the cache's own instance, as services/reader/main.ts runs it.
const cacheRedis = createCacheRedis(config, 'deltameta-bench-reader-cache');

function startReader(url: string, prefix: string, env: Record<string, string>): Reader {
  return new Reader({
    config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', DELTAMETA_READER_PG_URL: localLoginUrl(url, 'reader'), ...env }),
    defaultPostgresUrl: localLoginUrl(url, 'reader'), redis, cacheRedis, redisPrefix: prefix, logger, metrics: readerMetrics(createRegistry('bench-reader')),
  });
}

interface ReaderRow {
  readonly layout: LayoutName;
  readonly files: number;
  /** the size asked for, when the layout capped it */
  readonly requestedFiles?: number;
  readonly endpoint: string;
  /** what the client decoded: every time below includes it (bench/reader_client.py) */
  readonly format: ClientFormat;
  readonly rows: number;
  readonly wireBytes: number;
  readonly coldMs: number;
  readonly warmMs: number;
  readonly hotMs: number;
  /** hot, bytes received by a client that decodes nothing: the server's share of hotMs */
  readonly hotServerMs: number;
  readonly replayMs: number;
  /** the delta-rs call this endpoint's deltaRsMs and ratios are measured against */
  readonly deltaRsCall: string;
  readonly deltaRsMs: number;
  readonly coldVsReplay: number;
  readonly hotVsReplay: number;
  readonly coldVsDeltaRs: number;
  readonly hotVsDeltaRs: number;
  /** a second delta-rs call a user might make for the same endpoint (whole lists: file_uris) */
  readonly alsoDeltaRs?: { readonly call: string; readonly ms: number; readonly coldVs: number; readonly hotVs: number };
  readonly hotSummary32Connections?: { requestsPerSecond: number; p50Ms: number; p99Ms: number };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** The time to the last byte of one answer, nothing decoded (the server's share); Accept as the endpoint's client sends it. */
function get(port: number, route: string, accept = '*/*'): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: route, agent, headers: { 'accept-encoding': 'gzip', accept } }, (response) => {
      response.on('data', () => undefined);
      response.on('end', () => (response.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`${route}: HTTP ${response.statusCode}`))));
    });
    request.on('error', reject);
  });
}

async function median(times: number, work: () => Promise<number>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push(await work());
  return percentile(samples, 50);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const execFileAsync = promisify(execFile);

const baselineNames = ['summary', 'addActions', 'fileUris', 'prunedFileUris', 'timeTravel', 'history'] as const;
type BaselineName = (typeof baselineNames)[number];
const baselineSchema = z.object({ call: z.string(), ms: z.number() });
type Baseline = z.infer<typeof baselineSchema>;
const baselinesSchema = z.object(Object.fromEntries(baselineNames.map((name) => [name, baselineSchema])) as Record<BaselineName, typeof baselineSchema>);

/** Each delta-rs baseline's median over three fresh loads, all in one Python process (bench/deltars_baselines.py). */
async function deltaRsBaselines(python: string, dir: string, timeTravelVersion: number, partition: string): Promise<Record<BaselineName, Baseline>> {
  const script = path.join(projectRoot, 'bench', 'deltars_baselines.py');
  const { stdout } = await execFileAsync(python, [script, dir, '--version', String(timeTravelVersion), '--partition', partition, '--repeat', '3'], { maxBuffer: 16 * 1024 * 1024 });
  return baselinesSchema.parse(JSON.parse(stdout));
}

/** Throughput with autocannon in a separate process (a load generator in the reader's own process would share its CPU and measure half). */
async function throughput(port: number, route: string, connections: number, seconds: number): Promise<{ requestsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const autocannon = path.join(projectRoot, 'node_modules', 'autocannon', 'autocannon.js');
  const { stdout } = await execFileAsync(process.execPath, [autocannon, '-c', String(connections), '-d', String(seconds), '-j', `http://127.0.0.1:${port}${route}`], { maxBuffer: 16 * 1024 * 1024 });
  const report = JSON.parse(stdout) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  if (report.non2xx > 0 || report.errors > 0) throw new Error(`autocannon saw ${report.non2xx} non-2xx answers and ${report.errors} errors`);
  return { requestsPerSecond: Math.round(report.requests.average), p50Ms: report.latency.p50, p99Ms: report.latency.p99 };
}

const url = await scratchDatabase('deltameta_bench_reader');
const pool = createPool(url, { max: 4 });
// delta-rs and pyarrow: the baselines and the client that decodes (required: without them there is nothing to compare).
const python = await ensureDeltaRs();
const results: ReaderRow[] = [];
const allCases = layouts.flatMap((layout) => sizes.map((requestedFiles) => ({
  layout, requestedFiles, files: layout.name === 'realistic' ? Math.min(requestedFiles, realisticMaxFiles) : requestedFiles,
})));
// Two sizes capped to the same count would measure the same table twice.
const cases = allCases.filter((item, index) => allCases.findIndex((other) => other.layout === item.layout && other.files === item.files) === index);
try {
  for (const { layout, requestedFiles, files } of cases) {
    if (files !== requestedFiles) console.error(`${layout.name} layout: ${files} files instead of ${requestedFiles} (--realistic-max-files)`);
    const dir = mkdtempSync(path.join(tmpdir(), 'deltameta-bench-reader-'));
    try {
      const generateStarted = performance.now();
      const generated = await generateLayout(dir, layout, files);
      console.error(`${layout.name} layout, ${files} files: ${generated.versions} versions, checkpoints at ${generated.checkpoints.join(',')}, generated in ${((performance.now() - generateStarted) / 1000).toFixed(1)} s`);
      const table = `bench_${layout.name}_${files}`;
      // Every version, not just the newest checkpoint and its tail: time travel
      // needs the older versions (410 otherwise), and /commits then holds the
      // 100 commits history(100) reads.
      await importTable(pool, dir, table, { history: true });
      await refreshTable(pool, table);
      const pagesStarted = performance.now();
      const pages = await refreshFilePages(pool, table);
      console.error(`${table}: file pages built: ${pages.pagesWritten} pages in ${((performance.now() - pagesStarted) / 1000).toFixed(1)} s`);
      const segmentsStarted = performance.now();
      const segments = await refreshArrowSegments(pool, table);
      console.error(`${table}: Arrow segments built: ${segments.segmentsWritten} segments in ${((performance.now() - segmentsStarted) / 1000).toFixed(1)} s`);
      const state = await replay(dir);
      const date = [...state.files.values()][0]?.partitionValues['date'] ?? '';
      // baseline: the delta-rs call a user would make for the same answer; also: another one they might.
      // format: what the client decodes (bench/reader_client.py), the decoding inside every time.
      const filesRoute = `/v1/tables/${table}/files`;
      const endpoints: Record<string, { route: string; format: ClientFormat; env?: Record<string, string>; baseline: BaselineName; also?: BaselineName }> = {
        summary: { route: `/v1/tables/${table}`, format: 'json', baseline: 'summary' },
        prunedFiles: { route: `${filesRoute}?partition.date=${encodeURIComponent(date)}`, format: 'ndjson', baseline: 'prunedFileUris' },
        prunedFilesArrow: { route: `${filesRoute}?partition.date=${encodeURIComponent(date)}`, format: 'arrow', baseline: 'prunedFileUris' },
        fullFiles: { route: filesRoute, format: 'ndjson', baseline: 'addActions', also: 'fileUris' },
        // The same list from file_index rows (file pages switched off), for comparison.
        fullFilesFromRows: { route: filesRoute, format: 'ndjson', env: { DELTAMETA_READER_FILE_PAGES: 'off' }, baseline: 'addActions', also: 'fileUris' },
        timeTravelFiles: { route: `${filesRoute}?version=${layout.timeTravelVersion}`, format: 'ndjson', baseline: 'timeTravel' },
        arrowFiles: { route: filesRoute, format: 'arrow', baseline: 'addActions', also: 'fileUris' },
        // The same list from the file pages' batches (one per page), the Arrow segments switched off.
        arrowFilesFromPages: { route: filesRoute, format: 'arrow', env: { DELTAMETA_READER_ARROW_SEGMENTS: 'off' }, baseline: 'addActions', also: 'fileUris' },
        arrowFilesFromRows: { route: filesRoute, format: 'arrow', env: { DELTAMETA_READER_FILE_PAGES: 'off' }, baseline: 'addActions', also: 'fileUris' },
        arrowTimeTravelFiles: { route: `${filesRoute}?version=${layout.timeTravelVersion}`, format: 'arrow', baseline: 'timeTravel' },
        // /commits answers the latest 100 commits by default, as history(100) does.
        history: { route: `/v1/tables/${table}/commits`, format: 'json', baseline: 'history' },
      };
      const replayMs = await median(3, () => timed(async () => (await replay(dir)).liveLines()));
      const deltaRs = await deltaRsBaselines(python, dir, layout.timeTravelVersion, `date=${date}`);
      const hotRepeat = files >= 1_000_000 ? 5 : 20;
      const unknownEndpoint = onlyEndpoints?.find((name) => !(name in endpoints));
      if (unknownEndpoint !== undefined) throw new Error(`--endpoints: no endpoint "${unknownEndpoint}" (endpoints: ${Object.keys(endpoints).join(', ')})`);
      for (const [endpoint, { route, format, env = {}, baseline, also }] of Object.entries(endpoints)) {
        if (onlyEndpoints && !onlyEndpoints.includes(endpoint)) continue;
        const readerFor = (level: string, i = 0, extra: Record<string, string> = {}): Reader =>
          startReader(url, `bench-reader:${run}:${level}:${layout.name}:${files}:${endpoint}:${i}:`, { ...env, ...extra });
        if (format === 'arrow') {
          const probe = readerFor('probe');
          await probe.start();
          const arrow = await answersArrow(probe.port, route);
          await probe.stop();
          if (!arrow) {
            console.error(`${endpoint}: the reader does not answer Arrow; skipped`);
            continue;
          }
        }
        // Each cold sample in a new reader: empty L1 and L2, one request, decoding included.
        const cold: number[] = [];
        for (let i = 0; i < 3; i++) {
          const reader = readerFor('cold', i);
          await reader.start();
          cold.push(...(await clientTimes(python, reader.port, route, format, 1)).samples);
          await reader.stop();
        }
        const warmReader = readerFor('warm', 0, { DELTAMETA_READER_L1: 'off' });
        await warmReader.start();
        const warmMs = percentile((await clientTimes(python, warmReader.port, route, format, 5, 1)).samples, 50);
        await warmReader.stop();
        const hotReader = readerFor('hot');
        await hotReader.start();
        const hot = await clientTimes(python, hotReader.port, route, format, format === 'json' ? 50 : hotRepeat, 1);
        const hotMs = percentile(hot.samples, 50);
        // The server's share: the bytes received by a client that decodes nothing.
        const hotServerMs = await median(format === 'json' ? 50 : hotRepeat, () => get(hotReader.port, route, format === 'arrow' ? arrowStreamType : '*/*'));
        let load: Awaited<ReturnType<typeof throughput>> | undefined;
        await hotReader.stop();
        if (endpoint === 'summary') {
          // As deployed: the reader in a process of its own (the bench's
          // process also holds a pool and Redis client), autocannon in
          // another; a warm-up run first (JIT, L1 fill), then the measured one.
          const standalone = await startServices(url, ['reader'], `${run}-${layout.name}-${files}`);
          try {
            const port = standalone.readerPort();
            if (port === undefined) throw new Error('the reader process did not report its port');
            await throughput(port, route, 32, 2);
            load = await throughput(port, route, 32, loadSeconds);
          } finally {
            await standalone.stop();
          }
        }
        const coldMs = percentile(cold, 50);
        const primary = deltaRs[baseline];
        const other = also ? deltaRs[also] : undefined;
        const row: ReaderRow = {
          layout: layout.name, files, ...(files !== requestedFiles ? { requestedFiles } : {}), endpoint, format, rows: hot.rows, wireBytes: hot.bytes,
          coldMs, warmMs, hotMs, hotServerMs, replayMs,
          deltaRsCall: primary.call, deltaRsMs: primary.ms,
          coldVsReplay: replayMs / coldMs, hotVsReplay: replayMs / hotMs,
          coldVsDeltaRs: primary.ms / coldMs, hotVsDeltaRs: primary.ms / hotMs,
          ...(other ? { alsoDeltaRs: { call: other.call, ms: other.ms, coldVs: other.ms / coldMs, hotVs: other.ms / hotMs } } : {}),
          ...(load ? { hotSummary32Connections: load } : {}),
        };
        results.push(row);
        console.log(JSON.stringify(row));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  await pool.end();
  for (const pattern of [`bench-reader:${run}:*`, `run:bench-${run}-*`]) {
    await unlinkMatching(redis, pattern);
    await unlinkMatching(cacheRedis, pattern);
  }
  redis.disconnect();
  cacheRedis.disconnect();
  agent.destroy();
  await dropScratchDatabase('deltameta_bench_reader');
}
const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(value >= 10 ? 0 : 1)}x` : '-');
console.log(`\nlayouts: ${layouts.map((layout) => `${layout.name} = ${layout.description}`).join('; ')}`);
if (layouts.some((layout) => layout.name === 'realistic') && sizes.some((files) => files > realisticMaxFiles)) {
  console.log(`realistic layout capped at ${realisticMaxFiles} files (--realistic-max-files): its rows have requestedFiles`);
}
console.log(['layout', 'files', 'endpoint', 'cold ms', 'hot ms', 'delta-rs ms', 'cold/hot vs delta-rs', 'delta-rs call', 'also'].join(' | '));
for (const row of results) {
  const also = row.alsoDeltaRs ? `${row.alsoDeltaRs.call}: ${row.alsoDeltaRs.ms.toFixed(1)} ms, ${ratio(row.alsoDeltaRs.coldVs)} / ${ratio(row.alsoDeltaRs.hotVs)}` : '';
  console.log([row.layout, row.files, row.endpoint, row.coldMs.toFixed(1), row.hotMs.toFixed(2), row.deltaRsMs.toFixed(1), `${ratio(row.coldVsDeltaRs)} / ${ratio(row.hotVsDeltaRs)}`, row.deltaRsCall, also].join(' | '));
}
const command = `node --import tsx bench/reader.ts --sizes ${sizes.join(',')} --seconds ${loadSeconds} --layout ${values.layout} --realistic-max-files ${realisticMaxFiles}${values.endpoints ? ` --endpoints ${values.endpoints}` : ''}${values.merge ? ' --merge' : ''}`;
const resultsFile = path.join(projectRoot, 'bench', 'results', 'reader.json');
mkdirSync(path.dirname(resultsFile), { recursive: true });
const measuredAt = new Date().toISOString();
if (values.merge) {
  // The rows measured now replace their namesakes; the rest, and the commands that measured them, stay.
  const previous = JSON.parse(readFileSync(resultsFile, 'utf8')) as { command: string; measuredAt: string; results: ReaderRow[]; sizes: number[]; layouts: unknown; realisticMaxFiles: number; merged?: Array<{ command: string; measuredAt: string }> };
  const same = (a: ReaderRow, b: ReaderRow): boolean => a.layout === b.layout && a.files === b.files && a.endpoint === b.endpoint;
  const merged = previous.results.map((row) => results.find((fresh) => same(fresh, row)) ?? row);
  for (const fresh of results) if (!merged.some((row) => same(row, fresh))) merged.push(fresh);
  writeFileSync(resultsFile, `${JSON.stringify({ ...previous, results: merged, merged: [...(previous.merged ?? []), { command, measuredAt }] }, null, 2)}\n`);
} else {
  writeFileSync(resultsFile, `${JSON.stringify({ measuredAt, command, sizes, layouts, realisticMaxFiles, results }, null, 2)}\n`);
}
