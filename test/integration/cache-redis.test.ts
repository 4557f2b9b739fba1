/**
 * The cache's Redis instance has a memory budget and evicts (allkeys-lru);
 * the pipeline's is noeviction. Filled past a small maxmemory with
 * reader-shaped L2 keys, the cache instance evicts — the reader's own L2
 * entries among them, which it then answers from L3, unchanged — while
 * BullMQ's keys (a held job lock, with its TTL, included) and the head
 * pointers in the pipeline's instance are untouched. Summaries the refresher
 * warms are the reader's L2 hits: both use the cache instance. The
 * refresher (in-process, on the suite's queues) warms a hot table's summary
 * into the cache instance, and a cache instance that is down does not fail
 * the refresh.
 *
 * The cache instance is the stack's, shared with concurrent suites: its
 * maxmemory is lowered only for the fill and always restored; an eviction
 * costs another suite an L3 read, never a wrong answer.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { createCacheRedis } from '../../shared/clients/index.ts';
import { loadConfig, loadReaderConfig } from '../../shared/config/index.ts';
import {
  HeadPointers, maintenanceQueue, redisKeys, refreshJobName, refreshJobOptions, refreshQueue, type RefreshJobData,
} from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, replay, type Action } from '../../shared/delta/index.ts';
import { commit, importTable } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { refreshTable } from '../../shared/materialized/index.ts';
import { createRegistry, queueMetrics, readerMetrics, refresherMetrics } from '../../shared/metrics/index.ts';
import { isolatedEnvironment } from '../../shared/service/index.ts';
import { summarySource, warmTableSummary } from '../../shared/summary/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { RefreshWorker } from '../../services/refresher/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const table = 'cache_budget';
const logger = createLogger('cache-redis-test', 'silent');

async function info(redis: Redis, section: string, field: string): Promise<string> {
  const text = await redis.info(section);
  const line = text.split('\r\n').find((candidate) => candidate.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`INFO ${section} has no ${field}`);
  return line.slice(field.length + 1);
}

async function keysMatching(redis: Redis, pattern: string): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) keys.add(key);
  } while (cursor !== '0');
  return keys;
}

describeWithEnv('cache redis: a budget that evicts, apart from the pipeline', (env) => {
  const dirs = new TempDirs();
  const keys = redisKeys(env.keyPrefix);
  let pool: Pool;
  let pipelineRedis: Redis;
  let cacheRedis: Redis;
  let head: number;
  let savedMaxMemory: string | undefined;
  const readers: Array<{ reader: Reader; redis: Redis; cache: Redis }> = [];

  async function startReader(cache: Redis = env.cacheRedis()): Promise<string> {
    const redis = env.redis();
    const reader = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }),
      defaultPostgresUrl: env.readerUrl, redis, cacheRedis: cache, redisPrefix: env.keyPrefix, logger, metrics: readerMetrics(createRegistry('cache-redis-test')),
    });
    await reader.start();
    readers.push({ reader, redis, cache });
    return `http://127.0.0.1:${reader.port}`;
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    pipelineRedis = env.redis();
    cacheRedis = env.cacheRedis();
    const dir = dirs.make('cache');
    await generateTable(dir, { files: 120, commits: 10, partitions: 3, checkpointInterval: 5, seed: 5 });
    await importTable(pool, dir, table, { history: true });
    head = (await replay(dir)).version;
    await refreshTable(pool, table);
    await new HeadPointers(pipelineRedis, env.keyPrefix).advance(table, head, new Date().toISOString());
  });

  after(async function () {
    this.timeout(30_000);
    // Restored first: the instance is shared with every other suite.
    if (savedMaxMemory !== undefined) await cacheRedis.config('SET', 'maxmemory', savedMaxMemory);
    for (const { reader, redis, cache } of readers.splice(0)) {
      await reader.stop();
      redis.disconnect();
      cache.disconnect();
    }
    pipelineRedis.disconnect();
    cacheRedis.disconnect();
    await pool.end();
    dirs.removeAll();
  });

  it('runs the cache in an instance of its own: allkeys-lru there, noeviction in the pipeline\'s', async function () {
    expect(await info(cacheRedis, 'server', 'run_id')).to.not.equal(await info(pipelineRedis, 'server', 'run_id'));
    expect(await pipelineRedis.config('GET', 'maxmemory-policy')).to.deep.equal(['maxmemory-policy', 'noeviction']);
    expect(await cacheRedis.config('GET', 'maxmemory-policy')).to.deep.equal(['maxmemory-policy', 'allkeys-lru']);
    expect(Number((await cacheRedis.config('GET', 'maxmemory'))[1])).to.be.above(0);
  });

  it('serves the summaries the refresher warms as L2 hits: both use the cache instance', async function () {
    const summary = await warmTableSummary(pool, cacheRedis, env.keyPrefix, table);
    expect(summary?.version).to.equal(head);
    const tableId = (await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table])).rows[0]?.table_id ?? -1;
    // An imported table keeps the folder it came from: its summaries are keyed by that too (summarySource).
    const source = summarySource(summary?.kind ?? 'owned', summary?.location ?? null);
    expect(source, 'an imported table has a location').to.be.a('string');
    expect(await cacheRedis.exists(keys.summary(table, tableId, head, source))).to.equal(1);
    expect(await pipelineRedis.exists(keys.summary(table, tableId, head, source))).to.equal(0);
    const base = await startReader();
    const response = await fetch(`${base}/v1/tables/${table}`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('cache-status')).to.equal('deltameta; hit; detail=l2');
    expect(((await response.json()) as { version: number }).version).to.equal(head);
  });

  it('answers from L3 at once when the cache instance is down: an L2 that does not answer is a miss, not a wait', async function () {
    this.timeout(30_000);
    // Nothing listens on port 1. A pipeline-style client (commands queued until Redis is back) would hang every request here.
    const deadCache = createCacheRedis(loadConfig({ DELTAMETA_CACHE_REDIS_URL: 'redis://127.0.0.1:1' }), `${env.keyPrefix}dead-cache`);
    let longestBackoffMs = 0;
    deadCache.on('reconnecting', (delayMs: number) => {
      longestBackoffMs = Math.max(longestBackoffMs, delayMs);
    });
    const base = await startReader(deadCache);
    // Past the client's first reconnect attempts: its backoff between them has grown to most of a second.
    await eventually('the dead cache client backing off', () => longestBackoffMs >= 800, 10_000);
    for (const path of [`/v1/tables/${table}?version=${head - 1}`, `/v1/tables/${table}/files?version=${head - 1}&pageSize=10`]) {
      const started = performance.now();
      const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
      expect(response.status, path).to.equal(200);
      expect(performance.now() - started, `${path}: ms`).to.be.below(1000);
      expect(response.headers.get('cache-status'), path).to.match(/fwd=miss;.* detail=l[34]$/);
    }
  });

  it('evicts L2 past its budget, never BullMQ\'s keys or the head pointers; evicted answers come from L3, unchanged', async function () {
    this.timeout(120_000);
    // The pipeline's state a fill must not touch: waiting jobs, an active job whose lock carries a TTL, a head pointer.
    const queueName = env.queueName('refresh');
    const connection = env.redisOptions();
    const queue = new Queue(queueName, { connection, prefix: keys.bullPrefix });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const worker = new Worker(queueName, () => held, { connection, prefix: keys.bullPrefix, lockDuration: 10_000, autorun: false });
    try {
      const active = await queue.add('refresh', { table: 'held' });
      void worker.run();
      const lockKey = `${keys.bullPrefix}:${queueName}:${active.id}:lock`;
      await eventually('the active job\'s lock', async () => (await pipelineRedis.exists(lockKey)) === 1);
      const waiting = await Promise.all(Array.from({ length: 5 }, (_, index) => queue.add('refresh', { table: `waiting_${index}` })));
      const pipelineBefore = await pipelineState(pipelineRedis, env.keyPrefix);
      expect(pipelineBefore.keys).to.include(lockKey);

      // The reader's L2 entries: one per version, each a distinct key (head key and any pages) in the cache instance.
      const base = await startReader();
      const l2Pattern = keys.readerResponse('*');
      const answers = new Map<string, { body: string; l2Keys: string[] }>();
      for (let version = 0; version <= head; version++) {
        const url = `${base}/v1/tables/${table}/files?version=${version}&pageSize=40`;
        const before = await keysMatching(cacheRedis, l2Pattern);
        const response = await fetch(url);
        expect(response.status).to.equal(200);
        expect(response.headers.get('cache-status')).to.match(/detail=l[34]$/);
        const after = await keysMatching(cacheRedis, l2Pattern);
        const l2Keys = [...after].filter((key) => !before.has(key));
        expect(l2Keys, url).to.not.be.empty;
        answers.set(url, { body: await response.text(), l2Keys });
      }
      expect(await keysMatching(pipelineRedis, l2Pattern)).to.be.empty;

      // A small budget for the fill (restored in after()), then reader-shaped entries until the reader's own are evicted.
      savedMaxMemory = ((await cacheRedis.config('GET', 'maxmemory')))[1];
      const evictedBefore = Number(await info(cacheRedis, 'stats', 'evicted_keys'));
      const usedMemory = Number(await info(cacheRedis, 'memory', 'used_memory'));
      await cacheRedis.config('SET', 'maxmemory', String(usedMemory + 4 * 1024 * 1024));
      const fillValue = randomBytes(64 * 1024);
      const readerKeys = [...answers.values()].flatMap((answer) => answer.l2Keys);
      // The instance is shared: keys older than the reader's (earlier suites', up to its whole maxmemory) go first under
      // LRU, so the fill may write as much as the instance held, and a margin, before it reaches the reader's.
      const batchBytes = 32 * fillValue.length;
      const batches = Math.ceil((usedMemory + 32 * 1024 * 1024) / batchBytes);
      let evictedOfReader = 0;
      for (let batch = 0; batch < batches && evictedOfReader === 0; batch++) {
        const fill = cacheRedis.pipeline();
        for (let index = 0; index < 32; index++) fill.set(keys.readerResponse(randomBytes(16).toString('hex')), fillValue, 'EX', 600);
        await fill.exec();
        evictedOfReader = readerKeys.length - (await cacheRedis.exists(...readerKeys));
      }
      await cacheRedis.config('SET', 'maxmemory', savedMaxMemory ?? '0');
      savedMaxMemory = undefined;
      expect(Number(await info(cacheRedis, 'stats', 'evicted_keys')) - evictedBefore).to.be.above(0);
      expect(evictedOfReader, `reader L2 keys evicted (instance held ${usedMemory} bytes; ${batches} batches of ${batchBytes} written)`).to.be.above(0);

      // The pipeline's instance: every key still there (BullMQ's own stalled-check marker comes and goes), the head and the jobs as they were.
      const pipelineAfter = await pipelineState(pipelineRedis, env.keyPrefix);
      expect(pipelineBefore.keys.filter((key) => !key.endsWith(':stalled-check') && !pipelineAfter.keys.includes(key))).to.deep.equal([]);
      expect(pipelineAfter.head).to.deep.equal(pipelineBefore.head);
      expect(await pipelineRedis.pttl(lockKey)).to.be.above(0);
      expect(await queue.getWaitingCount()).to.equal(waiting.length);
      expect(await queue.getActiveCount()).to.equal(1);

      // A reader with an empty L1: what was evicted is produced again from L3, byte for byte; the rest are L2 hits.
      const fresh = await startReader();
      let fromL3 = 0;
      for (const [url, answer] of answers) {
        const evicted = (await cacheRedis.exists(...answer.l2Keys)) < answer.l2Keys.length;
        const response = await fetch(url.replace(base, fresh));
        expect(response.status).to.equal(200);
        expect(response.headers.get('cache-status'), url).to.match(evicted ? /fwd=miss;.* detail=l[34]$/ : /hit; detail=l2$/);
        expect(await response.text(), url).to.equal(answer.body);
        if (evicted) fromL3++;
      }
      expect(fromL3).to.be.above(0);
    } finally {
      release();
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

/** Every key of the suite in the pipeline's instance, and the head pointer's fields. */
async function pipelineState(redis: Redis, prefix: string): Promise<{ keys: string[]; head: Record<string, string> }> {
  const keys = [...(await keysMatching(redis, `${prefix}*`))].sort();
  return { keys, head: await redis.hgetall(redisKeys(prefix).head(table)) };
}

describeWithEnv('cache redis: the refresher warms summaries there, best effort', (env) => {
  const hotTable = 'warmed';
  let pool: Pool;
  let pipelineRedis: Redis;
  let cacheRedis: Redis;
  let deadCacheRedis: Redis;
  const running: Array<{ worker: RefreshWorker; queues: { refreshQueue: Queue<RefreshJobData>; maintenanceQueue: Queue } }> = [];

  async function startRefresher(cache: Redis, name: string): Promise<Queue<RefreshJobData>> {
    const config = loadConfig(isolatedEnvironment(env.config.postgresUrl, {
      slotName: 'unused', publicationName: 'unused', commitsTopic: env.topic('commits'), deadLetterTopic: env.topic('dlq'),
      consumerGroup: env.topic('group'), refreshQueue: env.queueName(`refresh-${name}`), maintenanceQueue: env.queueName(`maintenance-${name}`), redisPrefix: env.keyPrefix,
    }));
    const queues = { refreshQueue: refreshQueue(config, `${env.keyPrefix}queue-${name}`), maintenanceQueue: maintenanceQueue(config, `${env.keyPrefix}maintenance-${name}`) };
    const registry = createRegistry('refresher');
    const worker = new RefreshWorker(config, {
      pool, redis: pipelineRedis, cacheRedis: cache, ...queues, logger: createLogger('refresher-test', 'silent'), metrics: refresherMetrics(registry), queueMetrics: queueMetrics(registry),
    });
    running.push({ worker, queues });
    await worker.start();
    return queues.refreshQueue;
  }

  /** A commit and its refresh job, as the invalidator enqueues it; resolves with the job's settled state. */
  async function commitAndRefresh(queue: Queue<RefreshJobData>, readVersion: number): Promise<{ version: number; state: string }> {
    const { version } = await commit(pool, { table: hotTable, readVersion, actions: [addFile(`part-${readVersion + 1}.parquet`)] });
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [hotTable]);
    const job = await queue.add(refreshJobName, { table: hotTable, tableId: rows[0]?.table_id ?? 0, version, committedAt: new Date().toISOString() }, refreshJobOptions(hotTable));
    // Completed jobs are removed (refreshJobOptions): gone means completed. A failed attempt waits for its retry (delayed).
    const state = await eventually(`the refresh of version ${version}`, async () => {
      const current = await job.getState();
      if (current === 'unknown') return 'completed';
      return ['completed', 'failed', 'delayed'].includes(current) ? current : undefined;
    });
    return { version, state };
  }

  before(async function () {
    this.timeout(30_000);
    pool = env.pool(6);
    pipelineRedis = env.redis();
    cacheRedis = env.cacheRedis();
    // Nothing listens on port 1: a cache instance that is down.
    deadCacheRedis = createCacheRedis(loadConfig({ DELTAMETA_CACHE_REDIS_URL: 'redis://127.0.0.1:1' }), `${env.keyPrefix}dead-cache`);
    await commit(pool, { table: hotTable, readVersion: -1, actions: [
      { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
      { kind: 'metaData', metaData: { id: hotTable, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
      addFile('part-0.parquet'),
    ] });
    // Hot: the reader has read it (the set lives in the pipeline's instance).
    await pipelineRedis.zadd(redisKeys(env.keyPrefix).hotTables, Date.now(), hotTable);
  });

  after(async function () {
    this.timeout(30_000);
    for (const { worker, queues } of running.splice(0)) {
      await worker.stop();
      for (const queue of [queues.refreshQueue, queues.maintenanceQueue]) {
        await queue.obliterate({ force: true });
        await queue.close();
      }
    }
    deadCacheRedis.disconnect();
    cacheRedis.disconnect();
    pipelineRedis.disconnect();
    await pool.end();
  });

  it('writes a hot table\'s summary into the cache instance, none into the pipeline\'s', async function () {
    this.timeout(30_000);
    const queue = await startRefresher(cacheRedis, 'live');
    const { version, state } = await commitAndRefresh(queue, 0);
    expect(state).to.equal('completed');
    const key = redisKeys(env.keyPrefix).summary(hotTable, (await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [hotTable])).rows[0]?.table_id ?? -1, version);
    await eventually('the warmed summary', async () => (await cacheRedis.exists(key)) === 1);
    expect(await pipelineRedis.exists(key)).to.equal(0);
  });

  it('completes a refresh when the cache instance is down: warming is skipped, the refresh is not failed', async function () {
    this.timeout(30_000);
    const queue = await startRefresher(deadCacheRedis, 'dead');
    const { version, state } = await commitAndRefresh(queue, 1);
    expect(state).to.equal('completed');
    const { rows } = await pool.query<{ mv_version: number }>(
      'SELECT s.mv_version FROM deltameta.table_state s JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [hotTable],
    );
    expect(rows[0]?.mv_version).to.equal(version);
  });
});

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

function addFile(path: string): Action {
  return { kind: 'add', add: { path, partitionValues: {}, size: 10, modificationTime: 1, dataChange: true } };
}
