/**
 * One bad table never stops the others: a table whose refresh fails (a
 * file_index row injected here that the next version must close, and whose
 * close breaks file_index's CHECK: the real failure a broken materialized
 * state or a bad log row gives, with no test seam inside the refresher) is quarantined — gauge at
 * 1, failures counted, an error line with table, version and err — and
 * retried with backoff, while another table's commits are refreshed at
 * normal latency; once the cause is gone the table recovers and the gauge
 * returns to 0. The refresher runs in-process on the suite's own queues.
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../shared/config/index.ts';
import { maintenanceQueue, refreshJobName, refreshJobOptions, refreshQueue, refreshRetry, type RefreshJobData } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { createRegistry, queueMetrics, refresherMetrics, type Registry } from '../../shared/metrics/index.ts';
import { alertChecks, formatPipelineStatus, pipelineStatus } from '../../services/cli/index.ts';
import { RefreshWorker } from '../../services/refresher/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { suitePipelineConfig } from '../support/pipeline.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const add = (path: string): Action => ({ kind: 'add', add: { path, partitionValues: {}, size: 10, modificationTime: 1, dataChange: true } });
const create = (id: string): Action[] => [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
  add(`${id}-0.parquet`),
];

interface LogLine { level: number; msg: string; table?: string; version?: number; err?: { message?: string } }

describeWithEnv('refresh quarantine', (env) => {
  let config: Config;
  let pool: Pool;
  let redis: Redis;
  let queues: { refreshQueue: Queue<RefreshJobData>; maintenanceQueue: Queue };
  let registry: Registry;
  let worker: RefreshWorker;
  const logLines: LogLine[] = [];

  async function mvVersion(table: string): Promise<number | null> {
    const { rows } = await pool.query<{ mv_version: number }>(
      'SELECT s.mv_version FROM deltameta.table_state s JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0]?.mv_version ?? null;
  }

  async function gauge(name: string): Promise<number | undefined> {
    const metric = await registry.getSingleMetric(name)?.get();
    return metric?.values[0]?.value;
  }

  /** What the invalidator does for a commit event. */
  async function commitAndEnqueue(table: string, readVersion: number, actions: Action[]): Promise<number> {
    const { version } = await commit(pool, { table, readVersion, actions });
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table]);
    const tableId = rows[0]?.table_id ?? 0;
    await queues.refreshQueue.add(refreshJobName, { table, tableId, version, committedAt: new Date().toISOString() }, refreshJobOptions(table));
    return version;
  }

  before(async function () {
    this.timeout(30_000);
    config = suitePipelineConfig(env);
    pool = env.pool(8);
    redis = env.redis();
    queues = { refreshQueue: refreshQueue(config, `${env.keyPrefix}queue`), maintenanceQueue: maintenanceQueue(config, `${env.keyPrefix}maintenance`) };
    registry = createRegistry('refresher');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    const logger = pino({ name: 'deltameta', level: 'info', base: { service: 'refresher' } }, sink);
    await commit(pool, { table: 'bad_t', readVersion: -1, actions: create('bad') });
    await commit(pool, { table: 'good_t', readVersion: -1, actions: create('good') });
    worker = new RefreshWorker(config, { pool, redis, ...queues, logger, metrics: refresherMetrics(registry), queueMetrics: queueMetrics(registry) });
    await worker.start();
    await eventually('both tables refreshed by the start-up catch-up', async () => (await mvVersion('bad_t')) === 0 && (await mvVersion('good_t')) === 0, 20_000);
  });

  after(async function () {
    this.timeout(30_000);
    await worker.stop();
    await queues.refreshQueue.obliterate({ force: true });
    await queues.maintenanceQueue.obliterate({ force: true });
    await queues.refreshQueue.close();
    await queues.maintenanceQueue.close();
    redis.disconnect();
    await pool.end();
  });

  it('quarantines a failing table, keeps refreshing the others meanwhile, and recovers once the cause is gone', async function () {
    this.timeout(60_000);
    // The poison: a live file_index row, claiming to be added at version 5, for the path bad_t's version 1 re-adds;
    // closing it at version 1 breaks file_index's CHECK (removed_version > added_version).
    await pool.query(`
      INSERT INTO deltameta.file_index (table_id, added_version, size, path, partition_values, add_line)
      SELECT table_id, 5, 1, 'poison.parquet', '{}', '{}' FROM deltameta.delta_table WHERE name = 'bad_t'`);
    await commitAndEnqueue('bad_t', 0, [add('poison.parquet')]);

    await eventually('bad_t quarantined', async () => (await gauge('deltameta_refresh_quarantined_tables')) === 1, 10_000);
    expect(await gauge('deltameta_refresh_failures_total')).to.be.at.least(1);
    const alert = logLines.find((line) => line.level === 50 && line.table === 'bad_t');
    expect(alert, 'an error-level line naming the table').to.not.equal(undefined);
    expect(alert?.version).to.equal(1);
    expect(alert?.err?.message).to.match(/check constraint/);
    expect(await mvVersion('bad_t')).to.equal(0);

    // A catch-up meanwhile adds nothing: the delayed retry holds the table's deduplication key and has no
    // last attempt, so its backoff goes on (capped) instead of restarting with a fresh job.
    expect(await worker.catchUp()).to.be.at.least(1);
    const pending = (await queues.refreshQueue.getJobs(['waiting', 'delayed', 'active', 'prioritized'])).filter((job) => job.data.table === 'bad_t');
    expect(pending.map((job) => job.opts.attempts)).to.deep.equal([refreshRetry.attempts]);

    // Meanwhile good_t's commits are refreshed at normal latency, each one.
    for (let version = 1; version <= 3; version++) {
      const started = Date.now();
      await commitAndEnqueue('good_t', version - 1, [add(`good-${version}.parquet`)]);
      await eventually(`good_t at ${version}`, async () => (await mvVersion('good_t')) === version, 5_000);
      expect(Date.now() - started, `good_t version ${version} refreshed within 2 s`).to.be.below(2_000);
    }
    expect(await gauge('deltameta_refresh_quarantined_tables')).to.equal(1);
    expect(await mvVersion('bad_t')).to.equal(0);
    // `deltameta status` names it, with its error, and as a probe says the alert would fire.
    const status = await pipelineStatus(config);
    expect(status.refreshQueue.quarantined).to.equal(1);
    expect(status.refreshQueue.retrying.map((entry) => entry.table)).to.deep.equal(['bad_t']);
    expect(status.refreshQueue.retrying[0]?.error).to.match(/check constraint/);
    expect(formatPipelineStatus(status)).to.match(/bad_t: refresh failing \(quarantined\), \d+ attempts/);
    expect(alertChecks(status).find((check) => check.alert === 'DeltametaRefreshQuarantinedTables')?.fires).to.equal(true);

    // The cause removed: the next retry (exponential backoff) succeeds.
    await pool.query(`DELETE FROM deltameta.file_index WHERE path = 'poison.parquet' AND added_version = 5`);
    await eventually('bad_t recovered', async () => (await mvVersion('bad_t')) === 1, 30_000);
    await eventually('the gauge back at 0', async () => (await gauge('deltameta_refresh_quarantined_tables')) === 0, 5_000);
    expect((await pipelineStatus(config)).refreshQueue.retrying).to.deep.equal([]);
    expect(logLines.some((line) => line.table === 'bad_t' && /recovered/.test(line.msg))).to.equal(true);
  });
});
