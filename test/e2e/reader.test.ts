/**
 * The reader behind the real pipeline (cdc, invalidator, refresher as
 * processes; the reader in-process): a commit becomes "latest" once the
 * invalidator moves the head pointer, at once with minVersion (read through
 * to PostgreSQL when the pipeline is slower) and with consistency=strong;
 * answers beyond the watermark come from the log tail and equal the
 * reference snapshot; the reader's process starts and serves its admin port.
 */
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { createRegistry } from '../../shared/metrics/index.ts';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { readerMetrics } from '../../shared/metrics/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { PipelineHarness } from '../support/pipeline.ts';
import { snapshotOf } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }] });

function create(): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { kind: 'metaData', metaData: { id: 'reader-e2e', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration: {} } },
  ];
}

let fileCounter = 0;
function append(): Action {
  const name = `f${fileCounter++}`;
  const p = String(fileCounter % 3);
  return { kind: 'add', add: { path: `p=${p}/${name}.parquet`, partitionValues: { p }, size: 1000 + fileCounter, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":5}' } };
}

describeWithEnv('reader end to end', (env) => {
  let harness: PipelineHarness;
  let pool: Pool;
  let reader: Reader;
  const redis = env.redis();
  const table = 'orders';
  let base: string;

  async function latestVersion(query = '', headers: Record<string, string> = {}): Promise<number> {
    const response = await fetch(`${base}/v1/tables/${table}${query}`, { headers });
    expect(response.status).to.equal(200);
    await response.arrayBuffer();
    return Number(response.headers.get('delta-table-version'));
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    harness = new PipelineHarness(env, { DELTAMETA_READER_PORT: '0' });
    await commit(pool, { table, actions: create() });
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) await harness.start(name);
    reader = new Reader({
      // A long safety TTL: "latest" moves by the announcement, not by re-reading Redis.
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', DELTAMETA_READER_HEAD_SAFETY_TTL_MS: '60000' }),
      defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger: createLogger('reader-e2e', 'silent'), metrics: readerMetrics(createRegistry('reader')),
    });
    await reader.start();
    base = `http://127.0.0.1:${reader.port}`;
  });

  after(async function () {
    this.timeout(60_000);
    await reader.stop();
    await harness.stopAll();
    await pool.end();
    redis.disconnect();
  });

  it('makes a commit visible as latest once the pipeline moves the head, at once with minVersion or strong', async function () {
    this.timeout(120_000);
    await eventually('the create to be latest', async () => (await latestVersion()) === 0, 30_000);
    for (let round = 0; round < 5; round++) {
      const { version } = await commit(pool, { table, actions: [append(), append()] });
      // read-your-writes: never older than the commit, whatever the pipeline's lag
      expect(await latestVersion(`?minVersion=${version}`)).to.be.at.least(version);
      expect(await latestVersion('', { 'delta-min-version': String(version) })).to.be.at.least(version);
      expect(await latestVersion('?consistency=strong')).to.equal(version);
      const files = await fetch(`${base}/v1/tables/${table}/files?minVersion=${version}`);
      const at = Number(files.headers.get('delta-table-version'));
      expect(await files.text()).to.equal((await snapshotOf(pool, table, { version: at })).lines.map((line) => `${line}\n`).join(''));
      // latest follows the announcement (no PostgreSQL read: the safety TTL is a minute)
      await eventually(`version ${version} to become latest`, async () => (await latestVersion()) === version, 30_000);
    }
  });

  it('reports a version the pipeline has not reached as 404 only when it was never committed', async function () {
    const head = (await snapshotOf(pool, table)).version;
    const response = await fetch(`${base}/v1/tables/${table}?minVersion=${head + 5}`);
    expect(response.status).to.equal(404);
    expect(response.headers.get('content-type')).to.contain('application/problem+json');
  });

  it('runs as a process with the admin endpoints and the contract metric names', async function () {
    this.timeout(90_000);
    await harness.start('reader');
    try {
      expect((await fetch(harness.adminUrl('reader', '/healthz'))).status).to.equal(200);
      const port = Number(/"port":(\d+)/.exec(harness.output('reader').join('\n'))?.[1]);
      const summary = await fetch(`http://127.0.0.1:${port}/v1/tables/${table}?consistency=strong`);
      expect(summary.status).to.equal(200);
      const metrics = await (await fetch(harness.adminUrl('reader', '/metrics'))).text();
      for (const name of ['deltameta_cache_requests_total', 'deltameta_cache_bytes', 'deltameta_http_request_duration_seconds']) expect(metrics).to.contain(name);
    } finally {
      expect(await harness.terminate('reader')).to.equal(0);
    }
  });
});
