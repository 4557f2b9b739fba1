/**
 * The commit-event pipeline end to end, as deployed: cdc, invalidator and
 * refresher as real processes on the real stack. Commits made through the
 * commit path become head-pointer moves and materialized state equal to
 * replay; duplicate, replayed and poison events change nothing; a SIGKILL
 * of any service in the middle of a write stream loses no version.
 */
import { expect } from 'chai';
import { Partitioners } from 'kafkajs';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { HeadPointers } from '../../shared/contracts/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { liveFileLines, verifyTable } from '../../shared/materialized/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { PipelineHarness, type ServiceName } from '../support/pipeline.ts';
import { snapshotOf } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }] });

function create(): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { kind: 'metaData', metaData: { id: 'e2e', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration: {} } },
  ];
}

function append(name: string, p: string): Action {
  return { kind: 'add', add: { path: `p=${p}/${name}.parquet`, partitionValues: { p }, size: 1000 + name.length, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":5}' } };
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

describeWithEnv('pipeline end to end', (env) => {
  let harness: PipelineHarness;
  let pool: Pool;
  let heads: HeadPointers;
  const redis = env.redis();
  const tables = ['orders', 'events', 'users'];
  let fileCounter = 0;

  async function commitSome(table: string, count: number): Promise<number> {
    let version = -1;
    for (let i = 0; i < count; i++) {
      const actions: Action[] = [append(`f${fileCounter++}`, String(fileCounter % 3))];
      version = (await commit(pool, { table, actions })).version;
    }
    return version;
  }

  async function headVersion(table: string): Promise<number> {
    const { rows } = await pool.query<{ head: number }>(
      'SELECT max(c.version)::int AS head FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0]?.head ?? -1;
  }

  async function materializedVersion(table: string): Promise<number> {
    const { rows } = await pool.query<{ mv: number }>(
      'SELECT s.mv_version::int AS mv FROM deltameta.table_state s JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0]?.mv ?? -1;
  }

  async function pagesVersion(table: string): Promise<number> {
    const { rows } = await pool.query<{ version: number }>(
      'SELECT p.version::int FROM deltameta.file_page_state p JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0]?.version ?? -1;
  }

  /** Every table's head pointer, materialized state and file pages reach its newest committed version, and the state (pages included) equals the log. */
  async function expectCaughtUp(timeoutMs = 60_000): Promise<void> {
    for (const table of tables) {
      const head = await headVersion(table);
      await eventually(`${table}: head pointer at ${head}`, async () => (await heads.get(table))?.version === head, timeoutMs);
      await eventually(`${table}: materialized state at ${head}`, async () => (await materializedVersion(table)) === head, timeoutMs);
      await eventually(`${table}: file pages at ${head}`, async () => (await pagesVersion(table)) === head, timeoutMs);
      const verification = await verifyTable(pool, table);
      expect(verification.ok, verification.problems.join('\n')).to.equal(true);
      expect(await collect(liveFileLines(pool, table, head))).to.deep.equal((await snapshotOf(pool, table, { version: head })).lines);
    }
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(6);
    harness = new PipelineHarness(env);
    heads = new HeadPointers(redis, env.keyPrefix);
    for (const table of tables) await commit(pool, { table, actions: create() });
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) await harness.start(name);
  });

  after(async function () {
    this.timeout(60_000);
    await harness.stopAll();
    await pool.end();
    redis.disconnect();
  });

  it('turns commits into head-pointer moves and materialized state equal to replay', async function () {
    this.timeout(120_000);
    for (const table of tables) await commitSome(table, 5);
    await expectCaughtUp();
  });

  it('serves admin endpoints with the contract metric names', async function () {
    const expected: Record<string, string[]> = {
      cdc: ['deltameta_cdc_events_total', 'deltameta_cdc_publish_duration_seconds', 'deltameta_cdc_replication_lag_bytes'],
      invalidator: ['deltameta_commit_to_visible_seconds', 'deltameta_kafka_consumer_lag_messages'],
      refresher: ['deltameta_refresh_duration_seconds', 'deltameta_refresh_versions_applied_total', 'deltameta_mv_staleness_versions', 'deltameta_commit_to_refreshed_seconds', 'deltameta_queue_jobs'],
    };
    for (const [service, names] of Object.entries(expected)) {
      const name = service as ServiceName;
      expect((await fetch(harness.adminUrl(name, '/healthz'))).status).to.equal(200);
      expect((await fetch(harness.adminUrl(name, '/readyz'))).status).to.equal(200);
      const metrics = await (await fetch(harness.adminUrl(name, '/metrics'))).text();
      for (const metric of names) expect(metrics, `${service} exposes ${metric}`).to.contain(metric);
    }
    const visible = await (await fetch(harness.adminUrl('invalidator', '/metrics'))).text();
    expect(Number(/deltameta_commit_to_visible_seconds_count\{[^}]*\} (\d+)/.exec(visible)?.[1] ?? 0)).to.be.greaterThan(0);
  });

  it('ignores duplicate and replayed events, dead-letters poison, and keeps going', async function () {
    this.timeout(60_000);
    const kafka = env.kafka();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const head = await headVersion('orders');
      const replayed = { schema: 'deltameta.commit.v1', table: 'orders', tableId: 1, version: 1, committedAt: new Date().toISOString(), operation: 'WRITE', adds: 1, removes: 0, metadataChanged: false, protocolChanged: false, lsn: '0/1' };
      await producer.send({
        topic: harness.config.pipeline.commitsTopic,
        messages: [
          { key: 'orders', value: JSON.stringify(replayed) },
          { key: 'orders', value: '{"schema":"deltameta.commit.v1","table":' },
          { key: 'orders', value: JSON.stringify({ ...replayed, version: 'seven' }) },
        ],
      });
      const version = await commitSome('orders', 1);
      expect(version).to.equal(head + 1);
      await eventually('the new commit to be visible', async () => (await heads.get('orders'))?.version === version);
      expect((await heads.get('orders'))?.version, 'the replayed event did not move the head back').to.equal(version);
      const dlq = kafka.consumer({ groupId: `${env.id}-dlq-reader`, maxWaitTimeInMs: 50 });
      const dead: string[] = [];
      await dlq.connect();
      try {
        await dlq.subscribe({ topic: harness.config.pipeline.deadLetterTopic, fromBeginning: true });
        await dlq.run({ eachMessage: async ({ message }) => { dead.push(message.headers?.['deltameta-error']?.toString() ?? ''); await Promise.resolve(); } });
        await eventually('two poison events on the dead-letter topic', () => dead.length >= 2);
        expect(dead.every((reason) => reason.startsWith('not a deltameta.commit.v1 event'))).to.equal(true);
      } finally {
        await dlq.disconnect();
      }
      const metrics = await (await fetch(harness.adminUrl('invalidator', '/metrics'))).text();
      expect(Number(/deltameta_invalidator_dead_lettered_total\{[^}]*\} (\d+)/.exec(metrics)?.[1])).to.equal(2);
    } finally {
      await producer.disconnect();
    }
    await expectCaughtUp();
  });

  for (const victim of ['cdc', 'invalidator', 'refresher'] as const) {
    it(`loses no version when ${victim} is SIGKILLed in the middle of a write stream`, async function () {
      this.timeout(180_000);
      let writing = true;
      const writer = (async () => {
        let written = 0;
        while (writing || written < 30) {
          await commitSome(tables[written % tables.length] as string, 1);
          written++;
        }
        return written;
      })();
      await eventually('some commits in flight', async () => (await heads.get('users'))?.version !== undefined && fileCounter > 10);
      await harness.kill(victim);
      await commitSome('events', 3);
      await harness.start(victim);
      writing = false;
      expect(await writer).to.be.at.least(30);
      await expectCaughtUp(90_000);
    });
  }

  it('catches up tables whose commits never became events (slot recreated, table older than the pipeline)', async function () {
    this.timeout(120_000);
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) expect(await harness.terminate(name)).to.equal(0);
    // The slot is gone (an operator dropped it, a failover lost it): the WAL of
    // what is committed next is never decoded for this pipeline.
    await pool.query('SELECT pg_drop_replication_slot($1)', [harness.config.pipeline.slotName]);
    await commit(pool, { table: 'late', actions: create() });
    tables.push('late');
    await commitSome('late', 3);
    await commitSome('orders', 2);
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) await harness.start(name);
    await expectCaughtUp();
  });

  it('stops gracefully on SIGTERM (exit 0) and picks up where it left off', async function () {
    this.timeout(120_000);
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) expect(await harness.terminate(name)).to.equal(0);
    await commitSome('users', 4);
    for (const name of ['cdc', 'invalidator', 'refresher'] as const) await harness.start(name);
    await expectCaughtUp();
  });
});

