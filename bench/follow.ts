/**
 * Follow latency (issue 13, docs/follower.md): the time from a commit file
 * appearing in a followed table's `_delta_log` (a finished file renamed into
 * place, as a Delta writer commits) to PostgreSQL holding that version (the
 * follower's import has committed its delta_commit row), p50/p99 over
 * `--commits` commits, with inotify and with the poll alone. Commits are
 * written one at a time (the next after the previous is imported), each
 * after a random pause: up to `--jitter-ms` with inotify, up to the poll
 * interval without (so they land anywhere in the poll's cycle: waiting for
 * the import aligns the next write with the poll's tick). The follower runs in-process with its own login
 * (deltameta_follower), as services/follower/main.ts runs it; the CDC and the
 * invalidator run as processes of an isolated run, so "served" is when the
 * version's head pointer is announced: what the reader serves as latest.
 *
 *   node --import tsx bench/follow.ts [--commits 100] [--poll-ms 1000] [--jitter-ms 20] [--files 1000] [--modes inotify,poll]
 *
 * Uses its own database (deltameta_bench_follow), dropped at the end.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Follower, followerMetrics, defaultInstanceId, type ImportEvent } from '../services/follower/index.ts';
import { localLoginUrl } from '../shared/config/index.ts';
import { createPool, type Pool } from '../shared/db/index.ts';
import { commitFileName, generateTable } from '../shared/delta/index.ts';
import { importTable } from '../shared/log-store/index.ts';
import { createRegistry } from '../shared/metrics/index.ts';
import { createRedis } from '../shared/clients/index.ts';
import { redisKeys, type HeadAnnouncement } from '../shared/contracts/index.ts';
import { dropRunReplication, startServiceProcesses } from '../shared/service/index.ts';
import { dropScratchDatabase, percentile, scratchDatabase } from './support.ts';

const { values } = parseArgs({
  options: {
    commits: { type: 'string', default: '100' },
    out: { type: 'string', default: 'bench/results/follow.json' },
    'poll-ms': { type: 'string', default: '1000' },
    'jitter-ms': { type: 'string', default: '20' },
    files: { type: 'string', default: '1000' },
    modes: { type: 'string', default: 'inotify,poll' },
  },
});
const commits = Number(values.commits);
const pollMs = Number(values['poll-ms']);
const jitterMs = Number(values['jitter-ms']);
const databaseName = 'deltameta_bench_follow';

interface Row {
  readonly mode: string;
  readonly commits: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** p50 of the first and the last tenth of the commits: an import's cost grows with the history it checks */
  readonly p50FirstTenthMs: number;
  readonly p50LastTenthMs: number;
  /** commit file → head pointer announced (the reader serves the version as latest) */
  readonly servedP50Ms: number;
  readonly servedP99Ms: number;
}

function writeCommit(dir: string, version: number): number {
  const add = { path: `date=2026-01-01/bench-${version}.parquet`, partitionValues: { date: '2026-01-01' }, size: 1000, modificationTime: Date.now(), dataChange: true };
  const lines = [{ commitInfo: { timestamp: Date.now(), operation: 'WRITE' } }, { add }];
  const file = path.join(dir, '_delta_log', commitFileName(version));
  writeFileSync(`${file}.tmp`, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  const appearedAt = performance.timeOrigin + performance.now();
  renameSync(`${file}.tmp`, file);
  return appearedAt;
}

/** When each (table, version) head pointer was announced on the run's pub/sub channel. */
const announcedAt = new Map<string, number>();

async function measure(mode: string, inotify: boolean, jitter: number, adminPool: Pool, followerPool: Pool, table: string, dir: string, head: number): Promise<Row> {
  let imported = head;
  let waiter: (() => void) | undefined;
  const finishedAt = new Map<number, number>();
  const onImport = (event: ImportEvent): void => {
    const at = performance.timeOrigin + performance.now();
    for (let version = event.fromVersion; version <= event.toVersion; version++) finishedAt.set(version, at);
    imported = Math.max(imported, event.toVersion);
    waiter?.();
  };
  const follower = new Follower({
    pool: followerPool,
    logger: pino({ level: 'warn' }),
    metrics: followerMetrics(createRegistry('follower')),
    config: { postgresUrl: '', pollMs, inotify, leaseTtlMs: 15_000, scanIntervalMs: 5000, maxTables: 10, maxBackoffMs: 1000, instanceId: defaultInstanceId() },
    onImport,
  });
  await follower.start();
  const latencies: number[] = [];
  const appeared = new Map<number, number>();
  try {
    for (let i = 1; i <= commits; i++) {
      const version = head + i;
      await delay(Math.random() * jitter);
      const appearedAt = writeCommit(dir, version);
      const deadline = Date.now() + pollMs + 30_000;
      while (imported < version) {
        if (Date.now() > deadline) throw new Error(`${mode}: version ${version} not imported in time`);
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 1000).unref();
        });
      }
      latencies.push((finishedAt.get(version) ?? NaN) - appearedAt);
      appeared.set(version, appearedAt);
    }
    // Served: the head pointer announced for each version (the pipeline runs beside; waited for at the end).
    const deadline = Date.now() + 60_000;
    while (!announcedAt.has(`${table}\u0000${head + commits}`)) {
      if (Date.now() > deadline) throw new Error(`${mode}: version ${head + commits} never announced`);
      await delay(20);
    }
  } finally {
    await follower.stop();
  }
  const { rows } = await adminPool.query<{ head: number }>(
    'SELECT max(version) AS head FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table]);
  if (Number(rows[0]?.head) !== head + commits) throw new Error(`${mode}: PostgreSQL's head is ${rows[0]?.head}, expected ${head + commits}`);
  const tenth = Math.max(1, Math.floor(commits / 10));
  return {
    mode, commits, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: Math.max(...latencies),
    p50FirstTenthMs: percentile(latencies.slice(0, tenth), 50), p50LastTenthMs: percentile(latencies.slice(-tenth), 50),
    // A version whose announcement was folded into a later one's (the invalidator moves a head once per batch) is served when that one is.
    ...served([...appeared].map(([version, at]) => servedAt(table, version, head + commits) - at)),
  };
}

function servedAt(table: string, version: number, last: number): number {
  for (let next = version; next <= last; next++) {
    const at = announcedAt.get(`${table}\u0000${next}`);
    if (at !== undefined) return at;
  }
  return NaN;
}

function served(latencies: number[]): { servedP50Ms: number; servedP99Ms: number } {
  return { servedP50Ms: percentile(latencies, 50), servedP99Ms: percentile(latencies, 99) };
}

const url = await scratchDatabase(databaseName);
const pipeline = await startServiceProcesses(url, ['cdc', 'invalidator'], `bench-follow-${process.pid}`);
const subscriber = createRedis(pipeline.config, 'deltameta-bench-follow');
await subscriber.subscribe(redisKeys(pipeline.config.pipeline.redisPrefix).headsChannel);
subscriber.on('message', (_channel: string, message: string) => {
  const announcement = JSON.parse(message) as Partial<HeadAnnouncement>;
  if (typeof announcement.table === 'string' && typeof announcement.version === 'number') {
    const key = `${announcement.table}\u0000${announcement.version}`;
    if (!announcedAt.has(key)) announcedAt.set(key, performance.timeOrigin + performance.now());
  }
});
const adminPool = createPool(url, { max: 2 });
const followerPool = createPool(localLoginUrl(url, 'follower'), { max: 4 });
const scratch = mkdtempSync(path.join(tmpdir(), 'deltameta-bench-follow-'));
const rows: Row[] = [];
try {
  const modes = values.modes.split(',');
  for (const [mode, inotify] of ([['inotify', true], [`poll ${pollMs} ms`, false]] as const).filter(([, on]) => modes.includes(on ? 'inotify' : 'poll'))) {
    const table = inotify ? 'bench_follow_inotify' : 'bench_follow_poll';
    const dir = path.join(scratch, table);
    await generateTable(dir, { files: Number(values.files), commits: 3, partitions: 4, checkpointInterval: 0, seed: 7 });
    const registered = await importTable(adminPool, dir, table, { follow: 'register' });
    rows.push(await measure(mode, inotify, inotify ? jitterMs : pollMs, adminPool, followerPool, table, dir, registered.toVersion));
  }
} finally {
  subscriber.disconnect();
  await pipeline.stop();
  await dropRunReplication(adminPool, pipeline.names);
  await followerPool.end();
  await adminPool.end();
  rmSync(scratch, { recursive: true, force: true });
  await dropScratchDatabase(databaseName);
}

const cell = (ms: number): string => `${ms.toFixed(1)} ms`.padStart(10);
console.log('commit file appears → PostgreSQL holds the version (the follower\'s import committed)');
console.log(`${'mode'.padEnd(16)}${'commits'.padStart(8)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'max'.padStart(10)}${'p50 1st 10%'.padStart(13)}${'p50 last 10%'.padStart(13)}${'served p50'.padStart(12)}${'served p99'.padStart(12)}`);
for (const row of rows) {
  console.log(`${row.mode.padEnd(16)}${String(row.commits).padStart(8)}${cell(row.p50Ms)}${cell(row.p99Ms)}${cell(row.maxMs)}${cell(row.p50FirstTenthMs).padStart(13)}${cell(row.p50LastTenthMs).padStart(13)}${cell(row.servedP50Ms).padStart(12)}${cell(row.servedP99Ms).padStart(12)}`);
}
const result = { benchmark: 'follow', when: new Date().toISOString(), command: `node --import tsx bench/follow.ts ${process.argv.slice(2).join(' ')}`.trim(), pollMs, rows };
console.log(JSON.stringify(result));
writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
