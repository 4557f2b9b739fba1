/**
 * The invalidator: a Kafka consumer group on the commits topic. Per event it
 * moves the table's head pointer forward (atomic, monotonic, announced on
 * pub/sub) and enqueues a refresh job deduplicated per table. Offsets are
 * resolved only after both succeeded, so a crash replays events, which are
 * idempotent on (table, version). An event that cannot be parsed goes to
 * the dead-letter topic and is counted; it never stops the group.
 *
 * A `deltameta.drop.v1` event (the table was dropped) deletes the head
 * pointer and enqueues nothing; commit events of the table before it in the
 * same batch are moot, a commit event after it is a new table of that name.
 */
import { Partitioners, type Batch, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { Config } from '../../shared/config/index.ts';
import {
  dropEventSchemaName, ensureCommitTopics, HeadPointers, parsePipelineEvent, PoisonEventError, refreshJobName, refreshJobOptions,
  type CommitEvent, type DropEvent, type RefreshJobData,
} from '../../shared/contracts/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { InvalidatorMetrics } from '../../shared/metrics/index.ts';

/** The clients main.ts builds (and closes after stop()); the consumer and producer are the invalidator's own. */
export interface InvalidatorDeps {
  readonly kafka: Kafka;
  readonly redis: Redis;
  readonly refreshQueue: Queue<RefreshJobData>;
  readonly logger: Logger;
  readonly metrics: InvalidatorMetrics;
}

export class CommitInvalidator {
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly redis: Redis;
  private readonly heads: HeadPointers;
  private readonly queue: Queue<RefreshJobData>;
  private running = false;
  private crashed: Error | undefined;

  constructor(private readonly config: Config, private readonly deps: InvalidatorDeps) {
    this.kafka = deps.kafka;
    this.consumer = this.kafka.consumer({
      groupId: config.pipeline.consumerGroup,
      // kafkajs waits up to 5 s for data by default: commit→visible needs milliseconds.
      maxWaitTimeInMs: config.pipeline.kafkaMaxWaitMs,
      minBytes: 1,
      // A crashed member's partitions wait this long for reassignment, so it
      // bounds commit→visible after a crash: the broker's minimum (6 s).
      sessionTimeout: 6_000,
      heartbeatInterval: 500,
      // Restarting after any crash (Kafka, Redis, this process) is kafkajs' job; never give up.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
    });
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.redis = deps.redis;
    this.heads = new HeadPointers(this.redis, config.pipeline.redisPrefix);
    this.queue = deps.refreshQueue;
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const error = event.payload.error;
      this.deps.logger.error({ err: error, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.crashed = error;
    });
  }

  async start(): Promise<void> {
    await ensureCommitTopics(this.kafka, this.config);
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.config.pipeline.commitsTopic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.running = true;
  }

  /** Ready: consuming, and Redis answers. */
  async readiness(): Promise<{ ready: boolean; detail: Record<string, unknown> }> {
    const redisOk = await this.redis.ping().then(() => true, () => false);
    const ready = this.running && !this.crashed && redisOk;
    return { ready, detail: { consuming: this.running, redis: redisOk, crashed: this.crashed?.message ?? null } };
  }

  /**
   * Handles a batch: poison messages to the dead-letter topic, then per
   * table only the newest version matters (one head move, one job); offsets
   * are resolved once that work is done.
   */
  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const newest = new Map<string, { drop?: DropEvent; commit?: CommitEvent }>();
    const poison: Array<{ message: KafkaMessage; error: PoisonEventError }> = [];
    for (const message of batch.messages) {
      try {
        const event = parsePipelineEvent(message.value);
        const known = newest.get(event.table) ?? {};
        // In partition order: a drop supersedes the table's earlier commits; a later commit is of a new table.
        if (event.schema === dropEventSchemaName) newest.set(event.table, { drop: event });
        else if (!known.commit || event.version > known.commit.version || known.drop) newest.set(event.table, { ...known, commit: event });
      } catch (error) {
        if (!(error instanceof PoisonEventError)) throw error;
        poison.push({ message, error });
      }
    }
    if (poison.length > 0) await this.deadLetter(batch, poison);
    // A table's drop before its commit (a commit after a drop is a new table of that name): all drops first.
    const tables = [...newest.values()];
    await Promise.all(tables.flatMap(({ drop }) => (drop ? [this.applyDrop(drop)] : [])));
    await this.apply(tables.flatMap(({ commit }) => (commit ? [commit] : [])));
    if (!payload.isRunning() || payload.isStale()) return;
    const last = batch.messages.at(-1);
    if (last) payload.resolveOffset(last.offset);
    await payload.heartbeat();
  }

  /** The batch's newest commit per table: head moves in one Redis pipeline, refresh jobs in one bulk add. */
  private async apply(events: readonly CommitEvent[]): Promise<void> {
    if (events.length === 0) return;
    const moved = await this.heads.advanceMany(events);
    const now = Date.now();
    events.forEach((event, index) => {
      if (moved[index]) {
        this.deps.metrics.headMovesTotal.inc();
        this.deps.metrics.commitToVisibleSeconds.observe(Math.max(0, now - Date.parse(event.committedAt)) / 1000);
      } else {
        this.deps.metrics.staleEventsTotal.inc();
      }
    });
    // Enqueued even for a stale event: it is cheap (deduplicated), and after a
    // crash between the head move and the enqueue the replayed event is what
    // gets the refresh going.
    await this.queue.addBulk(events.map((event) => ({
      name: refreshJobName,
      data: { table: event.table, tableId: event.tableId, version: event.version, committedAt: event.committedAt },
      opts: refreshJobOptions(event.table),
    })));
  }

  /** Idempotent: a replayed drop deletes nothing. Summaries are keyed by version and expire (redis-keys.ts); `deltameta drop` deletes them. */
  private async applyDrop(event: DropEvent): Promise<void> {
    await this.heads.forget(event.table, event.tableId);
    this.deps.metrics.tablesDroppedTotal.inc();
    this.deps.logger.info({ table: event.table, tableId: event.tableId, lsn: event.lsn }, 'table dropped: head pointer deleted, readers told');
  }

  private async deadLetter(batch: Batch, poison: Array<{ message: KafkaMessage; error: PoisonEventError }>): Promise<void> {
    await this.producer.send({
      topic: this.config.pipeline.deadLetterTopic,
      acks: -1,
      messages: poison.map(({ message, error }) => ({
        key: message.key,
        value: message.value,
        headers: {
          'deltameta-error': error.message,
          'deltameta-source': `${batch.topic}/${batch.partition}/${message.offset}`,
        },
      })),
    });
    this.deps.metrics.deadLetteredTotal.inc(poison.length);
    for (const { message, error } of poison) {
      this.deps.logger.warn({ partition: batch.partition, offset: message.offset, reason: error.message }, 'dead-lettered an event');
    }
  }

  /** Stops consuming (the in-flight batch finishes and its offsets are committed), then disconnects its consumer and producer. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }
}
