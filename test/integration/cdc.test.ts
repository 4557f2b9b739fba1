/**
 * services/cdc on the real stack: delta_commit inserts from a logical slot
 * become deltameta.commit.v1 events on Kafka, and the slot moves only after
 * Kafka has them. Each test has its own slot, publication and topics; sends
 * are blocked or failed through a wrapped kafkajs client; the crash test
 * SIGKILLs the real service process.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Kafka, ProducerRecord } from 'kafkajs';
import { CdcRowError, CommitPublisher, ReplicationSetupError } from '../../services/cdc/index.ts';
import { projectRoot, type Config, type PipelineConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { parseCommitEvent, type CommitEvent } from '../../shared/contracts/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { cdcMetrics, createRegistry, type CdcMetrics } from '../../shared/metrics/index.ts';
import { compareLsn } from '../../shared/replication/index.ts';
import { CdcSuite } from '../support/cdc-suite.ts';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

function createActions(): Action[] {
  return [
    { kind: 'commitInfo', commitInfo: { operation: 'CREATE TABLE' } },
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { kind: 'metaData', metaData: { id: 'c0ffee00-0000-4000-8000-000000000001', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
  ];
}

function appendActions(path: string): Action[] {
  return [
    { kind: 'commitInfo', commitInfo: { operation: 'WRITE' } },
    { kind: 'add', add: { path, partitionValues: {}, size: 100, modificationTime: 1_700_000_000_000, dataChange: true } },
  ];
}

interface Received {
  readonly key: string;
  readonly partition: number;
  readonly event: CommitEvent;
}

/**
 * Stands between the publisher and Kafka: lets sends through, holds them
 * (after an allowance), or fails them as a broker that gave up would.
 */
class SendGate {
  attempts = 0;
  readonly held: ProducerRecord[] = [];
  private allowance = Number.POSITIVE_INFINITY;
  private failing = false;
  private waiters: Array<() => void> = [];

  /** Lets `afterSends` more sends through, then holds the next ones. */
  hold(afterSends = 0): void {
    this.allowance = afterSends;
  }

  open(): void {
    this.allowance = Number.POSITIVE_INFINITY;
    this.wake();
  }

  /** Sends (held ones too) fail until `failing` is turned off again. */
  setFailing(failing: boolean): void {
    this.failing = failing;
    this.wake();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  async pass(record: ProducerRecord): Promise<void> {
    this.attempts++;
    while (this.allowance <= 0 && !this.failing) {
      this.held.push(record);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.held.splice(this.held.indexOf(record), 1);
    }
    if (this.failing) throw new Error('injected: the broker did not acknowledge');
    this.allowance--;
  }

  /** A kafkajs client whose producers' sends go through this gate. */
  wrap(kafka: Kafka): Kafka {
    const producer = kafka.producer.bind(kafka);
    kafka.producer = (config) => {
      const created = producer(config);
      const send = created.send.bind(created);
      created.send = async (record) => {
        await this.pass(record);
        return send(record);
      };
      return created;
    };
    return kafka;
  }
}

async function histogramCount(metrics: CdcMetrics): Promise<number> {
  const { values } = await metrics.publishDurationSeconds.get();
  return values.find((value) => value.metricName === 'deltameta_cdc_publish_duration_seconds_count')?.value ?? 0;
}

describeWithEnv('cdc', (env) => {
  const logger = createLogger('cdc', 'silent');
  let pool: Pool;
  const suite = new CdcSuite(env);
  const { publishers } = suite;
  const children: ChildProcess[] = [];
  const isolatedConfig = (overrides: Partial<PipelineConfig> = {}): Config => suite.isolatedConfig(overrides);
  const startPublisher = (config: Config, kafka?: Kafka): ReturnType<CdcSuite['startPublisher']> => suite.startPublisher(config, kafka);
  /** Everything on a topic from the beginning, as it arrives. */
  const readTopic = (topic: string): Promise<Received[]> =>
    suite.readTopic(topic, (message, partition) => ({ key: message.key?.toString() ?? '', partition, event: parseCommitEvent(message.value) }));
  const messagesOnTopic = (topic: string): Promise<number> => suite.messagesOnTopic(topic);

  async function slotFlushLsn(slotName: string): Promise<string> {
    const { rows } = await pool.query<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
    if (!rows[0]) throw new Error(`no slot ${slotName}`);
    return rows[0].lsn;
  }

  /** The slot's walsender: how far it has sent, and the timestamp of the last status update it processed. */
  async function walsender(slotName: string): Promise<{ sentLsn: string; replyTime: string } | undefined> {
    const { rows } = await pool.query<{ sent_lsn: string; reply_time: string }>(
      `SELECT r.sent_lsn::text, r.reply_time::text FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1`,
      [slotName],
    );
    return rows[0] ? { sentLsn: rows[0].sent_lsn, replyTime: rows[0].reply_time } : undefined;
  }

  /**
   * Waits until the server has processed `count` more status updates from the
   * publisher. (Their timestamps are pg-logical-replication's, 7 days off
   * because of its epoch constant, but each update has a new one.)
   */
  async function statusUpdates(slotName: string, count: number): Promise<void> {
    const seen = new Set([(await walsender(slotName))?.replyTime]);
    await eventually(`${count} status updates`, async () => {
      seen.add((await walsender(slotName))?.replyTime);
      return seen.size > count;
    });
  }

  /** Writes WAL that is not delta_commit and waits until the slot's walsender has decoded past it (and so sent a keepalive). */
  async function unrelatedWal(slotName: string): Promise<string> {
    await pool.query(`INSERT INTO scratch (note) SELECT 'unrelated ' || g FROM generate_series(1, 1000) g`);
    const { rows } = await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const written = rows[0]?.lsn as string;
    await eventually('the walsender to decode past the unrelated WAL', async () => {
      const sent = (await walsender(slotName))?.sentLsn;
      return sent !== undefined && compareLsn(sent, written) >= 0;
    });
    return written;
  }

  async function createTables(names: string[]): Promise<void> {
    for (const name of names) await commit(pool, { table: name, actions: createActions() });
  }

  /** Appends `count` versions to each table, tables in parallel, each table in order. */
  async function appendVersions(tables: string[], count: number): Promise<void> {
    await Promise.all(tables.map(async (table) => {
      for (let index = 0; index < count; index++) await commit(pool, { table, actions: appendActions(`part-${index}.parquet`) });
    }));
  }

  async function expectedEvents(tables: string[]): Promise<Map<string, { tableId: number; timestampMs: number; operation: string | null; adds: number; metadataChanged: boolean }>> {
    const { rows } = await pool.query<{ name: string; table_id: number; version: number; timestamp_ms: number; operation: string | null; num_adds: number; metadata_changed: boolean }>(
      `SELECT t.name, c.table_id, c.version, c.timestamp_ms, c.operation, c.num_adds, c.metadata_changed
         FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = ANY($1)`,
      [tables],
    );
    return new Map(rows.map((row) => [`${row.name}@${row.version}`, {
      tableId: row.table_id, timestampMs: row.timestamp_ms, operation: row.operation, adds: row.num_adds, metadataChanged: row.metadata_changed,
    }]));
  }

  interface ServiceProcess {
    readonly child: ChildProcess;
    readonly output: string[];
    readonly exited: Promise<number | null>;
    adminPort: number | undefined;
  }

  /** services/cdc as a real process; its admin port is picked by the OS and read from its log. */
  function spawnService(config: Config, extraEnv: NodeJS.ProcessEnv = {}): ServiceProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'services', 'cdc', 'main.ts')], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DELTAMETA_PG_URL: config.postgresUrl,
        DELTAMETA_SLOT_NAME: config.pipeline.slotName,
        DELTAMETA_PUBLICATION_NAME: config.pipeline.publicationName,
        DELTAMETA_COMMITS_TOPIC: config.pipeline.commitsTopic,
        DELTAMETA_DEAD_LETTER_TOPIC: config.pipeline.deadLetterTopic,
        DELTAMETA_CDC_ADMIN_PORT: '0',
        DELTAMETA_LOG_LEVEL: 'info',
        ...extraEnv,
      },
    });
    children.push(child);
    const service: ServiceProcess = {
      child,
      output: [],
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
      adminPort: undefined,
    };
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        service.output.push(line);
        const port = /"adminPort":(\d+)/.exec(line)?.[1];
        if (port) service.adminPort = Number(port);
      });
    }
    return service;
  }

  async function waitReady(service: ServiceProcess): Promise<string> {
    return eventually('the cdc process to be ready', async () => {
      if (service.child.exitCode !== null) throw new Error(`cdc exited with ${service.child.exitCode}:\n${service.output.slice(-20).join('\n')}`);
      if (service.adminPort === undefined) return false;
      const url = `http://127.0.0.1:${service.adminPort}`;
      const response = await fetch(`${url}/readyz`).catch(() => undefined);
      return response?.status === 200 ? url : false;
    }, 30_000);
  }

  before(async () => {
    pool = env.pool(12);
    await pool.query('CREATE TABLE scratch (id serial PRIMARY KEY, note text)');
    // Many small commits fast (one transaction each), bypassing commit() where its speed is not the point.
    await pool.query(`
      CREATE PROCEDURE append_commit_rows(table_name text, first_version bigint, count int) LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 0 .. count - 1 LOOP
          INSERT INTO deltameta.delta_commit (table_id, version, timestamp_ms, operation, num_adds)
          SELECT table_id, first_version + i, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint + i, 'WRITE', 1
            FROM deltameta.delta_table WHERE name = table_name;
          COMMIT;
        END LOOP;
      END $$`);
  });

  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await suite.release();
  });

  after(async () => {
    await suite.dropSlots(pool);
    await pool.end();
  });

  it('publishes each commit of several tables once, with its fields, in version order per table, keyed by table', async function () {
    const config = isolatedConfig();
    const { publisher, metrics } = await startPublisher(config);
    const received = await readTopic(config.pipeline.commitsTopic);
    const tables = ['orders', 'customers', 'events.raw'];
    await createTables(tables);
    await appendVersions(tables, 15);
    const expected = await expectedEvents(tables);
    expect(expected.size).to.equal(48);

    await eventually('every version on the topic', () => received.length >= expected.size);
    const last = received.map((message) => message.event.lsn).sort(compareLsn).at(-1) as string;
    await eventually('the slot to confirm the last event', async () => compareLsn(await slotFlushLsn(config.pipeline.slotName), last) >= 0);
    expect(await messagesOnTopic(config.pipeline.commitsTopic), 'nothing published twice').to.equal(expected.size);
    expect(received.length).to.equal(expected.size);
    expect((await metrics.eventsTotal.get()).values[0]?.value).to.equal(expected.size);

    for (const { key, event } of received) {
      const row = expected.get(`${event.table}@${event.version}`);
      expect(row, `${event.table}@${event.version}`).to.not.equal(undefined);
      if (!row) continue;
      expect(key).to.equal(event.table);
      expect(event).to.deep.include({
        schema: 'deltameta.commit.v1',
        tableId: row.tableId,
        committedAt: new Date(row.timestampMs).toISOString(),
        operation: row.operation,
        adds: row.adds,
        removes: 0,
        metadataChanged: row.metadataChanged,
        protocolChanged: event.version === 0,
      });
      expect(event.operation).to.equal(event.version === 0 ? 'CREATE TABLE' : 'WRITE');
      expect(event.lsn).to.match(/^[0-9A-F]+\/[0-9A-F]+$/);
    }
    for (const table of tables) {
      const ofTable = received.filter((message) => message.event.table === table);
      expect(ofTable.map((message) => message.event.version)).to.deep.equal([...Array(16).keys()]);
      expect(new Set(ofTable.map((message) => message.partition)).size, 'one key, one partition').to.equal(1);
      const lsns = ofTable.map((message) => message.event.lsn);
      expect([...lsns].sort(compareLsn)).to.deep.equal(lsns);
    }
    expect(publisher.isReady()).to.equal(true);
    await publisher.stop();
  });

  it('moves the slot past an event only after Kafka acknowledged it, retrying failed sends', async function () {
    const config = isolatedConfig({ reconnectMaxBackoffMs: 200 });
    const slotName = config.pipeline.slotName;
    const gate = new SendGate();
    gate.hold();
    const { publisher } = await startPublisher(config, gate.wrap(env.kafka()));
    const received = await readTopic(config.pipeline.commitsTopic);
    await createTables(['gated']);

    const record = await eventually('a send to be held', () => gate.held[0]);
    const event = parseCommitEvent(record.messages[0]?.value ?? null);
    expect(event).to.include({ table: 'gated', version: 0 });
    // Keepalives (after unrelated WAL) and periodic status updates while the send is held: none moves the slot to the event.
    const unrelated = await unrelatedWal(slotName);
    expect(compareLsn(unrelated, event.lsn)).to.equal(1);
    await statusUpdates(slotName, 2);
    expect(compareLsn(await slotFlushLsn(slotName), event.lsn)).to.equal(-1);
    expect(compareLsn(publisher.confirmedLsn, event.lsn)).to.equal(-1);

    // The broker fails the send (as after kafkajs' own retries): the same batch is retried with a new producer.
    gate.setFailing(true);
    gate.open();
    const attempts = gate.attempts;
    await eventually('two more failed attempts', () => gate.attempts >= attempts + 2);
    await statusUpdates(slotName, 1);
    expect(compareLsn(await slotFlushLsn(slotName), event.lsn)).to.equal(-1);
    expect(received).to.have.length(0);

    gate.setFailing(false);
    await eventually('the event on Kafka', () => received.length === 1);
    expect(received[0]?.event).to.deep.equal(event);
    // Published and nothing else held: the slot moves past the event, and past the unrelated WAL too.
    await eventually('the slot to confirm it', async () => compareLsn(await slotFlushLsn(slotName), unrelated) >= 0);
    await publisher.stop();
  });

  it('acknowledges a transaction that commits several tables only when all its events are published', async function () {
    const config = isolatedConfig({ cdcBatchMaxEvents: 1 });
    const gate = new SendGate();
    const { publisher } = await startPublisher(config, gate.wrap(env.kafka()));
    const slotName = config.pipeline.slotName;
    await createTables(['multi_a', 'multi_b']);
    const received = await readTopic(config.pipeline.commitsTopic);
    await eventually('both tables created on the topic', () => received.length === 2);
    const created = received.map(({ event }) => event.lsn).sort(compareLsn).at(-1) as string;
    await eventually('the slot to confirm them', async () => compareLsn(await slotFlushLsn(slotName), created) >= 0);

    // One PostgreSQL transaction, two delta_commit rows; batches of one event, so two sends: the second one is held.
    gate.hold(1);
    await pool.query(`
      INSERT INTO deltameta.delta_commit (table_id, version, timestamp_ms, operation, num_adds)
      SELECT table_id, 1, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'WRITE', 1
        FROM deltameta.delta_table WHERE name IN ('multi_a', 'multi_b')`);
    await eventually('the first event of the transaction on Kafka', () => received.length === 3);
    const first = received[2]?.event as CommitEvent;
    await eventually('its second send to be held', () => gate.held.length === 1);
    await unrelatedWal(slotName);
    await statusUpdates(slotName, 2);
    expect(compareLsn(await slotFlushLsn(slotName), first.lsn), 'half a transaction is not acknowledged').to.equal(-1);

    gate.open();
    await eventually('the second event', () => received.length === 4);
    const second = received[3]?.event as CommitEvent;
    expect(second.lsn).to.equal(first.lsn);
    expect(new Set([first.table, second.table])).to.deep.equal(new Set(['multi_a', 'multi_b']));
    await eventually('the slot to confirm the transaction', async () => compareLsn(await slotFlushLsn(slotName), first.lsn) >= 0);
    await publisher.stop();
  });

  it('keeps the slot advancing when only other tables write', async function () {
    const config = isolatedConfig();
    const { publisher } = await startPublisher(config);
    const start = await slotFlushLsn(config.pipeline.slotName);
    const written = await unrelatedWal(config.pipeline.slotName);
    expect(compareLsn(written, start)).to.equal(1);
    await eventually('the slot to move past the unrelated WAL', async () => compareLsn(await slotFlushLsn(config.pipeline.slotName), written) >= 0);
    expect(await messagesOnTopic(config.pipeline.commitsTopic)).to.equal(0);
    await publisher.stop();
  });

  it('batches a burst of commits into far fewer sends than events', async function () {
    const config = isolatedConfig();
    const tables = Array.from({ length: 10 }, (_, index) => `burst_${index}`);
    const live = await startPublisher(config);
    await createTables(tables);
    await eventually('the created tables published', async () => (await live.metrics.eventsTotal.get()).values[0]?.value === tables.length);

    // Live: commits arrive as fast as commit() makes them (CPU shared with this process).
    let sendsBefore = await histogramCount(live.metrics);
    let started = performance.now();
    await appendVersions(tables, 50);
    const committedMs = performance.now() - started;
    await eventually('the live burst published', async () => (await live.metrics.eventsTotal.get()).values[0]?.value === tables.length + 500);
    const liveSends = (await histogramCount(live.metrics)) - sendsBefore;
    console.log(`      live: 500 commits in ${committedMs.toFixed(0)} ms (${(500_000 / committedMs).toFixed(0)} commits/s), published within ${(performance.now() - started - committedMs).toFixed(0)} ms of the last one, in ${liveSends} sends`);
    await live.publisher.stop();

    // A backlog in the slot (the publisher was down): it arrives at once and goes out in a few big sends.
    await appendVersions(tables, 50);
    started = performance.now();
    const restarted = await startPublisher(config);
    sendsBefore = await histogramCount(restarted.metrics);
    await eventually('the backlog published', async () => (await restarted.metrics.eventsTotal.get()).values[0]?.value === 500);
    const backlogMs = performance.now() - started;
    const sends = (await histogramCount(restarted.metrics)) - sendsBefore;
    console.log(`      backlog: 500 events published ${backlogMs.toFixed(0)} ms after start (${(500_000 / backlogMs).toFixed(0)} events/s), in ${sends} sends`);
    expect(sends).to.be.at.most(500 / 10);
    expect(await messagesOnTopic(config.pipeline.commitsTopic)).to.equal(tables.length + 1000);
    await restarted.publisher.stop();
  });

  it('stops reading from the slot while Kafka is behind, and catches up', async function () {
    // Reading pauses at 20 batches held: 1000 events.
    const config = isolatedConfig({ cdcBatchMaxEvents: 10 });
    const gate = new SendGate();
    const { publisher } = await startPublisher(config, gate.wrap(env.kafka()));
    await createTables(['pressed']);
    gate.hold();
    await pool.query(`CALL append_commit_rows('pressed', 1, 3000)`);
    await eventually('the buffer to fill', async () => (await publisher.readiness()).detail.bufferedEvents >= 1000);
    await statusUpdates(config.pipeline.slotName, 2);
    const { bufferedEvents } = (await publisher.readiness()).detail;
    expect(bufferedEvents, 'paused: not all 3000 read into memory').to.be.below(2000);

    gate.open();
    const received = await readTopic(config.pipeline.commitsTopic);
    await eventually('all 3001 events', () => received.length >= 3001, 30_000);
    expect(new Set(received.map(({ event }) => event.version)).size).to.equal(3001);
    const last = received.map(({ event }) => event.lsn).sort(compareLsn).at(-1) as string;
    await eventually('the slot to confirm the last', async () => compareLsn(await slotFlushLsn(config.pipeline.slotName), last) >= 0);
    await publisher.stop();
  });

  it('on a graceful stop publishes and acknowledges what was buffered', async function () {
    // Nothing would be sent for a minute: only stop() publishes.
    const config = isolatedConfig({ cdcLingerMs: 60_000, cdcBatchMaxEvents: 10_000 });
    const { publisher } = await startPublisher(config);
    await createTables(['buffered']);
    await appendVersions(['buffered'], 4);
    await eventually('five events buffered', async () => (await publisher.readiness()).detail.bufferedEvents === 5);
    expect(await messagesOnTopic(config.pipeline.commitsTopic)).to.equal(0);

    await publisher.stop();
    const received = await readTopic(config.pipeline.commitsTopic);
    await eventually('the five events on Kafka', () => received.length === 5);
    expect(received.map((message) => message.event.version)).to.deep.equal([0, 1, 2, 3, 4]);
    // stop() waited for the server to confirm: no polling needed.
    const last = received[4]?.event.lsn as string;
    expect(compareLsn(publisher.confirmedLsn, last)).to.be.at.least(0);
    // Exactly the reported position: the library's "+1" is compensated, so a commit starting right there is not skipped.
    expect(await slotFlushLsn(config.pipeline.slotName)).to.equal(publisher.confirmedLsn);
  });

  it('reconnects when the walsender is terminated and resumes from the slot without duplicates', async function () {
    const config = isolatedConfig();
    const { publisher } = await startPublisher(config);
    const received = await readTopic(config.pipeline.commitsTopic);
    await createTables(['resumed']);
    const writing = appendVersions(['resumed'], 60);
    await eventually('some events', () => received.length >= 10);
    const { rows } = await pool.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(active_pid) AS terminated FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
      [config.pipeline.slotName],
    );
    expect(rows[0]?.terminated).to.equal(true);
    await writing;
    await eventually('every version', () => received.length >= 61);
    await eventually('ready again', () => publisher.isReady());
    const last = received.at(-1)?.event.lsn as string;
    await eventually('the slot to confirm the last one', async () => compareLsn(await slotFlushLsn(config.pipeline.slotName), last) >= 0);
    expect(received.map((message) => message.event.version)).to.deep.equal([...Array(61).keys()]);
    expect(await messagesOnTopic(config.pipeline.commitsTopic)).to.equal(61);
    await publisher.stop();
  });

  it('loses nothing when the process is SIGKILLed mid-stream; answers /healthz, /readyz, /metrics', async function () {
    this.timeout(90_000);
    const config = isolatedConfig();
    // Sends of 25 events, a partial batch waiting up to a second: events sit
    // read from the slot and not yet on Kafka for long enough to be caught there.
    const first = spawnService(config, { DELTAMETA_CDC_BATCH_MAX_EVENTS: '25', DELTAMETA_CDC_LINGER_MS: '1000' });
    const firstAdmin = await waitReady(first);
    const received = await readTopic(config.pipeline.commitsTopic);
    const tables = ['crash_a', 'crash_b'];
    await createTables(tables);
    // Each table gets at least 100 versions and keeps getting more until the second process is up.
    let writing = true;
    const writers = tables.map(async (table) => {
      for (let index = 0; writing || index < 100; index++) await commit(pool, { table, actions: appendActions(`part-${index}.parquet`) });
    });
    const writes = Promise.all(writers);

    // Measured on the broker (a consumer joining its group lags seconds behind): part of the stream is out,
    // and events read from the slot wait in the process for their send...
    await eventually('part of the stream on Kafka and more held in the process', async () => {
      const { bufferedEvents } = (await (await fetch(`${firstAdmin}/readyz`)).json()) as { bufferedEvents?: number };
      return (bufferedEvents ?? 0) > 0 && (await messagesOnTopic(config.pipeline.commitsTopic)) >= 40;
    }, 30_000);
    // ...when the process is frozen; what is committed from now on it cannot have published when it dies.
    if (first.child.pid === undefined) throw new Error('cdc has no pid');
    process.kill(first.child.pid, 'SIGSTOP');
    for (const table of tables) await commit(pool, { table, actions: appendActions('while-frozen.parquet') });
    const committedAtKill = (await expectedEvents(tables)).size;
    first.child.kill('SIGKILL');
    expect(await first.exited).to.equal(null);
    const publishedAtKill = await messagesOnTopic(config.pipeline.commitsTopic);
    // (At least 40 were out: the wait above said so.)
    expect(publishedAtKill, 'killed before all of the stream was published').to.be.below(committedAtKill);

    const second = spawnService(config);
    const admin = await waitReady(second);
    writing = false;
    await writes;

    const expected = await expectedEvents(tables);
    const missing = (): string[] => {
      const seen = new Set(received.map(({ event }) => `${event.table}@${event.version}`));
      return [...expected.keys()].filter((key) => !seen.has(key));
    };
    // A lost version never arrives: the wait ends either way, and the assertion names what is missing.
    await eventually('every version on the topic', () => missing().length === 0, 30_000).catch(() => undefined);
    expect(missing(), 'versions committed and never published').to.deep.equal([]);
    const duplicates = received.length - expected.size;
    console.log(`      crash: ${expected.size} versions, ${received.length} events (${duplicates} repeated after the kill)`);
    for (const table of tables) {
      const versions = new Set(received.filter(({ event }) => event.table === table).map(({ event }) => event.version));
      const committed = [...expected.keys()].filter((key) => key.startsWith(`${table}@`)).length;
      expect(committed, `${table}: versions committed`).to.be.greaterThan(101);
      expect([...versions].sort((a, b) => a - b), `${table}: versions on the topic`).to.deep.equal([...Array(committed).keys()]);
    }
    const last = received.map(({ event }) => event.lsn).sort(compareLsn).at(-1) as string;
    await eventually('the slot to confirm everything', async () => compareLsn(await slotFlushLsn(config.pipeline.slotName), last) >= 0);

    const health = await fetch(`${admin}/healthz`);
    expect(health.status).to.equal(200);
    const ready = await fetch(`${admin}/readyz`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.include({ status: 'ready', streaming: true, producerConnected: true });
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    for (const name of ['deltameta_cdc_replication_lag_bytes', 'deltameta_cdc_events_total', 'deltameta_cdc_publish_duration_seconds_count']) {
      expect(metrics).to.match(new RegExp(`^${name}\\{[^}]*\\} \\d`, 'm'));
    }
    expect(/^deltameta_cdc_events_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1]).to.not.equal('0');

    second.child.kill('SIGTERM');
    expect(await second.exited, second.output.slice(-10).join('\n')).to.equal(0);
  });

  it('creates the publication, slot and topics race-safely; a second instance waits for the slot and takes over', async function () {
    const config = isolatedConfig({ reconnectMaxBackoffMs: 200 });
    const first = new CommitPublisher(config, { logger, metrics: cdcMetrics(createRegistry('cdc')), kafka: env.kafka() });
    const second = new CommitPublisher(config, { logger, metrics: cdcMetrics(createRegistry('cdc')), kafka: env.kafka() });
    publishers.push(first, second);
    const starts = [first.start(), second.start()];
    const winner = await Promise.race(starts.map((started, index) => started.then(() => index)));
    const [active, standby] = winner === 0 ? [first, second] : [second, first];
    expect(active.isReady()).to.equal(true);
    expect(standby.isReady()).to.equal(false);
    const { rows } = await pool.query<{ slots: number; publications: number }>(
      `SELECT (SELECT count(*)::int FROM pg_replication_slots WHERE slot_name = $1) AS slots,
              (SELECT count(*)::int FROM pg_publication WHERE pubname = $2) AS publications`,
      [config.pipeline.slotName, config.pipeline.publicationName],
    );
    expect(rows[0]).to.deep.equal({ slots: 1, publications: 1 });

    const received = await readTopic(config.pipeline.commitsTopic);
    await createTables(['before_takeover']);
    await eventually('the active instance to publish', () => received.length === 1);
    await active.stop();
    const handedOver = await slotFlushLsn(config.pipeline.slotName);

    await Promise.all(starts);
    expect(standby.isReady()).to.equal(true);
    // The standby read the slot before the active one moved it: it takes the slot's position, never reports the older one.
    expect(compareLsn(standby.confirmedLsn, handedOver)).to.be.at.least(0);
    await statusUpdates(config.pipeline.slotName, 1);
    expect(compareLsn(await slotFlushLsn(config.pipeline.slotName), handedOver)).to.be.at.least(0);
    await createTables(['taken_over']);
    await eventually('the standby to publish', () => received.length === 2);
    expect(received.map(({ event }) => event.table)).to.deep.equal(['before_takeover', 'taken_over']);
    await standby.stop();
  });

  it('refuses a publication of that name that does not carry delta_commit', async function () {
    const config = isolatedConfig();
    await pool.query(`CREATE PUBLICATION ${config.pipeline.publicationName} FOR TABLE scratch`);
    const publisher = new CommitPublisher(config, { logger, metrics: cdcMetrics(createRegistry('cdc')), kafka: env.kafka() });
    publishers.push(publisher);
    const error = await publisher.start().then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(ReplicationSetupError);
    expect((error as Error).message).to.match(/does not publish inserts into deltameta\.delta_commit/);
    await pool.query(`DROP PUBLICATION ${config.pipeline.publicationName}`);
  });

  it('halts on a row that cannot become a valid event, acknowledging nothing from it on', async function () {
    const config = isolatedConfig();
    const { publisher } = await startPublisher(config);
    const received = await readTopic(config.pipeline.commitsTopic);
    await createTables(['poisoned']);
    await eventually('the valid commit on Kafka', () => received.length === 1);
    // A timestamp beyond what a Date can hold: the row passes the table's constraints, not the event schema.
    await pool.query(`
      INSERT INTO deltameta.delta_commit (table_id, version, timestamp_ms)
      SELECT table_id, 1, 9000000000000000000 FROM deltameta.delta_table WHERE name = 'poisoned'`);
    const failure = await publisher.whenFailed();
    expect(failure).to.be.instanceOf(CdcRowError);
    expect(failure.message).to.match(/timestamp_ms/);
    expect(publisher.isReady()).to.equal(false);
    const { rows } = await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await publisher.stop();
    expect(compareLsn(await slotFlushLsn(config.pipeline.slotName), rows[0]?.lsn as string)).to.equal(-1);
    expect(await messagesOnTopic(config.pipeline.commitsTopic)).to.equal(1);
  });
});
