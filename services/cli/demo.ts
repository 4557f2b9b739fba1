/**
 * `deltameta demo`: the story end to end on a sample table. It grows with
 * the system: each piece that lands adds its step.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { type Command } from 'commander';
import { loadConfig, type Config } from '../../shared/config/index.ts';
import { createPool, migrate, type Pool } from '../../shared/db/index.ts';
import { generateTable, replay, type Action } from '../../shared/delta/index.ts';
import { CommitConflictError, InternalError } from '../../shared/errors/index.ts';
import { commit, exportTable, importTable, snapshotLines } from '../../shared/log-store/index.ts';
import { HeadPointers } from '../../shared/contracts/index.ts';
import { liveFileLines, verifyTable } from '../../shared/materialized/index.ts';
import { createRedis } from '../../shared/clients/index.ts';
import { formatStatus, stackUp } from '../../shared/stack/index.ts';
import { dropRunReplication, pipelineServiceNames, sidecarServiceNames, startServiceProcesses, waitUntil } from '../../shared/service/index.ts';
import { besideStory } from './demo-beside.ts';

// serves: delta_table name unique index, table_state primary key
const mvVersionSql = 'SELECT s.mv_version::int AS mv FROM deltameta.table_state s JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1';
// serves: delta_table name unique index, file_page_state primary key
const filePagesSql = 'SELECT p.version, p.pages, p.raw_bytes, p.body_bytes FROM deltameta.file_page_state p JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1';
interface FilePageState { version: number; pages: number; raw_bytes: number; body_bytes: number }

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the whole story end to end on a sample table')
    .action(async () => {
      await runDemo(loadConfig());
    });
}

/** Milliseconds until `probe` holds; polled every 2 ms, since these are the latencies the demo prints. */
async function msUntil(probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  await waitUntil('the pipeline catching up', probe, { timeoutMs: 120_000, intervalMs: 2 });
  return performance.now() - started;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

async function snapshotDigest(pool: Pool, table: string, version?: number): Promise<{ lines: number; sha256: string }> {
  const snapshot = await snapshotLines(pool, table, version === undefined ? {} : { version });
  const hash = createHash('sha256');
  let lines = 0;
  for await (const line of snapshot.lines) {
    hash.update(`${line}\n`);
    lines++;
  }
  return { lines, sha256: hash.digest('hex').slice(0, 16) };
}

async function replayDigest(dir: string, version?: number): Promise<{ lines: number; sha256: string }> {
  const lines = (await replay(dir, version === undefined ? {} : { version })).liveLines();
  const hash = createHash('sha256');
  for (const line of lines) hash.update(`${line}\n`);
  return { lines: lines.length, sha256: hash.digest('hex').slice(0, 16) };
}

export async function runDemo(config: Config): Promise<void> {
  console.log('deltameta demo\n');
  console.log('1. The local stack (PostgreSQL with logical replication, Redis, Kafka in KRaft mode):');
  console.log(formatStatus(await stackUp(config)));
  const pool = createPool(config.postgresUrl, { max: 4, applicationName: 'deltameta-demo' });
  try {
    const { applied } = await migrate(pool);
    console.log(`\n2. Schema: ${applied.length > 0 ? `applied ${applied.join(', ')}` : 'up to date'}.`);

    const dir = path.join(config.stackDir, 'demo', 'sales');
    rmSync(dir, { recursive: true, force: true });
    const generated = await timed(() => generateTable(dir, { files: 20_000, commits: 60, partitions: 20, checkpointInterval: 20, seed: 2026 }));
    const table = `demo_sales_${Date.now()}`;
    console.log(`\n3. A synthetic Delta table in ${dir}:`);
    console.log(`   ${generated.value.versions} versions, ${generated.value.liveFiles} live files, ${generated.value.actions} actions, checkpoints at [${generated.value.checkpoints.join(', ')}] (${(generated.ms / 1000).toFixed(1)} s)`);

    const imported = await timed(() => importTable(pool, dir, table, { history: true }));
    console.log(`\n4. Imported into PostgreSQL as ${table}: versions ${imported.value.fromVersion}..${imported.value.toVersion}, ${imported.value.rows} rows (${(imported.ms / 1000).toFixed(1)} s)`);

    console.log('\n5. The correctness contract: file replay and the PostgreSQL snapshot print the same bytes:');
    for (const version of [10, 35, 60]) {
      const files = await timed(() => replayDigest(dir, version));
      const sql = await timed(() => snapshotDigest(pool, table, version));
      const same = files.value.sha256 === sql.value.sha256 ? 'identical' : 'DIFFERENT';
      console.log(`   version ${version}: ${files.value.lines} files, replay ${files.ms.toFixed(0)} ms, snapshot ${sql.ms.toFixed(0)} ms, sha256 ${sql.value.sha256}: ${same}`);
      if (same !== 'identical') throw new InternalError(`replay and snapshot disagree at version ${version}`);
    }

    console.log('\n6. Commits with optimistic concurrency: two writers read version 60 and both delete the same file:');
    const victim = (await replay(dir)).liveLines()[0] ?? '';
    const victimPath = (JSON.parse(victim) as { add: { path: string; partitionValues: Record<string, string | null> } }).add;
    const removal: Action[] = [{ kind: 'remove', remove: { path: victimPath.path, partitionValues: victimPath.partitionValues, deletionTimestamp: Date.now(), dataChange: true } }];
    const first = await commit(pool, { table, actions: removal, readVersion: 60 });
    console.log(`   writer A committed version ${first.version}`);
    try {
      await commit(pool, { table, actions: removal, readVersion: 60 });
      throw new InternalError('writer B should have conflicted');
    } catch (error) {
      if (!(error instanceof CommitConflictError)) throw error;
      console.log(`   writer B: ${error.message} (CLI exit code 3)`);
    }
    const append: Action[] = [{ kind: 'add', add: { path: 'date=2026-01-01/demo-append.parquet', partitionValues: { date: '2026-01-01' }, size: 1234, modificationTime: Date.now(), dataChange: true } }];
    const blind = await commit(pool, { table, actions: append, readVersion: 60 });
    console.log(`   writer C, a blind append also read at 60, is rebased and lands as version ${blind.version}`);

    const exportDir = path.join(config.stackDir, 'demo', 'sales-export');
    rmSync(exportDir, { recursive: true, force: true });
    const exported = await exportTable(pool, table, exportDir, { checkpointInterval: 25 });
    const roundTrip = await replayDigest(exportDir);
    const latest = await snapshotDigest(pool, table);
    console.log(`\n7. Exported back to ${exportDir} (checkpoints at [${exported.checkpoints.join(', ')}]); its replay ${roundTrip.sha256 === latest.sha256 ? 'equals' : 'DIFFERS FROM'} the snapshot at version ${exported.toVersion}.`);

    await pipelineStory(config, pool, table);
  } finally {
    await pool.end();
  }
  console.log('\nRun it for real: `npx deltameta up` (all seven services), `npx deltameta status`, `npx deltameta verify`, `npx deltameta bench`.');
  console.log('The stack keeps running; `npx deltameta stack down` stops it.');
}

/** Step 8: the sidecar pipeline turns commits into head-pointer moves and fresh materialized state. */
async function pipelineStory(config: Config, pool: Pool, table: string): Promise<void> {
  console.log('\n8. The commit-event pipeline: cdc (logical replication → Kafka), invalidator (→ Redis head pointers, BullMQ), refresher (→ materialized state);'
    + ' beside it the follower, the publisher and the commit API (step 10):');
  const services = await startServiceProcesses(config.postgresUrl, [...pipelineServiceNames, ...sidecarServiceNames], `demo-${process.pid}`, {
    onLine: (service, line, level) => {
      if (level >= 50) console.log(`   ${service} | ${line}`);
    },
  });
  const redis = createRedis(config, 'deltameta-demo');
  const heads = new HeadPointers(redis, services.config.pipeline.redisPrefix);
  try {
    console.log(`   services ready (admin ports: ${[...services.adminPorts].map(([name, port]) => `${name} ${port}`).join(', ')})`);
    const mvVersion = async (): Promise<number> => (await pool.query<{ mv: number }>(mvVersionSql, [table])).rows[0]?.mv ?? -1;
    const filePages = async (): Promise<FilePageState | undefined> => (await pool.query<FilePageState>(filePagesSql, [table])).rows[0];
    // The first refresh of a table builds its state from the whole log.
    const head = (await snapshotLines(pool, table)).version;
    const build = await msUntil(async () => (await mvVersion()) >= head);
    console.log(`   first refresh built the materialized state of ${table} up to version ${head} (${build.toFixed(0)} ms after start)`);
    for (let i = 0; i < 5; i++) {
      const actions: Action[] = [{ kind: 'add', add: { path: `date=2026-01-02/demo-pipeline-${i}.parquet`, partitionValues: { date: '2026-01-02' }, size: 4096, modificationTime: Date.now(), dataChange: true } }];
      const { version } = await commit(pool, { table, actions });
      const visible = await msUntil(async () => ((await heads.get(table))?.version ?? -1) >= version);
      const refreshed = visible + (await msUntil(async () => (await mvVersion()) >= version));
      console.log(`   commit version ${version}: visible (head pointer) after ${visible.toFixed(1)} ms, materialized after ${refreshed.toFixed(1)} ms`);
    }
    const latestVersion = (await snapshotLines(pool, table)).version;
    let files = 0;
    for await (const line of liveFileLines(pool, table, latestVersion)) if (line) files++;
    // The refresher's pass after each refresh: the live list as compressed pages (what whole-list reads are served from).
    await msUntil(async () => ((await filePages())?.version ?? -1) >= latestVersion);
    const verification = await verifyTable(pool, table);
    const pages = await filePages();
    console.log(`   verify: materialized state ${verification.ok ? 'equals' : 'DIFFERS FROM'} the log at version ${verification.watermark} (${files} live files from file_index;`
      + ` file pages: ${pages?.pages ?? 0} pages, ${((pages?.raw_bytes ?? 0) / 1e6).toFixed(1)} MB of add lines kept as ${((pages?.body_bytes ?? 0) / 1e6).toFixed(1)} MB of DEFLATE)`);
    if (!verification.ok) throw new InternalError(verification.problems.join('\n'));
    const readerPort = services.readerPort();
    const committerPort = services.apiPort('committer');
    await readerStory(readerPort, table, latestVersion, pool);
    if (readerPort === undefined || committerPort === undefined) throw new InternalError('the reader or the committer did not report its port');
    await besideStory(config, pool, { redis, redisPrefix: services.config.pipeline.redisPrefix, readerPort, committerPort });
  } finally {
    redis.disconnect();
    await services.stop();
    // The run's slot would hold WAL for good once its CDC is gone.
    await dropRunReplication(pool, services.names);
  }
}

/** Step 9: the reader answers from its cache levels, each answer naming its version and level. */
async function readerStory(port: number | undefined, table: string, version: number, pool: Pool): Promise<void> {
  if (port === undefined) throw new InternalError('the reader did not report its port');
  console.log(`\n9. The reader (http://127.0.0.1:${port}/v1): version-exact answers from L3 (materialized state), then L1 (in-process LRU):`);
  const base = `http://127.0.0.1:${port}/v1/tables/${table}`;
  const show = async (label: string, url: string, headers: Record<string, string> = {}): Promise<Response> => {
    const started = performance.now();
    const response = await fetch(url, { headers });
    const body = await response.arrayBuffer();
    const source = /desc="(file pages[^"]*)"/.exec(response.headers.get('server-timing') ?? '')?.[1];
    console.log(`   ${label.padEnd(34)} ${response.status}  ${(performance.now() - started).toFixed(1).padStart(6)} ms  ${String(body.byteLength).padStart(9)} B  version ${response.headers.get('delta-table-version') ?? '-'}  ${response.headers.get('cache-status') ?? ''}${source ? ` (${source})` : ''}`);
    return response;
  };
  await show('summary (cold)', base);
  const hot = await show('summary (hot)', base);
  await show('summary, If-None-Match', base, { 'if-none-match': hot.headers.get('etag') ?? '' });
  await show('files, partition date=2026-01-03', `${base}/files?partition.date=2026-01-03`);
  await show('files at version 30 (time travel)', `${base}/files?version=30`);
  await show('files at version 30 again', `${base}/files?version=30`);
  await show('whole file list (cold)', `${base}/files`);
  await show('whole file list (hot)', `${base}/files`);
  const listed = await (await fetch(`${base}/files`)).text();
  const snapshot = await snapshotLines(pool, table, { version });
  let expected = '';
  for await (const line of snapshot.lines) expected += `${line}\n`;
  console.log(`   latest file list: ${listed.trimEnd().split('\n').length} lines at version ${version}, ${listed === expected ? 'byte-identical to' : 'DIFFERENT FROM'} the snapshot of the log`);
  if (listed !== expected) throw new InternalError('the reader and the log disagree');
  await show('unknown table', `http://127.0.0.1:${port}/v1/tables/no_such_table`);
}
