/**
 * What the CDC suites (test/integration/cdc.test.ts, cdc-slot-loss.test.ts)
 * share: configs with a slot, publication and topics of their own on the
 * suite's database, in-process publishers and topic readers, all released
 * after each test (publishers aborted, consumers disconnected) and the
 * slots dropped at the end.
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { CommitPublisher } from '../../services/cdc/index.ts';
import type { Config, PipelineConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { cdcMetrics, createRegistry, type CdcMetrics } from '../../shared/metrics/index.ts';
import type { TestEnv } from './env.ts';
import { eventually } from './wait.ts';

export class CdcSuite {
  readonly publishers: CommitPublisher[] = [];
  readonly slots: string[] = [];
  private readonly consumers: Consumer[] = [];
  private readonly logger = createLogger('cdc', 'silent');
  private counter = 0;

  constructor(private readonly env: TestEnv) {}

  /** A config with its own slot, publication and topics (the suite's database). */
  isolatedConfig(overrides: Partial<PipelineConfig> = {}): Config {
    const n = ++this.counter;
    const slotName = `s_${this.env.id}_${n}`.toLowerCase().slice(0, 63);
    this.slots.push(slotName);
    return {
      ...this.env.config,
      pipeline: {
        ...this.env.config.pipeline,
        slotName,
        publicationName: `p_${this.env.id}_${n}`.toLowerCase().slice(0, 63),
        commitsTopic: this.env.topic(`commits-${n}`),
        deadLetterTopic: this.env.topic(`dlq-${n}`),
        ...overrides,
      },
    };
  }

  async startPublisher(config: Config, kafka: Kafka = this.env.kafka()): Promise<{ publisher: CommitPublisher; metrics: CdcMetrics }> {
    const metrics = cdcMetrics(createRegistry('cdc'));
    const publisher = new CommitPublisher(config, { logger: this.logger, metrics, kafka });
    this.publishers.push(publisher);
    await publisher.start();
    return { publisher, metrics };
  }

  /** Everything on a topic from the beginning, as it arrives, each message as `read` makes it. */
  async readTopic<T>(topic: string, read: (message: KafkaMessage, partition: number) => T): Promise<T[]> {
    const consumer = this.env.kafka().consumer({ groupId: `${topic}-reader`, maxWaitTimeInMs: 20 });
    this.consumers.push(consumer);
    const received: T[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message, partition }) => {
        received.push(read(message, partition));
        return Promise.resolve();
      },
    });
    return received;
  }

  /** How many events the broker holds on `topic` (no consumer group to join: seen as soon as they are acknowledged). */
  async messagesOnTopic(topic: string): Promise<number> {
    const admin = this.env.kafka().admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
    } finally {
      await admin.disconnect();
    }
  }

  /** After each test: its publishers aborted, its topic readers gone. */
  async release(): Promise<void> {
    await Promise.all(this.publishers.splice(0).map((publisher) => publisher.abort()));
    await Promise.all(this.consumers.splice(0).map((consumer) => consumer.disconnect()));
  }

  /** Every slot made so far dropped, once their walsenders have let them go. */
  async dropSlots(pool: Pool): Promise<void> {
    await eventually('the test slots to be released', async () => {
      const { rows } = await pool.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = ANY($1)', [this.slots]);
      return rows.every((row) => !row.active);
    });
    await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1)', [this.slots]);
  }
}
