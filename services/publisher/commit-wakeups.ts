/**
 * The publisher's consumer group on the commits topic: each batch's commit
 * events name the tables to wake up (LogPublisher.wake); nothing in an
 * event is written anywhere, so a lost or replayed event costs at most a
 * sweep's delay or an empty pass. Events that are not valid
 * `deltameta.commit.v1` (or drop) events are skipped here: the
 * invalidator's group dead-letters them.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Config } from '../../shared/config/index.ts';
import { commitEventSchemaName, ensureCommitTopics, parsePipelineEvent, PoisonEventError } from '../../shared/contracts/index.ts';
import type { Logger } from '../../shared/logging/index.ts';

export class CommitWakeups {
  private readonly consumer: Consumer;
  private running = false;
  private crashed: Error | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: Config,
    groupId: string,
    private readonly onTables: (tableIds: number[]) => Promise<void>,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: config.pipeline.kafkaMaxWaitMs,
      minBytes: 1,
      sessionTimeout: 6_000,
      heartbeatInterval: 500,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.crashed = event.payload.error;
    });
  }

  async start(): Promise<void> {
    await ensureCommitTopics(this.kafka, this.config);
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.config.pipeline.commitsTopic, fromBeginning: true });
    await this.consumer.run({ autoCommit: true, partitionsConsumedConcurrently: 4, eachBatch: (payload) => this.handleBatch(payload) });
    this.running = true;
  }

  get consuming(): boolean {
    return this.running && !this.crashed;
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const tableIds = new Set<number>();
    let skipped = 0;
    for (const message of payload.batch.messages) {
      try {
        const event = parsePipelineEvent(message.value);
        if (event.schema === commitEventSchemaName) tableIds.add(event.tableId);
      } catch (error) {
        if (!(error instanceof PoisonEventError)) throw error;
        skipped++;
      }
    }
    if (skipped > 0) this.logger.debug({ partition: payload.batch.partition, skipped }, 'skipped events that are not commit events');
    // A wake-up that fails (PostgreSQL away) is not retried here: the next sweep finds what it would have.
    await this.onTables([...tableIds]).catch((error: unknown) => this.logger.warn({ err: error }, 'could not wake tables up (the next sweep will)'));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }
}
