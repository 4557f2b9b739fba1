/**
 * Reader latency against file-based replay (docs/design.md section 6). For
 * generated tables of each size: import, refresh, then per endpoint the
 * cold (empty L1 and L2: L3 answers; whole lists from the file pages, and
 * once more from file_index rows with the pages switched off), warm (L2 hit in a reader without
 * L1) and hot (L1 hit) latency over HTTP, next to the project's replay
 * and delta-rs (`DeltaTable(path).get_add_actions()` timed inside Python)
 * reading the same _delta_log from local disk; then throughput and p99 of
 * hot summaries under 32 keep-alive connections (a reader process of its
 * own, as deployed, after a warm-up run; autocannon in another process).
 *
 *   node --import tsx bench/reader.ts [--sizes 10000,100000] [--seconds 5]
 *
 * Uses its own database (deltameta_bench_reader); writes bench/results/reader.json.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { loadConfig, loadReaderConfig, localLoginUrl, projectRoot } from '../shared/config/index.ts';
import { createPool } from '../shared/db/index.ts';
import { generateTable, replay } from '../shared/delta/index.ts';
import { createLogger } from '../shared/logging/index.ts';
import { importTable } from '../shared/log-store/index.ts';
import { createRegistry, readerMetrics } from '../shared/metrics/index.ts';
import { Reader } from '../services/reader/index.ts';
import { refreshFilePages, refreshTable } from '../shared/materialized/index.ts';
import { createCacheRedis, createRedis, unlinkMatching } from '../shared/clients/index.ts';
import { ensureDeltaRs } from '../test/support/deltars.ts';
import { dropScratchDatabase, percentile, scratchDatabase, startServices } from './support.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000' }, seconds: { type: 'string', default: '5' } } });
const sizes = values.sizes.split(',').map(Number);
const loadSeconds = Number(values.seconds);
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

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function get(port: number, route: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: route, agent, headers: { 'accept-encoding': 'gzip' } }, (response) => {
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

function deltaRsMs(python: string, dir: string): Promise<number> {
  const script = 'import sys,time\nfrom deltalake import DeltaTable\nt=time.perf_counter()\nDeltaTable(sys.argv[1]).get_add_actions(flatten=True)\nprint((time.perf_counter()-t)*1000)';
  return new Promise((resolve, reject) => {
    execFile(python, ['-c', script, dir], (error, stdout) => (error ? reject(new Error(error.message)) : resolve(Number(stdout.trim()))));
  });
}

/**
 * Throughput with autocannon in a separate process (a load generator in the
 * reader's own process would share its CPU and measure half).
 */
const execFileAsync = promisify(execFile);

async function throughput(port: number, route: string, connections: number, seconds: number): Promise<{ requestsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const autocannon = path.join(projectRoot, 'node_modules', 'autocannon', 'autocannon.js');
  const { stdout } = await execFileAsync(process.execPath, [autocannon, '-c', String(connections), '-d', String(seconds), '-j', `http://127.0.0.1:${port}${route}`], { maxBuffer: 16 * 1024 * 1024 });
  const report = JSON.parse(stdout) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  if (report.non2xx > 0 || report.errors > 0) throw new Error(`autocannon saw ${report.non2xx} non-2xx answers and ${report.errors} errors`);
  return { requestsPerSecond: Math.round(report.requests.average), p50Ms: report.latency.p50, p99Ms: report.latency.p99 };
}

const url = await scratchDatabase('deltameta_bench_reader');
const pool = createPool(url, { max: 4 });
const python = await ensureDeltaRs().catch(() => undefined);
const results: Record<string, unknown>[] = [];
try {
  for (const files of sizes) {
    const dir = mkdtempSync(path.join(tmpdir(), 'deltameta-bench-reader-'));
    try {
      await generateTable(dir, { files, commits: 20, partitions: 50, checkpointInterval: 10, seed: 7 });
      const table = `bench_${files}`;
      await importTable(pool, dir, table);
      await refreshTable(pool, table);
      const pagesStarted = performance.now();
      const pages = await refreshFilePages(pool, table);
      console.error(`${table}: file pages built: ${pages.pagesWritten} pages in ${((performance.now() - pagesStarted) / 1000).toFixed(1)} s`);
      const state = await replay(dir);
      const date = [...state.files.values()][0]?.partitionValues['date'] ?? '';
      const endpoints: Record<string, { route: string; env?: Record<string, string> }> = {
        summary: { route: `/v1/tables/${table}` },
        prunedFiles: { route: `/v1/tables/${table}/files?partition.date=${encodeURIComponent(date)}` },
        fullFiles: { route: `/v1/tables/${table}/files` },
        // The same list from file_index rows (file pages switched off), for comparison.
        fullFilesFromRows: { route: `/v1/tables/${table}/files`, env: { DELTAMETA_READER_FILE_PAGES: 'off' } },
        history: { route: `/v1/tables/${table}/commits` },
      };
      const replayMs = await median(3, () => timed(async () => (await replay(dir)).liveLines()));
      const deltaRs = python ? await median(3, () => deltaRsMs(python, dir)) : Number.NaN;
      for (const [endpoint, { route, env = {} }] of Object.entries(endpoints)) {
        const cold: number[] = [];
        for (let i = 0; i < 3; i++) {
          const reader = startReader(url, `bench-reader:${run}:cold:${files}:${endpoint}:${i}:`, env);
          await reader.start();
          cold.push(await get(reader.port, route));
          await reader.stop();
        }
        const warmReader = startReader(url, `bench-reader:${run}:warm:${endpoint}:`, { ...env, DELTAMETA_READER_L1: 'off' });
        await warmReader.start();
        await get(warmReader.port, route);
        const warmMs = await median(5, () => get(warmReader.port, route));
        await warmReader.stop();
        const hotReader = startReader(url, `bench-reader:${run}:hot:${endpoint}:`, env);
        await hotReader.start();
        await get(hotReader.port, route);
        const hotMs = await median(50, () => get(hotReader.port, route));
        let load: Awaited<ReturnType<typeof throughput>> | undefined;
        await hotReader.stop();
        if (endpoint === 'summary') {
          // As deployed: the reader in a process of its own (the bench's
          // process also holds a pool and Redis client), autocannon in
          // another; a warm-up run first (JIT, L1 fill), then the measured one.
          const standalone = await startServices(url, ['reader'], `${run}-${files}`);
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
        const row = {
          files, endpoint, coldMs, warmMs, hotMs, replayMs, deltaRsMs: deltaRs,
          coldVsReplay: replayMs / coldMs, hotVsReplay: replayMs / hotMs, coldVsDeltaRs: deltaRs / coldMs, hotVsDeltaRs: deltaRs / hotMs,
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
mkdirSync(path.join(projectRoot, 'bench', 'results'), { recursive: true });
writeFileSync(path.join(projectRoot, 'bench', 'results', 'reader.json'), `${JSON.stringify({ measuredAt: new Date().toISOString(), command: `node --import tsx bench/reader.ts --sizes ${sizes.join(',')} --seconds ${loadSeconds}`, sizes, results }, null, 2)}\n`);
