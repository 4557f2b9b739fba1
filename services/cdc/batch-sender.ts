/**
 * Batch sending: the rows the flush position holds go to the commits topic
 * as commit events, one send in flight at a time, each send retried until
 * Kafka has it (never skipped); each acknowledged send is reported to the
 * flush position.
 *
 * A delta_commit row whose table is gone by the time its name is looked up
 * was dropped (`deltameta drop`; delta_table rows are deleted by nothing
 * else): it is not published, and the drop event that follows it in the
 * slot tells consumers. Halting on it would stop every table's events
 * behind one drop.
 */
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { PipelineConfig } from '../../shared/config/index.ts';
import { encodeCommitEvent, encodeDropEvent } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { CdcMetrics } from '../../shared/metrics/index.ts';
import { bigIntToLsn } from '../../shared/replication/index.ts';
import { withBackoff } from '../../shared/service/index.ts';
import { commitEventFromRow } from './commit-row.ts';
import { dropEventFromRow, isDropRow, type SlotRow } from './drop-row.ts';
import type { FlushPosition } from './flush-position.ts';
import type { PublisherLifecycle } from './publisher-state.ts';
import type { PublishedVersions } from './slot-gap.ts';
import { TableNames } from './table-names.ts';
import type { TakenBatch } from './transaction-queue.ts';

export interface BatchSenderOptions {
  readonly pipeline: PipelineConfig;
  readonly pool: Pool;
  readonly kafka: Kafka;
  readonly flush: FlushPosition;
  readonly lifecycle: PublisherLifecycle;
  readonly logger: Logger;
  readonly metrics: CdcMetrics;
  /** A batch was taken: fewer events are buffered (reading from the slot may resume). */
  readonly onTaken: () => void;
  /** A send failed in a way no retry fixes: a row that cannot become an event, or a bug. */
  readonly onFailure: (error: unknown) => void;
  /** Versions Kafka acknowledged (slot-gap.ts keeps them in PostgreSQL). */
  readonly published: PublishedVersions;
}

export class BatchSender {
  private readonly pipeline: PipelineConfig;
  private readonly flush: FlushPosition;
  private readonly lifecycle: PublisherLifecycle;
  private readonly tableNames: TableNames;
  private producer: Producer;
  private producerConnected = false;
  private sending: Promise<void> | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** the commits topic's partition count (read at the first send and after a failed one) */
  private partitions: number | undefined;
  /** while `publishFirst` runs: rows from the stream wait */
  private gated = false;

  constructor(private readonly options: BatchSenderOptions) {
    this.pipeline = options.pipeline;
    this.flush = options.flush;
    this.lifecycle = options.lifecycle;
    this.tableNames = new TableNames(options.pool);
    this.producer = this.createProducer();
  }

  get connected(): boolean {
    return this.producerConnected;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.producerConnected = true;
  }

  async disconnect(): Promise<void> {
    this.producerConnected = false;
    await this.producer.disconnect().catch((error: unknown) => this.options.logger.warn({ err: error }, 'Kafka producer disconnect failed'));
  }

  /**
   * kafkajs does no lingering of its own: a send goes when cdcBatchMaxEvents
   * are waiting, or cdcLingerMs after the first one. One send is in flight at
   * a time; what arrives meanwhile goes in the next send, right after.
   */
  scheduleSend(): void {
    if (this.gated || this.sending || this.flush.unsentRows === 0 || !this.lifecycle.maySend) return;
    if (this.flush.unsentRows >= this.pipeline.cdcBatchMaxEvents || this.pipeline.cdcLingerMs === 0 || this.lifecycle.stopping) {
      this.startSending();
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.startSending();
    }, this.pipeline.cdcLingerMs);
  }

  /**
   * Runs `work` with this sender's producer before any more of the stream's
   * rows are sent (they wait, as when Kafka is slow): the events it sends
   * precede them on every partition. Retried until it succeeds or the
   * lifecycle ends; rows already in flight finish first.
   */
  async publishFirst(work: (send: (messages: Message[]) => Promise<true>) => Promise<unknown>): Promise<void> {
    this.gated = true;
    this.cancelLinger();
    try {
      await this.sending;
      const retry = { maxBackoffMs: this.pipeline.reconnectMaxBackoffMs, logger: this.options.logger, signal: this.lifecycle.discardSignal };
      await withBackoff('publishing what the slot has not delivered', () => work((messages) => this.send(messages)).then(() => true), retry);
    } finally {
      this.gated = false;
      this.scheduleSend();
    }
  }

  /** For a graceful stop: sends what is buffered, send after send, until nothing is left or sending may not go on. */
  async sendRemaining(): Promise<void> {
    while (this.sending || (this.flush.unsentRows > 0 && this.lifecycle.maySend)) {
      if (!this.sending) this.startSending();
      await this.sending;
    }
  }

  cancelLinger(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
  }

  private startSending(): void {
    if (this.sending) return;
    this.cancelLinger();
    this.sending = this.drain()
      .catch((error: unknown) => this.options.onFailure(error))
      .finally(() => {
        this.sending = undefined;
        this.scheduleSend();
      });
  }

  private async drain(): Promise<void> {
    while (this.flush.unsentRows > 0 && this.lifecycle.maySend) {
      const batch = this.flush.takeBatch(this.pipeline.cdcBatchMaxEvents);
      this.options.onTaken();
      // Aborted meanwhile: this send is not acknowledged, whatever became of it.
      if (!(await this.publish(batch)) || this.lifecycle.discarding) return;
      this.flush.batchPublished(batch);
    }
  }

  private createProducer(): Producer {
    // acks -1 on every send; idempotence needs one request in flight, which also keeps per-partition order.
    return this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /** Publishes a batch, retrying until Kafka has it (never skipping it); false if aborted first. */
  private async publish(batch: TakenBatch<SlotRow>): Promise<boolean> {
    const retry = { maxBackoffMs: this.pipeline.reconnectMaxBackoffMs, logger: this.options.logger, signal: this.lifecycle.discardSignal };
    let stillExisting = new Set<number>();
    const loaded = await withBackoff('looking up table names', async () => {
      await this.tableNames.load(batch.rows.flatMap(({ row }) => (isDropRow(row) ? [] : [row.tableId])));
      stillExisting = await this.tableNames.existing(batch.rows.flatMap(({ row }) => (isDropRow(row) ? [row.tableId] : [])));
      return true;
    }, retry);
    if (!loaded) return false;
    const messages: Message[] = [];
    let drops = 0;
    for (const { row, commitEndLsn } of batch.rows) {
      if (isDropRow(row)) {
        if (stillExisting.has(row.tableId)) {
          this.options.metrics.dropMessagesRefusedTotal.inc();
          this.options.logger.warn(
            { table: row.table, tableId: row.tableId, lsn: bigIntToLsn(commitEndLsn) },
            'not published: a drop message for a table that still exists (not emitted by deltameta drop)',
          );
          continue;
        }
        this.tableNames.forget(row.tableId);
        const event = dropEventFromRow(row, commitEndLsn);
        messages.push({ key: event.table, value: encodeDropEvent(event) });
        drops++;
        continue;
      }
      const table = this.tableNames.get(row.tableId);
      if (table === undefined) {
        this.options.metrics.droppedTableRowsTotal.inc();
        this.options.logger.info({ tableId: row.tableId, version: row.version, lsn: bigIntToLsn(commitEndLsn) }, 'not published: the table was dropped');
        continue;
      }
      const event = commitEventFromRow(row, table, commitEndLsn);
      messages.push({ key: event.table, value: encodeCommitEvent(event) });
    }
    const done = new Set<number>();
    const sent = messages.length === 0 || (await withBackoff('publishing to Kafka', () => this.send(messages, done), retry));
    if (!sent) return false;
    this.options.published.note(batch.rows.flatMap(({ row }) => (isDropRow(row) ? [] : [{ tableId: row.tableId, version: row.version }])));
    this.options.metrics.eventsTotal.inc(messages.length - drops);
    this.options.metrics.dropEventsTotal.inc(drops);
    this.options.logger.debug({ events: messages.length, lsn: bigIntToLsn(batch.rows.at(-1)?.commitEndLsn ?? 0n) }, 'published');
    return true;
  }

  /**
   * One producer.send per partition, side by side. A single send whose
   * messages go to several brokers loses messages in kafkajs 2.2.4 when a
   * partition's leader moves, during the send, to a broker that already
   * answered for its own partitions: the retry skips brokers that answered,
   * and send() resolves without the moved partition's messages (kafkajs
   * #1303, PR #1798; found by the chaos suite killing a partition leader on a
   * three-broker cluster: two acknowledged events never reached the topic).
   * A send to one partition has one leader: its retry goes to the new one.
   * Partitions are chosen as the default partitioner would (murmur2 of the
   * key), so keys keep their partitions. Partitions acknowledged in an
   * earlier attempt of this batch (`done`) are not sent again.
   */
  private async send(messages: Message[], done = new Set<number>()): Promise<true> {
    if (!this.producerConnected) {
      // kafkajs gave up after its own retries: start over with a new producer (new producer id, fresh sequences).
      await this.producer.disconnect().catch(() => undefined);
      this.producer = this.createProducer();
      await this.producer.connect();
      this.producerConnected = true;
    }
    const topic = this.pipeline.commitsTopic;
    this.partitions ??= await this.partitionCount(topic);
    const byPartition = groupByPartition(topic, messages, this.partitions);
    const endTimer = this.options.metrics.publishDurationSeconds.startTimer();
    const results = await Promise.allSettled([...byPartition].filter(([partition]) => !done.has(partition)).map(async ([partition, group]) => {
      await this.producer.send({ topic, acks: -1, messages: group });
      done.add(partition);
    }));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) {
      this.producerConnected = false;
      // The topic may have grown: read its partitions again before the retry.
      this.partitions = undefined;
      throw failed.reason;
    }
    endTimer();
    return true;
  }

  private async partitionCount(topic: string): Promise<number> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const count = topics[0]?.partitions.length ?? 0;
      if (count === 0) throw new Error(`topic ${topic} has no partitions in the metadata yet`);
      return count;
    } finally {
      await admin.disconnect();
    }
  }
}

const keyPartitioner = Partitioners.DefaultPartitioner();

/** The messages by the partition the default partitioner gives their key, in order, each with its partition set. */
function groupByPartition(topic: string, messages: readonly Message[], partitions: number): Map<number, Message[]> {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
  const groups = new Map<number, Message[]>();
  for (const message of messages) {
    const partition = keyPartitioner({ topic, partitionMetadata, message });
    const group = groups.get(partition);
    if (group) group.push({ ...message, partition });
    else groups.set(partition, [{ ...message, partition }]);
  }
  return groups;
}
