import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../config/index.ts';
import { TimedOutError } from '../errors/index.ts';

/** How long a fresh broker may take to report a just-created topic with leaders. */
const settleTimeoutMs = 60_000;

function isRetriable(error: unknown): boolean {
  const kafkaError = error as { retriable?: boolean; type?: string };
  return kafkaError.retriable === true || kafkaError.type === 'UNKNOWN_TOPIC_OR_PARTITION' || kafkaError.type === 'LEADER_NOT_AVAILABLE';
}

/** Every partition of every topic has a leader (the metadata a producer or consumer will ask for). */
async function haveLeaders(admin: Admin, topics: readonly string[]): Promise<boolean> {
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
  return metadata.length === topics.length && metadata.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0));
}

/**
 * Creates the commits topic and its dead-letter topic when missing (both the
 * CDC and the invalidator call it, so either may start first). Idempotent:
 * a topic that exists, or that another process creates at the same moment,
 * is fine. Returns once both have leaders. A broker that has only just
 * started (KRaft) may answer the creation's leader wait with
 * UNKNOWN_TOPIC_OR_PARTITION while its metadata catches up: retriable
 * errors are retried until `settleTimeoutMs`, not thrown at the service's start.
 */
export async function ensureCommitTopics(kafka: Kafka, config: Config): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  const specs = [
    { topic: config.pipeline.commitsTopic, numPartitions: config.pipeline.commitsTopicPartitions },
    { topic: config.pipeline.deadLetterTopic, numPartitions: 1 },
  ];
  const created: string[] = [];
  const deadline = Date.now() + settleTimeoutMs;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const existing = new Set(await admin.listTopics());
        for (const spec of specs.filter(({ topic }) => !existing.has(topic))) {
          try {
            if (await admin.createTopics({ topics: [spec], waitForLeaders: true })) created.push(spec.topic);
          } catch (error) {
            // TOPIC_ALREADY_EXISTS from a concurrent creator is success.
            if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
          }
        }
        if (await haveLeaders(admin, specs.map(({ topic }) => topic))) return created;
      } catch (error) {
        if (!isRetriable(error) || Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new TimedOutError(`topics ${specs.map(({ topic }) => topic).join(', ')} have no leaders after ${settleTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * attempt)));
    }
  } finally {
    await admin.disconnect();
  }
}
