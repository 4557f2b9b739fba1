/**
 * What reached Kafka: a consumer of the run's commits topic (its own group,
 * from the beginning) that records, per table key, every commit event's
 * version in the order it arrived. Kafka going away crashes a kafkajs
 * consumer now and then without a restart of its own: it is recreated.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { parsePipelineEvent } from '../contracts/index.ts';

export class EventRecorder {
  /** per table, versions in arrival order (duplicates included) */
  readonly versions = new Map<string, number[]>();
  events = 0;
  private consumer: Consumer | undefined;
  private stopped = false;

  constructor(private readonly kafka: Kafka, private readonly topic: string, private readonly groupId: string) {}

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: this.groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, retry: { retries: 50, maxRetryTime: 2000 } });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart || this.stopped) return;
      void consumer.disconnect().catch(() => undefined).then(async () => {
        if (this.stopped) return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await this.start().catch(() => undefined);
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const event = message.value ? safeParse(message.value.toString('utf8')) : undefined;
        if (event && 'version' in event) {
          const list = this.versions.get(event.table) ?? [];
          list.push(event.version);
          this.versions.set(event.table, list);
          this.events++;
        }
        return Promise.resolve();
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer?.disconnect().catch(() => undefined);
  }
}

function safeParse(text: string): ReturnType<typeof parsePipelineEvent> | undefined {
  try {
    return parsePipelineEvent(text);
  } catch {
    return undefined;
  }
}

/**
 * Violations of "every committed version reached Kafka, in version order per
 * key after deduplication" for one table whose log holds versions 0..head.
 */
export function eventViolations(table: string, arrived: readonly number[], head: number): string[] {
  const problems: string[] = [];
  const seen = new Set<number>();
  let last = -1;
  for (const version of arrived) {
    if (seen.has(version)) continue;
    seen.add(version);
    if (version < last) problems.push(`${table}: event for v${version} arrived after v${last} (first time)`);
    last = Math.max(last, version);
  }
  const missing: number[] = [];
  for (let version = 0; version <= head; version++) if (!seen.has(version)) missing.push(version);
  if (missing.length > 0) problems.push(`${table}: no event for ${missing.length} committed versions (${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''})`);
  return problems;
}
