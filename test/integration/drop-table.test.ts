/**
 * `deltameta drop --table T` on the real stack, with the CDC publisher and
 * the invalidator running in-process on the suite's own slot, topic, group,
 * queue and Redis prefix: the table's rows leave every table of the schema
 * in one transaction, its Redis keys go, subscribers get a deltameta.drop.v1
 * event after its commit events, the invalidator deletes the head pointer
 * and enqueues nothing (nothing dead-lettered), and the pipeline keeps
 * going — also when a table's row is deleted before the CDC reads its
 * commits (that used to halt the CDC). The publication ships only the
 * columns the CDC reads.
 */
import { expect } from 'chai';
import type { Consumer } from 'kafkajs';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CommitPublisher } from '../../services/cdc/index.ts';
import { CommitInvalidator } from '../../services/invalidator/index.ts';
import type { Config } from '../../shared/config/index.ts';
import {
  HeadPointers, lockTableState, redisKeys, refreshDeduplicationId, refreshQueue, tableDropMessagePrefix, type RefreshJobData,
} from '../../shared/contracts/index.ts';
import { createPool, type Pool, type PoolClient } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { commit, dropTable, DropRefusedError } from '../../shared/log-store/index.ts';
import { refreshFilePages, refreshTable } from '../../shared/materialized/index.ts';
import { cdcMetrics, createRegistry, invalidatorMetrics, type CdcMetrics, type InvalidatorMetrics } from '../../shared/metrics/index.ts';
import { runDeltameta, type CliRun } from '../support/cli.ts';
import { describeWithEnv } from '../support/env.ts';
import { suitePipelineConfig } from '../support/pipeline.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const add = (file: string): Action => ({ kind: 'add', add: { path: file, partitionValues: {}, size: 10, modificationTime: 1, dataChange: true } });
const create = (id: string): Action[] => [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
  add(`${id}-0.parquet`),
];

interface TopicMessage { readonly key: string; readonly value: { schema: string; table: string; tableId: number; version?: number } }

async function counterValue(metric: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await metric.get()).values[0]?.value ?? 0;
}

describeWithEnv('deltameta drop', (env) => {
  const logger = createLogger('drop-test', 'silent');
  let config: Config;
  let pool: Pool;
  let redis: Redis;
  let cacheRedis: Redis;
  let heads: HeadPointers;
  let queue: Queue<RefreshJobData>;
  let publisher: CommitPublisher;
  let cdc: CdcMetrics;
  let invalidator: CommitInvalidator;
  let invalidatorStats: InvalidatorMetrics;
  let reader: Consumer;
  const received: TopicMessage[] = [];

  const run = (args: string[]): Promise<CliRun> => runDeltameta(args, { DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_REDIS_PREFIX: env.keyPrefix });

  async function tableIdOf(table: string): Promise<number> {
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table]);
    if (!rows[0]) throw new Error(`no table ${table}`);
    return rows[0].table_id;
  }

  /** Rows of `tableId` in every table of the schema that has a table_id column (new tables included, by the catalog). */
  async function rowsOf(tableId: number): Promise<Record<string, number>> {
    const { rows: tables } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'table_id' AND NOT a.attisdropped
        WHERE n.nspname = 'deltameta' AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition`,
    );
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deltameta.${name} WHERE table_id = $1`, [tableId]);
      counts[name] = rows[0]?.n ?? 0;
    }
    return counts;
  }

  async function waitingJobsOf(table: string): Promise<number> {
    const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized', 'active']);
    return jobs.filter((job) => job.data.table === table).length;
  }

  async function startPublisher(): Promise<void> {
    publisher = new CommitPublisher(config, { logger, metrics: cdc, kafka: env.kafka() });
    await publisher.start();
  }

  before(async function () {
    this.timeout(60_000);
    config = suitePipelineConfig(env);
    pool = env.pool();
    redis = env.redis();
    cacheRedis = env.cacheRedis();
    heads = new HeadPointers(redis, env.keyPrefix);
    queue = refreshQueue(config, `${env.keyPrefix}queue`);
    cdc = cdcMetrics(createRegistry('cdc'));
    await startPublisher();
    invalidatorStats = invalidatorMetrics(createRegistry('invalidator'));
    invalidator = new CommitInvalidator(config, { kafka: env.kafka(), redis, refreshQueue: queue, logger, metrics: invalidatorStats });
    await invalidator.start();
    reader = env.kafka().consumer({ groupId: env.topic('reader'), maxWaitTimeInMs: 20 });
    await reader.connect();
    await reader.subscribe({ topic: config.pipeline.commitsTopic, fromBeginning: true });
    await reader.run({
      eachMessage: ({ message }) => {
        received.push({ key: message.key?.toString() ?? '', value: JSON.parse(message.value?.toString() ?? 'null') as TopicMessage['value'] });
        return Promise.resolve();
      },
    });
  });

  after(async function () {
    this.timeout(60_000);
    await reader.disconnect();
    await invalidator.stop();
    await publisher.stop();
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    cacheRedis.disconnect();
    await pool.end();
  });

  it('publishes only the delta_commit columns the CDC reads', async function () {
    const { rows } = await pool.query<{ attnames: string[] }>(
      `SELECT attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'deltameta' AND tablename = 'delta_commit'`,
      [config.pipeline.publicationName],
    );
    expect([...(rows[0]?.attnames ?? [])].sort()).to.deep.equal(
      ['metadata_changed', 'num_adds', 'num_removes', 'operation', 'protocol_changed', 'table_id', 'timestamp_ms', 'version'],
    );
  });

  it('drops a table in one step: rows, pages, cache keys and head pointer; a drop event, no refresh, no dead letter', async function () {
    this.timeout(60_000);
    await commit(pool, { table: 'gone_t', readVersion: -1, actions: create('gone') });
    await commit(pool, { table: 'gone_t', readVersion: 0, actions: [add('gone-1.parquet')] });
    await commit(pool, { table: 'kept_t', readVersion: -1, actions: create('kept') });
    for (const table of ['gone_t', 'kept_t']) {
      await refreshTable(pool, table);
      await refreshFilePages(pool, await tableIdOf(table));
    }
    const goneId = await tableIdOf('gone_t');
    const keptId = await tableIdOf('kept_t');
    await eventually('both head pointers', async () => (await heads.get('gone_t'))?.version === 1 && (await heads.get('kept_t'))?.version === 0);
    const keys = redisKeys(env.keyPrefix);
    await cacheRedis.set(keys.summary('gone_t', goneId, 1), '{}');
    await redis.zadd(keys.hotTables, Date.now(), 'gone_t');
    // Nothing refreshes here: clear what the invalidator enqueued so far, to see whether the drop enqueues anything.
    await queue.drain(true);
    for (const table of ['gone_t', 'kept_t']) await queue.removeDeduplicationKey(refreshDeduplicationId(table));
    const before = await rowsOf(goneId);
    expect(before['delta_commit']).to.equal(2);
    expect(before['file_index']).to.be.greaterThan(0);
    expect(before['file_page']).to.be.greaterThan(0);
    const keptBefore = await rowsOf(keptId);

    const dropped = await run(['drop', '--table', 'gone_t']);
    expect(dropped.stderr).to.equal('');
    expect(dropped.code).to.equal(0);
    expect(dropped.stdout).to.match(/dropped gone_t/);

    expect(Object.entries(await rowsOf(goneId)).filter(([, count]) => count > 0)).to.deep.equal([]);
    // The CDC's record of what it published (cdc_published) is written asynchronously after Kafka acknowledged: not compared.
    const withoutCdcRecord = (rows: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(rows).filter(([name]) => name !== 'cdc_published'));
    expect(withoutCdcRecord(await rowsOf(keptId))).to.deep.equal(withoutCdcRecord(keptBefore));
    expect(await redis.exists(keys.head('gone_t'))).to.equal(0);
    expect(await cacheRedis.exists(keys.summary('gone_t', goneId, 1)), 'the warmed summary, in the cache instance').to.equal(0);
    expect(await redis.zscore(keys.hotTables, 'gone_t')).to.equal(null);

    await eventually('the drop event on the commits topic', () => received.some((message) => message.value.schema === 'deltameta.drop.v1'));
    const ofGone = received.filter((message) => message.key === 'gone_t');
    expect(ofGone.map((message) => message.value.schema)).to.deep.equal(['deltameta.commit.v1', 'deltameta.commit.v1', 'deltameta.drop.v1']);
    expect(ofGone.at(-1)?.value).to.include({ table: 'gone_t', tableId: goneId });

    await eventually('the invalidator to apply the drop', async () => (await counterValue(invalidatorStats.tablesDroppedTotal)) === 1);
    expect(await heads.get('gone_t')).to.equal(undefined);
    expect(await waitingJobsOf('gone_t')).to.equal(0);
    expect(await counterValue(invalidatorStats.deadLetteredTotal)).to.equal(0);

    // Nothing halted: the next commit of another table goes all the way to its head pointer.
    await commit(pool, { table: 'kept_t', readVersion: 0, actions: [add('kept-1.parquet')] });
    await eventually('kept_t head at 1', async () => (await heads.get('kept_t'))?.version === 1);
    expect(publisher.isReady()).to.equal(true);
  });

  it('does not publish a drop message for a table that still exists (any role can emit one into the WAL)', async function () {
    this.timeout(60_000);
    await commit(pool, { table: 'forged_t', readVersion: -1, actions: create('forged') });
    const forgedId = await tableIdOf('forged_t');
    await eventually('forged_t head at 0', async () => (await heads.get('forged_t'))?.version === 0);
    // Not deltameta drop: the message alone, as the least-privileged login can emit it.
    const asReader = createPool(env.readerUrl, { max: 1, applicationName: `test:${env.id}:forger` });
    try {
      await asReader.query('SELECT pg_logical_emit_message(true, $1, $2)', [tableDropMessagePrefix, JSON.stringify({ table: 'forged_t', tableId: forgedId })]);
    } finally {
      await asReader.end();
    }
    await eventually('the forged message refused', async () => (await counterValue(cdc.dropMessagesRefusedTotal)) === 1);
    // What comes after it in the slot is published as ever, and no drop event reached subscribers or the pipeline.
    await commit(pool, { table: 'forged_t', readVersion: 0, actions: [add('forged-1.parquet')] });
    await eventually('forged_t head at 1', async () => (await heads.get('forged_t'))?.version === 1);
    expect(received.filter((message) => message.key === 'forged_t').map((message) => message.value.schema))
      .to.deep.equal(['deltameta.commit.v1', 'deltameta.commit.v1']);
    expect(await counterValue(invalidatorStats.tablesDroppedTotal)).to.equal(1);
  });

  it('keeps publishing when a table row is deleted before the CDC read its commits', async function () {
    this.timeout(60_000);
    await publisher.stop();
    await commit(pool, { table: 'raw_t', readVersion: -1, actions: create('raw') });
    // What an operator without `deltameta drop` does: the CDC finds no name for the commit's table_id.
    await pool.query(`DELETE FROM deltameta.delta_table WHERE name = 'raw_t'`);
    await commit(pool, { table: 'after_t', readVersion: -1, actions: create('after') });
    await startPublisher();
    await eventually('after_t head at 0', async () => (await heads.get('after_t'))?.version === 0, 20_000);
    expect(publisher.isReady()).to.equal(true);
    expect(await counterValue(cdc.droppedTableRowsTotal)).to.equal(1);
    expect(received.some((message) => message.key === 'raw_t')).to.equal(false);
  });

  it('refuses while a refresh holds the table, waits for it with --force, and says when there is no such table', async function () {
    this.timeout(60_000);
    await commit(pool, { table: 'busy_t', readVersion: -1, actions: create('busy') });
    const busyId = await tableIdOf('busy_t');
    const holder: PoolClient = await pool.connect();
    try {
      await holder.query('BEGIN');
      await lockTableState(holder, busyId);
      const refused = await dropTable(pool, 'busy_t').then(() => undefined, (error: unknown) => error);
      expect(refused).to.be.instanceOf(DropRefusedError);
      expect((refused as Error).message).to.match(/refresh.*running.*--force/);
      const viaCli = await run(['drop', '--table', 'busy_t']);
      expect(viaCli.code).to.equal(2);
      expect(viaCli.stderr).to.match(/not dropping busy_t: .*--force/);
      expect(await tableIdOf('busy_t')).to.equal(busyId);

      const forced = dropTable(pool, 'busy_t', { force: true });
      await eventually('the forced drop to wait for the lock', async () => {
        const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
        return (rows[0]?.n ?? 0) > 0;
      });
      await holder.query('COMMIT');
      expect((await forced).tableId).to.equal(busyId);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
    }
    expect(await dropTable(pool, 'busy_t').then(() => undefined, (error: unknown) => error)).to.be.instanceOf(NotFoundError);
    const missing = await run(['drop', '--table', 'busy_t']);
    expect(missing.code).to.equal(4);
    expect(missing.stderr).to.match(/busy_t does not exist/);
  });
});
