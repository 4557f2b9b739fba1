/**
 * The cache's Redis instance has a memory budget and evicts (allkeys-lru);
 * the pipeline's is noeviction. Filled past a small maxmemory with
 * reader-shaped L2 keys, the cache instance evicts — the reader's own L2
 * entries among them, which it then answers from L3, unchanged — while
 * BullMQ's keys (a held job lock, with its TTL, included) and the head
 * pointers in the pipeline's instance are untouched. Summaries the refresher
 * warms are the reader's L2 hits: both use the cache instance.
 *
 * The cache instance is the stack's, shared with concurrent suites: its
 * maxmemory is lowered only for the fill and always restored; an eviction
 * costs another suite an L3 read, never a wrong answer.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { HeadPointers, redisKeys } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, replay } from '../../shared/delta/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { refreshTable } from '../../shared/materialized/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { warmTableSummary } from '../../shared/summary/index.ts';
import { Reader } from '../../services/reader/index.ts';
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

  async function startReader(): Promise<string> {
    const redis = env.redis();
    const cache = env.cacheRedis();
    const reader = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }),
      defaultPostgresUrl: env.config.postgresUrl, redis, cacheRedis: cache, redisPrefix: env.keyPrefix, logger, metrics: readerMetrics(createRegistry('cache-redis-test')),
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
    expect(await cacheRedis.exists(keys.summary(table, head))).to.equal(1);
    expect(await pipelineRedis.exists(keys.summary(table, head))).to.equal(0);
    const base = await startReader();
    const response = await fetch(`${base}/v1/tables/${table}`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('cache-status')).to.equal('deltameta; hit; detail=l2');
    expect(((await response.json()) as { version: number }).version).to.equal(head);
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
      let evictedOfReader = 0;
      for (let batch = 0; batch < 100 && evictedOfReader === 0; batch++) {
        const fill = cacheRedis.pipeline();
        for (let index = 0; index < 32; index++) fill.set(keys.readerResponse(randomBytes(16).toString('hex')), fillValue, 'EX', 600);
        await fill.exec();
        evictedOfReader = readerKeys.length - (await cacheRedis.exists(...readerKeys));
      }
      await cacheRedis.config('SET', 'maxmemory', savedMaxMemory ?? '0');
      savedMaxMemory = undefined;
      expect(Number(await info(cacheRedis, 'stats', 'evicted_keys')) - evictedBefore).to.be.above(0);
      expect(evictedOfReader, 'reader L2 keys evicted').to.be.above(0);

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
