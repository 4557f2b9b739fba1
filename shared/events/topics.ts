import type { Kafka } from 'kafkajs';
import type { Config } from '../config/index.ts';

/**
 * Creates the commits topic and its dead-letter topic when missing (both the
 * CDC and the invalidator call it, so either may start first). Idempotent:
 * a topic that exists, or that another process creates at the same moment,
 * is fine.
 */
export async function ensureCommitTopics(kafka: Kafka, config: Config): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [
      { topic: config.pipeline.commitsTopic, numPartitions: config.pipeline.commitsTopicPartitions },
      { topic: config.pipeline.deadLetterTopic, numPartitions: 1 },
    ].filter(({ topic }) => !existing.has(topic));
    const created: string[] = [];
    for (const spec of wanted) {
      try {
        if (await admin.createTopics({ topics: [spec], waitForLeaders: true })) created.push(spec.topic);
      } catch (error) {
        // TOPIC_ALREADY_EXISTS from a concurrent creator is success.
        if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
      }
    }
    return created;
  } finally {
    await admin.disconnect();
  }
}
