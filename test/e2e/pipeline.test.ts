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
import { HeadPointers, type HeadAnnouncement } from '../../shared/contracts/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { liveFileLines, verifyTable } from '../../shared/materialized/index.ts';
import { readdirSync, readFileSync } from 'node:fs';
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

  /** Versions a stage has handled, summed over the tables (each commit adds one): what is on Kafka, where the heads are, what is materialized. */
  async function versionsThrough(stage: ServiceName): Promise<number> {
    if (stage === 'cdc') {
      const admin = env.kafka().admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(harness.config.pipeline.commitsTopic);
        return offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
      } finally {
        await admin.disconnect();
      }
    }
    let sum = 0;
    for (const table of tables) sum += stage === 'invalidator' ? ((await heads.get(table))?.version ?? -1) : await materializedVersion(table);
    return sum;
  }

  async function committedVersions(): Promise<number> {
    let sum = 0;
    for (const table of tables) sum += await headVersion(table);
    return sum;
  }

  /** Events the invalidator ran through the head script and found at or behind the head (its own counter). */
  async function invalidatorStaleEvents(): Promise<number> {
    const metrics = await (await fetch(harness.adminUrl('invalidator', '/metrics'))).text();
    return Number(/^deltameta_invalidator_stale_events_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0);
  }

  /** The pid of the service process this test process spawned (the harness keeps its child to itself). */
  function childPid(name: ServiceName): number {
    const script = `services/${name}/main.ts`;
    const found = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
      try {
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
        return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.endsWith(script));
      } catch {
        return false;
      }
    });
    if (found.length !== 1) throw new Error(`expected one ${name} process of this test, found ${found.length}`);
    return Number(found[0]);
  }

  async function segmentsVersion(table: string): Promise<number> {
    const { rows } = await pool.query<{ version: number }>(
      'SELECT a.version::int FROM deltameta.file_arrow_segment_state a JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0]?.version ?? -1;
  }

  /** Every table's head pointer, materialized state, file pages and Arrow segments reach its newest committed version, and the state (pages included) equals the log. */
  async function expectCaughtUp(timeoutMs = 60_000): Promise<void> {
    for (const table of tables) {
      const head = await headVersion(table);
      await eventually(`${table}: head pointer at ${head}`, async () => (await heads.get(table))?.version === head, timeoutMs);
      await eventually(`${table}: materialized state at ${head}`, async () => (await materializedVersion(table)) === head, timeoutMs);
      await eventually(`${table}: file pages at ${head}`, async () => (await pagesVersion(table)) === head, timeoutMs);
      await eventually(`${table}: Arrow segments at ${head}`, async () => (await segmentsVersion(table)) === head, timeoutMs);
      const verification = await verifyTable(pool, table);
      expect(verification.ok, verification.problems.join('\n')).to.equal(true);
      expect(await collect(liveFileLines(pool, table, head))).to.deep.equal((await snapshotOf(pool, table, { version: head })).lines);
    }
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(6);
    // Arrow segments for these small tables too, and soon after their pages: the pipeline keeps them through kills and restarts.
    // A pass asked for in memory dies with a killed refresher: the catch-up sweep (every MV_REFRESH_INTERVAL_MS) asks again.
    harness = new PipelineHarness(env, { DELTAMETA_ARROW_SEGMENTS_MIN_FILES: '1', DELTAMETA_ARROW_SEGMENTS_DELAY_MS: '50', DELTAMETA_MV_REFRESH_INTERVAL_MS: '3000' });
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

  it('ignores duplicate and replayed events that arrive after the head moved, dead-letters poison, and keeps going', async function () {
    this.timeout(60_000);
    const kafka = env.kafka();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const subscriber = env.redis();
    const announced: HeadAnnouncement[] = [];
    const marker = 'test-marker';
    subscriber.on('message', (_channel: string, message: string) => announced.push(JSON.parse(message) as HeadAnnouncement));
    await subscriber.subscribe(heads.channel);
    await producer.connect();
    try {
      // The head moves forward first; only then do the old events arrive, so a
      // head script that moved backwards would be seen (an old event sent
      // before the new commit would be overtaken by it whatever the script does).
      const head = await headVersion('orders');
      // Two commits, so the replayed version 1 is older than the head even when this test runs alone.
      const version = await commitSome('orders', 2);
      expect(version).to.equal(head + 2);
      await eventually('the new commit to be visible', async () => (await heads.get('orders'))?.version === version);
      const current = await heads.get('orders');
      await eventually('the move to be announced', () => announced.some((entry) => entry.table === 'orders' && entry.version === version));
      announced.splice(0);
      const staleBefore = await invalidatorStaleEvents();
      const replayed = { schema: 'deltameta.commit.v1', table: 'orders', tableId: 1, version: 1, committedAt: '2020-01-01T00:00:00.000Z', operation: 'WRITE', adds: 1, removes: 0, metadataChanged: false, protocolChanged: false, lsn: '0/1' };
      // Sent one by one: the invalidator keeps only the newest version of a table per batch,
      // so each old event must reach the head script on its own.
      await producer.send({ topic: harness.config.pipeline.commitsTopic, messages: [{ key: 'orders', value: JSON.stringify(replayed) }] });
      // Handled: found stale by the script, or (the bug) the head moved.
      const handled = (count: number) => async (): Promise<boolean> =>
        (await invalidatorStaleEvents()) >= staleBefore + count || (await heads.get('orders'))?.version !== version;
      await eventually('the replayed event handled', handled(1));
      await producer.send({ topic: harness.config.pipeline.commitsTopic, messages: [{ key: 'orders', value: JSON.stringify({ ...replayed, version, committedAt: '2020-01-01T00:00:01.000Z' }) }] });
      expect(await heads.get('orders'), 'the head did not move back to the replayed version').to.deep.equal(current);
      await eventually('the duplicate event handled', handled(2));
      expect(await heads.get('orders'), 'the duplicate changed nothing').to.deep.equal(current);
      expect((await invalidatorStaleEvents()) - staleBefore, 'both old events found stale by the head script').to.equal(2);
      // Anything the old events announced was published before this marker, on the same server.
      await redis.publish(heads.channel, JSON.stringify({ table: marker, version: 0, committedAt: '' }));
      await eventually('the marker announcement', () => announced.some((entry) => entry.table === marker));
      expect(announced.filter((entry) => entry.table === 'orders'), 'announcements of orders after the old events').to.deep.equal([]);

      await producer.send({
        topic: harness.config.pipeline.commitsTopic,
        messages: [
          { key: 'orders', value: '{"schema":"deltameta.commit.v1","table":' },
          { key: 'orders', value: JSON.stringify({ ...replayed, version: 'seven' }) },
        ],
      });
      const dlq = kafka.consumer({ groupId: `${env.id}-dlq-reader`, maxWaitTimeInMs: 50 });
      const dead: string[] = [];
      await dlq.connect();
      try {
        await dlq.subscribe({ topic: harness.config.pipeline.deadLetterTopic, fromBeginning: true });
        await dlq.run({ eachMessage: async ({ message }) => { dead.push(message.headers?.['deltameta-error']?.toString() ?? ''); await Promise.resolve(); } });
        await eventually('two poison events on the dead-letter topic', () => dead.length >= 2);
        expect(dead).to.have.length(2);
        for (const reason of dead) expect(reason).to.match(/^not a deltameta\.commit\.v1 event/);
      } finally {
        await dlq.disconnect();
      }
      const metrics = await (await fetch(harness.adminUrl('invalidator', '/metrics'))).text();
      expect(Number(/deltameta_invalidator_dead_lettered_total\{[^}]*\} (\d+)/.exec(metrics)?.[1])).to.equal(2);
    } finally {
      await producer.disconnect();
      subscriber.disconnect();
    }
    await expectCaughtUp();
  });

  for (const victim of ['cdc', 'invalidator', 'refresher'] as const) {
    it(`loses no version when ${victim} is SIGKILLed in the middle of a write stream`, async function () {
      this.timeout(180_000);
      const start = { through: await versionsThrough(victim), committed: await committedVersions() };
      let writing = true;
      const writer = (async () => {
        let written = 0;
        while (writing || written < 30) {
          await commitSome(tables[written % tables.length] as string, 1);
          written++;
        }
        return written;
      })();
      // Part of the new stream has gone through the victim when it is frozen...
      await eventually(`${victim} to handle part of the stream`, async () => (await versionsThrough(victim)) > start.through);
      const pid = childPid(victim);
      process.kill(pid, 'SIGSTOP');
      // ...and versions it has not handled are committed while it cannot run, so the kill lands mid-stream.
      await commitSome('events', 3);
      const committedAtKill = (await committedVersions()) - start.committed;
      await harness.kill(victim);
      const throughAtKill = (await versionsThrough(victim)) - start.through;
      // (It had handled part of the stream: the wait above said so.)
      expect(throughAtKill, `${victim} killed before it had handled all of the stream`).to.be.lessThan(committedAtKill);
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

