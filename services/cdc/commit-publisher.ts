/**
 * The CDC publisher: delta_commit inserts from a logical replication slot
 * become deltameta.commit.v1 events on the commits topic, keyed by table.
 *
 * The flush position (what the slot may forget) only moves in two ways:
 * - after Kafka acknowledged a send: to the commit end of the newest
 *   transaction that, with every transaction before it, has all its events
 *   on Kafka;
 * - on a keepalive while nothing is held (no transaction half received,
 *   none waiting or in flight): to the keepalive's WAL end, so WAL of other
 *   tables and databases does not pile up behind an idle slot.
 * A crash at any point therefore loses nothing; what was published and not
 * yet acknowledged comes again (at least once). FlushPosition
 * (flush-position.ts) is the one place that enforces it.
 *
 * The publisher wires three pieces and runs their life (publisher-state.ts):
 * SlotConsumer reads transactions from the slot into the FlushPosition's
 * queue, BatchSender sends them to Kafka and reports each acknowledged send.
 */
import type { Kafka } from 'kafkajs';
import type { Config, PipelineConfig } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { ensureCommitTopics, slotLag } from '../../shared/contracts/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { CdcMetrics } from '../../shared/metrics/index.ts';
import { withBackoff } from '../../shared/service/index.ts';
import { BatchSender } from './batch-sender.ts';
import { FlushPosition } from './flush-position.ts';
import { PublisherLifecycle } from './publisher-state.ts';
import { ensurePublication, ensureSlot, isPermanentSetupError } from './setup.ts';
import { SlotConsumer, type CdcRole } from './slot-consumer.ts';
import { PublishedVersions, publishUnpublished } from './slot-gap.ts';
import { InternalError } from '../../shared/errors/index.ts';

export interface CdcDeps {
  readonly logger: Logger;
  readonly metrics: CdcMetrics;
  /** The Kafka client to produce with, built by main.ts (tests pass one that can block or fail sends). */
  readonly kafka: Kafka;
  /** How often a standby tries to take the slot (config.ts: DELTAMETA_CDC_STANDBY_RETRY_MS). Default 1000. */
  readonly standbyRetryMs?: number;
}

export interface CdcReadiness {
  readonly ready: boolean;
  readonly detail: {
    /** `standby` is ready too: healthy, connected to Kafka, waiting to take the slot over (slot-consumer.ts). */
    readonly role: CdcRole;
    /** the walsender holding the slot, while standing by */
    readonly slotHeldBy: number | null;
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

export class CommitPublisher {
  private readonly pipeline: PipelineConfig;
  private readonly logger: Logger;
  private readonly pool: Pool;
  private readonly kafka: Kafka;
  private readonly lifecycle = new PublisherLifecycle();
  private readonly flush = new FlushPosition();
  private readonly consumer: SlotConsumer;
  private readonly sender: BatchSender;
  private readonly published: PublishedVersions;

  private statusTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private connectionsClosed: Promise<void> | undefined;
  private reportFailure: (error: Error) => void = () => undefined;
  private readonly failed: Promise<Error>;

  constructor(private readonly config: Config, private readonly deps: CdcDeps) {
    this.pipeline = config.pipeline;
    this.logger = deps.logger;
    // The publisher's own pool, not one passed in: stop() and abort() decide when its connections may close.
    this.pool = createPool(config.postgresUrl, { max: 2, applicationName: 'deltameta-cdc' });
    this.kafka = deps.kafka;
    const shared = { pipeline: this.pipeline, pool: this.pool, flush: this.flush, lifecycle: this.lifecycle, logger: this.logger };
    this.consumer = new SlotConsumer({
      ...shared,
      postgresUrl: config.postgresUrl,
      maxBufferedRows: Math.max(1_000, config.pipeline.cdcBatchMaxEvents * bufferedBatchesBeforePause),
      onTransaction: () => this.sender.scheduleSend(),
      onFailure: (error) => this.fail(error),
      standbyRetryMs: deps.standbyRetryMs ?? 1000,
      onStreamStart: (slotPosition) => this.sender.publishFirst(async (send) => {
        const events = await publishUnpublished({ pool: this.pool, slotName: this.pipeline.slotName, lsn: slotPosition, send, published: this.published, logger: this.logger });
        deps.metrics.gapEventsTotal.inc(events);
      }),
      onSlotRecreated: () => deps.metrics.slotsRecreatedTotal.inc(),
    });
    this.published = new PublishedVersions(this.pool, this.pipeline.slotName, this.logger);
    this.sender = new BatchSender({
      ...shared,
      kafka: this.kafka,
      metrics: deps.metrics,
      onTaken: () => this.consumer.resumeIfCaughtUp(),
      onFailure: (error) => this.fail(error),
      published: this.published,
    });
    this.failed = new Promise((resolve) => {
      this.reportFailure = resolve;
    });
  }

  /** Creates what is missing (publication, slot, topics), connects, and resolves once the slot streams. */
  start(): Promise<void> {
    if (this.starting) throw new InternalError('CommitPublisher.start() was already called');
    this.lifecycle.moveTo('starting');
    this.starting = this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    const { slotName, publicationName, commitsTopic } = this.pipeline;
    try {
      // PostgreSQL or Kafka may be starting too: retry what waiting can fix, fail fast on the rest.
      const setUp = await withBackoff('setting up the publication, slot and topics', async () => {
        const createdPublication = await ensurePublication(this.pool, publicationName);
        const slot = await ensureSlot(this.pool, slotName);
        const createdTopics = await ensureCommitTopics(this.kafka, this.config);
        await this.sender.connect();
        return { createdPublication, slot, createdTopics };
      }, { maxBackoffMs: this.pipeline.reconnectMaxBackoffMs, logger: this.logger, signal: this.lifecycle.stopSignal, isPermanent: isPermanentSetupError });
      if (!setUp) return;
      const { createdPublication, slot, createdTopics } = setUp;
      this.consumer.resumeFrom(slot.position);
      // Stopped while connecting: stop() closes what there is.
      if (!(await this.consumer.start())) return;
      this.lifecycle.moveTo('running');
      this.statusTimer = setInterval(() => this.flush.resend(), statusIntervalMs);
      this.lagTimer = setInterval(() => void this.refreshLag(), lagRefreshIntervalMs);
      await this.refreshLag();
      this.logger.info(
        { slot: slotName, publication: publicationName, topic: commitsTopic, lsn: this.confirmedLsn, createdPublication, createdSlot: slot.created, createdTopics, role: this.role },
        'streaming commits',
      );
    } catch (error) {
      this.lifecycle.moveTo('stopped');
      await this.closeConnections();
      throw error;
    }
  }

  /** The flush position reported to PostgreSQL: every transaction that commits before it is on Kafka. */
  get confirmedLsn(): string {
    return this.flush.lsn;
  }

  /** Streaming, the producer connected, and not halted on a bad row. */
  isReady(): boolean {
    return this.lifecycle.receiving && this.consumer.isStreaming && this.sender.connected;
  }

  /** This instance streams the slot (the others stand by). */
  get role(): CdcRole {
    return this.consumer.role;
  }

  /** /readyz: ready when streaming (isReady), and also when standing by with the producer connected, ready to take over. */
  readiness(): Promise<CdcReadiness> {
    const standingBy = this.lifecycle.receiving && this.consumer.role === 'standby' && this.sender.connected;
    return Promise.resolve({
      ready: this.isReady() || standingBy,
      detail: {
        role: this.consumer.role,
        slotHeldBy: this.consumer.holderPid ?? null,
        streaming: this.consumer.isStreaming,
        producerConnected: this.sender.connected,
        confirmedLsn: this.confirmedLsn,
        receivedLsn: this.consumer.receivedLsn,
        bufferedEvents: this.flush.unsentRows,
        heldTransactions: this.flush.heldTransactions,
        failure: this.lifecycle.failure?.message ?? null,
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
    this.lifecycle.moveTo('draining');
    this.closing ??= this.stopGracefully();
    return this.closing;
  }

  /** A crash, for tests: drops everything buffered without publishing or acknowledging it, then disconnects. */
  abort(): Promise<void> {
    this.lifecycle.moveTo('aborting');
    this.closing ??= this.stopAbruptly();
    return this.closing;
  }

  private async stopGracefully(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await this.sender.sendRemaining();
    this.clearTimers();
    // An abort() meanwhile turns this into a crash: nothing more is confirmed.
    const confirmed = await this.consumer.close(!this.lifecycle.discarding);
    if (!confirmed) this.logger.warn({ lsn: this.confirmedLsn }, 'the slot did not confirm the final flush position; what is after its own comes again');
    await this.closeConnections();
    this.lifecycle.moveTo('stopped');
    this.logger.info({ lsn: this.confirmedLsn }, 'stopped');
  }

  private async stopAbruptly(): Promise<void> {
    this.clearTimers();
    await this.consumer.closeStream();
    await this.starting?.catch(() => undefined);
    await this.consumer.close(false);
    // An in-flight send is not waited for: whether it fails or completes, nothing more is acknowledged.
    await this.closeConnections();
    this.lifecycle.moveTo('stopped');
    this.logger.warn({ lsn: this.confirmedLsn }, 'aborted: buffered events dropped, to come again from the slot');
  }

  private clearTimers(): void {
    this.sender.cancelLinger();
    clearInterval(this.statusTimer);
    clearInterval(this.lagTimer);
    this.statusTimer = this.lagTimer = undefined;
  }

  /** Once, whether start() failed, stop() or abort() came first. */
  private closeConnections(): Promise<void> {
    this.connectionsClosed ??= (async () => {
      await this.sender.disconnect();
      await this.published.flush().catch((error: unknown) => this.logger.warn({ err: error }, 'could not record the last published versions (they come again at the next start)'));
      await this.pool.end().catch((error: unknown) => this.logger.warn({ err: error }, 'pool close failed'));
    })();
    return this.connectionsClosed;
  }

  private fail(error: unknown): void {
    const failure = this.lifecycle.fail(error);
    if (!failure) return;
    this.logger.error(
      { err: failure, lsn: this.confirmedLsn },
      'halted: nothing after the confirmed LSN is published or acknowledged until the cause is fixed',
    );
    this.reportFailure(failure);
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
