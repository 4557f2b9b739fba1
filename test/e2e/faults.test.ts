/**
 * The pipeline rides out a restart of Kafka and of Redis: writers keep
 * committing (they never wait for the pipeline), and once the broker or
 * Redis is back every committed version reaches the head pointers and the
 * materialized state. Restarts the stack's own broker and Redis, so it
 * needs a stack started by `deltameta stack up`, not a reused one.
 */
import { expect } from 'chai';
import { loadConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { HeadPointers } from '../../shared/contracts/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { verifyTable } from '../../shared/materialized/index.ts';
import { stackDown, stackStatus, stackUp, type ServiceName } from '../../shared/stack/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { PipelineHarness } from '../support/pipeline.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const create: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'faults', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
];

describeWithEnv('pipeline under infrastructure faults', (env) => {
  let harness: PipelineHarness;
  let pool: Pool;
  const stackConfig = loadConfig();
  const redis = env.redis();
  let heads: HeadPointers;
  let files = 0;

  async function commitOne(table: string): Promise<number> {
    const name = `f${files++}.parquet`;
    return (await commit(pool, { table, actions: [{ kind: 'add', add: { path: name, partitionValues: {}, size: 10, modificationTime: 1, dataChange: true } }] })).version;
  }

  async function expectCaughtUp(table: string, version: number): Promise<void> {
    await eventually(`${table}: head pointer at ${version}`, async () => (await heads.get(table))?.version === version, 120_000);
    await eventually(`${table}: materialized at ${version}`, async () => {
      const { rows } = await pool.query<{ mv: number }>('SELECT s.mv_version::int AS mv FROM deltameta.table_state s JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table]);
      return rows[0]?.mv === version;
    }, 120_000);
    const verification = await verifyTable(pool, table);
    expect(verification.ok, verification.problems.join('\n')).to.equal(true);
  }

  async function restart(service: ServiceName, table: string): Promise<void> {
    const [status] = await stackStatus(stackConfig, [service]);
    if (status?.state !== 'running') throw new Error(`${service} is ${status?.state ?? 'unknown'}: this test restarts the stack's own ${service}, start it with deltameta stack up`);
    const before = await commitOne(table);
    await expectCaughtUp(table, before);
    await stackDown(stackConfig, [service]);
    // Writers never wait for the pipeline: commits go on while it is down.
    let last = before;
    for (let i = 0; i < 10; i++) last = await commitOne(table);
    await stackUp(stackConfig, [service]);
    for (let i = 0; i < 5; i++) last = await commitOne(table);
    await expectCaughtUp(table, last);
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    harness = new PipelineHarness(env);
    heads = new HeadPointers(redis, env.keyPrefix);
    await commit(pool, { table: 'kafka_fault', actions: create });
    await commit(pool, { table: 'redis_fault', actions: create });
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) await harness.start(name);
  });

  afterEach(function () {
    // A fault test that fails is only debuggable with the services' own words.
    if (this.currentTest?.state !== 'failed') return;
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) {
      console.error(`--- ${name} (last lines)\n${harness.output(name).slice(-25).join('\n')}`);
    }
  });

  after(async function () {
    this.timeout(120_000);
    // Whatever happened, leave the stack up for the suites after this one.
    await stackUp(stackConfig);
    await harness.stopAll();
    await pool.end();
    redis.disconnect();
  });

  it('rides out a Kafka restart', async function () {
    this.timeout(300_000);
    await restart('kafka', 'kafka_fault');
  });

  it('rides out a Redis restart', async function () {
    this.timeout(300_000);
    await restart('redis', 'redis_fault');
  });
});
