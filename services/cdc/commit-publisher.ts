/**
 * The CDC publisher: delta_commit inserts from a logical replication slot
 * become deltameta.commit.v1 events on the commits topic, keyed by table.
 *
 * The flush position (what the slot may forget) is owned here and only
 * moves in two ways:
 * - after Kafka acknowledged a send: to the commit end of the newest
 *   transaction that, with every transaction before it, has all its events
 *   on Kafka;
 * - on a keepalive while nothing is held (no transaction half received,
 *   none waiting or in flight): to the keepalive's WAL end, so WAL of other
 *   tables and databases does not pile up behind an idle slot.
 * A crash at any point therefore loses nothing; what was published and not
 * yet acknowledged comes again (at least once).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Pgoutput } from 'pg-logical-replication';
import type { Config, PipelineConfig } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { createKafka } from '../../shared/clients/index.ts';
import { encodeCommitEvent, ensureCommitTopics, slotLag } from '../../shared/contracts/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { CdcMetrics } from '../../shared/metrics/index.ts';
import { bigIntToLsn, lsnToBigInt } from '../../shared/replication/index.ts';
import { withBackoff } from '../../shared/service/index.ts';
import { commitEventFromRow, commitRowFromTuple, type CommitRow } from './commit-row.ts';
import { CdcRowError } from './errors.ts';
import { ReplicationStream } from './replication-stream.ts';
import { ensurePublication, ensureSlot, isPermanentSetupError, readSlot } from './setup.ts';
import { TableNames } from './table-names.ts';
import { TransactionQueue, type TakenBatch } from './transaction-queue.ts';

export interface CdcDeps {
  readonly logger: Logger;
  readonly metrics: CdcMetrics;
  /** The Kafka client to produce with. Default: one for `config.kafkaBrokers` (tests pass one that can block or fail sends). */
  readonly kafka?: Kafka;
}

export interface CdcReadiness {
  readonly ready: boolean;
  readonly detail: {
    readonly streaming: boolean;
    readonly producerConnected: boolean;
    readonly confirmedLsn: string;
    readonly receivedLsn: string;
    readonly bufferedEvents: number;
    readonly heldTransactions: number;
    readonly failure: string | null;
  };
}

/** A status update at least this often: wal_sender_timeout (60 s by default) ends a silent connection. */
const statusIntervalMs = 1_000;
/** How often deltameta_cdc_replication_lag_bytes is read from pg_replication_slots. */
const lagRefreshIntervalMs = 2_000;
/** Received events held in memory before reading from the slot pauses, in sends. */
const bufferedBatchesBeforePause = 20;
/** How long a graceful stop waits for the server to confirm the final flush position. */
const stopConfirmTimeoutMs = 5_000;

export class CommitPublisher {
  private readonly pipeline: PipelineConfig;
  private readonly logger: Logger;
  private readonly postgresUrl: string;
  private readonly pool: Pool;
  private poolClosed = false;
  private readonly kafka: Kafka;
  private producer: Producer;
  private producerConnected = false;
  private readonly tableNames: TableNames;
  private readonly queue = new TransactionQueue();
  private readonly maxBufferedRows: number;

  private stream: ReplicationStream | undefined;
  private streamSupervisor: Promise<void> | undefined;
  private openTransaction: { commitLsn: string; rows: CommitRow[] } | undefined;
  /** Commit end of the newest transaction received: a reconnect redelivers older ones, which are dropped. */
  private receivedPosition = 0n;
  /** The flush position reported to the server (a "next byte" position, like a commit end LSN). */
  private flushPosition = 0n;
  private paused = false;

  private sending: Promise<void> | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;

  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private receiving = false;
  private stopping = false;
  private aborted = false;
  private failure: Error | undefined;
  private reportFailure: (error: Error) => void = () => undefined;
  private readonly failed: Promise<Error>;

  constructor(private readonly config: Config, private readonly deps: CdcDeps) {
    this.pipeline = config.pipeline;
    this.logger = deps.logger;
    this.postgresUrl = config.postgresUrl;
    this.pool = createPool(config.postgresUrl, { max: 2, applicationName: 'deltameta-cdc' });
    this.tableNames = new TableNames(this.pool);
    this.kafka = deps.kafka ?? createKafka({
      clientId: 'deltameta-cdc',
      brokers: config.kafkaBrokers,
      logger: deps.logger,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
    });
    this.producer = this.createProducer();
    this.maxBufferedRows = Math.max(1_000, config.pipeline.cdcBatchMaxEvents * bufferedBatchesBeforePause);
    this.failed = new Promise((resolve) => {
      this.reportFailure = resolve;
    });
  }

  /** Creates what is missing (publication, slot, topics), connects, and resolves once the slot streams. */
  start(): Promise<void> {
    if (this.starting) throw new Error('CommitPublisher.start() was already called');
    this.starting = this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    const { slotName, publicationName, commitsTopic } = this.pipeline;
    try {
      // PostgreSQL or Kafka may be starting too: retry what waiting can fix, fail fast on the rest.
      const setUp = await this.retryingSetup('setting up the publication, slot and topics', async () => {
        const createdPublication = await ensurePublication(this.pool, publicationName);
        const slot = await ensureSlot(this.pool, slotName);
        const createdTopics = await ensureCommitTopics(this.kafka, this.config);
        await this.producer.connect();
        return { createdPublication, slot, createdTopics };
      });
      if (!setUp) return;
      const { createdPublication, slot, createdTopics } = setUp;
      this.flushPosition = slot.position;
      this.receivedPosition = slot.position;
      this.producerConnected = true;
      this.receiving = true;
      // The slot can still be held by the walsender of a process that just died: retry until it is free.
      const stream = await withBackoff('connecting to the replication slot', () => this.openStream(), this.retryUntil(() => this.stopping));
      // Stopped while connecting: stop() closes what there is.
      if (!stream || this.stopping) return;
      this.streamSupervisor = this.superviseStream();
      this.statusTimer = setInterval(() => this.stream?.sendStatus(this.flushPosition), statusIntervalMs);
      this.lagTimer = setInterval(() => void this.refreshLag(), lagRefreshIntervalMs);
      await this.refreshLag();
      this.logger.info(
        { slot: slotName, publication: publicationName, topic: commitsTopic, lsn: this.confirmedLsn, createdPublication, createdSlot: slot.created, createdTopics },
        'streaming commits',
      );
    } catch (error) {
      this.receiving = false;
      await this.closeConnections();
      throw error;
    }
  }

  /** The flush position reported to PostgreSQL: every transaction that commits before it is on Kafka. */
  get confirmedLsn(): string {
    return bigIntToLsn(this.flushPosition);
  }

  /** Streaming, the producer connected, and not halted on a bad row. */
  isReady(): boolean {
    return this.receiving && this.stream?.isOpen === true && this.producerConnected && !this.failure;
  }

  readiness(): Promise<CdcReadiness> {
    return Promise.resolve({
      ready: this.isReady(),
      detail: {
        streaming: this.stream?.isOpen === true,
        producerConnected: this.producerConnected,
        confirmedLsn: this.confirmedLsn,
        receivedLsn: bigIntToLsn(this.receivedPosition),
        bufferedEvents: this.queue.unsent,
        heldTransactions: this.queue.size,
        failure: this.failure?.message ?? null,
      },
    });
  }

  /**
   * Resolves if the publisher halts: a row that cannot become a valid event
   * (CdcRowError) or a bug. It stops receiving and acknowledges nothing
   * more; the owner should stop() it and exit non-zero.
   */
  whenFailed(): Promise<Error> {
    return this.failed;
  }

  /**
   * Graceful stop: stop receiving, publish what is buffered (waiting for
   * Kafka if it must), acknowledge it and wait for the server to confirm,
   * then disconnect. Unacknowledged WAL stays in the slot for the next start.
   */
  stop(): Promise<void> {
    this.closing ??= this.stopGracefully();
    return this.closing;
  }

  /** A crash, for tests: drops everything buffered without publishing or acknowledging it, then disconnects. */
  abort(): Promise<void> {
    this.aborted = true;
    this.closing ??= this.stopAbruptly();
    return this.closing;
  }

  private async stopGracefully(): Promise<void> {
    this.stopping = true;
    this.receiving = false;
    this.openTransaction = undefined;
    await this.starting?.catch(() => undefined);
    while (this.sending || (this.queue.unsent > 0 && !this.failure && !this.aborted)) {
      if (!this.sending) this.startSending();
      await this.sending;
    }
    this.clearTimers();
    const stream = this.stream;
    if (stream?.isOpen && !this.aborted && !(await this.confirmFlush(stream))) {
      this.logger.warn({ lsn: this.confirmedLsn }, 'the slot did not confirm the final flush position; what is after its own comes again');
    }
    await stream?.close();
    await this.streamSupervisor;
    await this.stream?.close();
    await this.closeConnections();
    this.logger.info({ lsn: this.confirmedLsn }, 'stopped');
  }

  private async stopAbruptly(): Promise<void> {
    this.stopping = true;
    this.receiving = false;
    this.clearTimers();
    await this.stream?.close();
    await this.starting?.catch(() => undefined);
    await this.streamSupervisor;
    await this.stream?.close();
    // An in-flight send is not waited for: whether it fails or completes, nothing more is acknowledged.
    await this.closeConnections();
    this.logger.warn({ lsn: this.confirmedLsn }, 'aborted: buffered events dropped, to come again from the slot');
  }

  /**
   * Sends the flush position and waits until the slot shows it: the server
   * applies a status update asynchronously, and closing right after sending
   * it could leave the slot behind (harmless, but it repeats events).
   */
  private async confirmFlush(stream: ReplicationStream): Promise<boolean> {
    const deadline = Date.now() + stopConfirmTimeoutMs;
    for (let attempt = 0; stream.isOpen && Date.now() < deadline; attempt++) {
      // Asking for a reply makes the walsender read it now even when it is busy decoding.
      if (attempt % 50 === 0) stream.sendStatus(this.flushPosition, true);
      const slot = await readSlot(this.pool, this.pipeline.slotName).catch(() => undefined);
      if (slot?.position !== undefined && slot.position >= this.flushPosition) return true;
      await delay(10);
    }
    return false;
  }

  private clearTimers(): void {
    clearTimeout(this.lingerTimer);
    clearInterval(this.statusTimer);
    clearInterval(this.lagTimer);
    this.lingerTimer = this.statusTimer = this.lagTimer = undefined;
  }

  private async closeConnections(): Promise<void> {
    this.producerConnected = false;
    await this.producer.disconnect().catch((error: unknown) => this.logger.warn({ err: error }, 'Kafka producer disconnect failed'));
    if (this.poolClosed) return;
    this.poolClosed = true;
    await this.pool.end().catch((error: unknown) => this.logger.warn({ err: error }, 'pool close failed'));
  }

  /** withBackoff until stopped, except that a permanent setup error (isPermanentSetupError) is thrown at once. */
  private async retryingSetup<T>(what: string, attempt: () => Promise<T>): Promise<T | undefined> {
    let permanent: { error: unknown } | undefined;
    const result = await withBackoff(what, async () => {
      try {
        return await attempt();
      } catch (error) {
        if (!isPermanentSetupError(error)) throw error;
        permanent = { error };
        return undefined;
      }
    }, this.retryUntil(() => this.stopping));
    if (permanent) throw permanent.error;
    return result;
  }

  private retryUntil(isStopped: () => boolean) {
    return { maxBackoffMs: this.pipeline.reconnectMaxBackoffMs, logger: this.logger, isStopped };
  }

  // --- the replication side ---------------------------------------------------

  private async openStream(): Promise<ReplicationStream> {
    const stream = await ReplicationStream.open(
      {
        postgresUrl: this.postgresUrl,
        slotName: this.pipeline.slotName,
        publicationName: this.pipeline.publicationName,
        applicationName: 'deltameta-cdc-replication',
      },
      { onMessage: (message) => this.onMessage(message), onKeepalive: (walEnd, replyRequested) => this.onKeepalive(walEnd, replyRequested) },
    );
    // Now that this process holds the slot, nobody else moves it. It may be ahead of what this process knows
    // (another instance published while this one waited for the slot): never report less, never expect older.
    let slot: Awaited<ReturnType<typeof readSlot>>;
    try {
      slot = await readSlot(this.pool, this.pipeline.slotName);
    } catch (error) {
      await stream.close();
      throw error;
    }
    if (slot?.position !== undefined && slot.position > this.flushPosition) this.flushPosition = slot.position;
    if (slot?.position !== undefined && slot.position > this.receivedPosition) this.receivedPosition = slot.position;
    this.stream = stream;
    this.paused = false;
    // A status sent on a connection that then died may never have arrived.
    stream.sendStatus(this.flushPosition);
    return stream;
  }

  /** Reconnects with backoff whenever the stream ends, until stopped; resumes from the slot. */
  private async superviseStream(): Promise<void> {
    for (let stream = this.stream; stream; stream = this.stream) {
      const reason = await stream.ended;
      if (this.stopping) return;
      this.logger.warn({ err: reason, lsn: this.confirmedLsn }, 'replication stream ended; reconnecting from the slot');
      this.stream = undefined;
      // A transaction cut off mid-way comes again in full.
      this.openTransaction = undefined;
      await stream.close();
      const next = await withBackoff('reconnecting to the replication slot', () => this.openStream(), this.retryUntil(() => this.stopping));
      if (this.stopping) {
        await next?.close();
        return;
      }
      this.logger.info({ lsn: this.confirmedLsn }, 'replication stream reconnected');
    }
  }

  private onMessage(message: Pgoutput.Message): void {
    if (!this.receiving) return;
    switch (message.tag) {
      case 'begin':
        this.openTransaction = { commitLsn: message.commitLsn ? bigIntToLsn(lsnToBigInt(message.commitLsn)) : 'unknown', rows: [] };
        return;
      case 'insert': {
        const { relation } = message;
        // The publication could have been altered to carry other tables: only delta_commit rows are commits.
        if (relation.schema !== 'deltameta' || relation.name !== 'delta_commit') return;
        const transaction = this.openTransaction;
        if (!transaction) throw new Error('pgoutput sent an insert outside a transaction');
        try {
          transaction.rows.push(commitRowFromTuple(message.new, transaction.commitLsn));
        } catch (error) {
          this.fail(error);
        }
        return;
      }
      case 'commit': {
        const transaction = this.openTransaction;
        this.openTransaction = undefined;
        if (!transaction || !message.commitEndLsn) throw new Error('pgoutput sent a commit without its begin or end LSN');
        const commitEndLsn = lsnToBigInt(message.commitEndLsn);
        if (commitEndLsn <= this.receivedPosition) return;
        this.receivedPosition = commitEndLsn;
        this.queue.push({ commitEndLsn, rows: transaction.rows });
        this.afterReceive();
        return;
      }
      default:
        // relation and type messages are the plugin's business; origin, truncate and messages are not published.
        return;
    }
  }

  private onKeepalive(walEnd: bigint, replyRequested: boolean): void {
    // Everything the server decoded before walEnd has reached this handler (one connection, in order);
    // with nothing held, all of it is on Kafka or was never published.
    const idle = this.receiving && this.openTransaction === undefined && this.queue.size === 0;
    if (idle && walEnd > this.flushPosition) {
      this.flushPosition = walEnd;
      this.stream?.sendStatus(walEnd);
    } else if (replyRequested) {
      this.stream?.sendStatus(this.flushPosition);
    }
  }

  private advanceFlush(position: bigint): void {
    if (position <= this.flushPosition) return;
    this.flushPosition = position;
    this.stream?.sendStatus(position);
  }

  private afterReceive(): void {
    // A transaction without delta_commit rows is published as soon as those before it are.
    const position = this.queue.releaseCompleted();
    if (position !== undefined) this.advanceFlush(position);
    if (!this.paused && this.queue.unsent >= this.maxBufferedRows) {
      this.paused = true;
      this.stream?.pause();
      this.logger.debug({ bufferedEvents: this.queue.unsent }, 'Kafka is behind: pausing the replication stream');
    }
    this.scheduleSend();
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.receiving = false;
    this.logger.error(
      { err: this.failure, lsn: this.confirmedLsn },
      'halted: nothing after the confirmed LSN is published or acknowledged until the cause is fixed',
    );
    this.reportFailure(this.failure);
  }

  // --- the Kafka side ---------------------------------------------------------

  private createProducer(): Producer {
    // acks -1 on every send; idempotence needs one request in flight, which also keeps per-partition order.
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /**
   * kafkajs does no lingering of its own: a send goes when cdcBatchMaxEvents
   * are waiting, or cdcLingerMs after the first one. One send is in flight at
   * a time; what arrives meanwhile goes in the next send, right after.
   */
  private scheduleSend(): void {
    if (this.sending || this.queue.unsent === 0 || this.failure || this.aborted) return;
    if (this.queue.unsent >= this.pipeline.cdcBatchMaxEvents || this.pipeline.cdcLingerMs === 0 || this.stopping) {
      this.startSending();
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.startSending();
    }, this.pipeline.cdcLingerMs);
  }

  private startSending(): void {
    if (this.sending) return;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.sending = this.drain()
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.sending = undefined;
        this.scheduleSend();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.unsent > 0 && !this.failure && !this.aborted) {
      const batch = this.queue.take(this.pipeline.cdcBatchMaxEvents);
      if (this.paused && this.queue.unsent <= this.maxBufferedRows / 2) {
        this.paused = false;
        this.stream?.resume();
      }
      if (!(await this.publish(batch)) || this.aborted) return;
      const position = this.queue.markPublished(batch);
      if (position !== undefined) this.advanceFlush(position);
    }
  }

  /** Publishes a batch, retrying until Kafka has it (never skipping it); false if aborted first. */
  private async publish(batch: TakenBatch): Promise<boolean> {
    const retry = this.retryUntil(() => this.aborted);
    const loaded = await withBackoff('looking up table names', async () => {
      await this.tableNames.load(batch.rows.map(({ row }) => row.tableId));
      return true;
    }, retry);
    if (!loaded) return false;
    const messages: Message[] = batch.rows.map(({ row, commitEndLsn }) => {
      const table = this.tableNames.get(row.tableId);
      if (table === undefined) {
        throw new CdcRowError(bigIntToLsn(commitEndLsn), `table_id ${row.tableId} is not in deltameta.delta_table`, { tableId: row.tableId, version: row.version });
      }
      const event = commitEventFromRow(row, table, commitEndLsn);
      return { key: event.table, value: encodeCommitEvent(event) };
    });
    const sent = await withBackoff('publishing to Kafka', () => this.send(messages), retry);
    if (!sent) return false;
    this.deps.metrics.eventsTotal.inc(messages.length);
    this.logger.debug({ events: messages.length, lsn: bigIntToLsn(batch.rows.at(-1)?.commitEndLsn ?? 0n) }, 'published');
    return true;
  }

  private async send(messages: Message[]): Promise<true> {
    if (!this.producerConnected) {
      // kafkajs gave up after its own retries: start over with a new producer (new producer id, fresh sequences).
      await this.producer.disconnect().catch(() => undefined);
      this.producer = this.createProducer();
      await this.producer.connect();
      this.producerConnected = true;
    }
    const endTimer = this.deps.metrics.publishDurationSeconds.startTimer();
    try {
      await this.producer.send({ topic: this.pipeline.commitsTopic, acks: -1, messages });
    } catch (error) {
      this.producerConnected = false;
      throw error;
    }
    endTimer();
    return true;
  }

  private async refreshLag(): Promise<void> {
    try {
      const lag = await slotLag(this.pool, this.pipeline.slotName);
      if (lag?.lagBytes != null) this.deps.metrics.replicationLagBytes.set(lag.lagBytes);
    } catch (error) {
      this.logger.debug({ err: error }, 'could not read the slot lag');
    }
  }
}
