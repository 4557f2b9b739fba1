import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../config/index.ts';
import { TimedOutError } from '../errors/index.ts';

/** How long a fresh broker may take to report a just-created topic with leaders. */
const settleTimeoutMs = 60_000;
/** How long fewer brokers than configured (DELTAMETA_KAFKA_BROKERS, or the local cluster's nodes) are taken for a view still filling in. */
const fullViewTimeoutMs = 10_000;

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
 * Replication of the topics deltameta creates: 3 copies when 3 brokers live
 * (a write with acks=all then needs 2 in sync: one broker may be down
 * without a write being refused or acknowledged by one copy alone);
 * otherwise as many as live, with min.insync.replicas 1 said explicitly, as a
 * cluster's broker default may be 2.
 */
function commitTopicReplication(liveBrokers: number): { replicationFactor: number; configEntries: { name: string; value: string }[] } {
  const replicationFactor = Math.max(1, Math.min(3, liveBrokers));
  return { replicationFactor, configEntries: [{ name: 'min.insync.replicas', value: replicationFactor === 3 ? '2' : '1' }] };
}

/**
 * Creates the commits topic and its dead-letter topic when missing (both the
 * CDC and the invalidator call it, so either may start first), replicated
 * as `commitTopicReplication` says for the brokers live at that moment
 * (fewer than the configured bootstrap brokers are waited on for up to
 * `fullViewTimeoutMs`: a node down at creation costs a replica for good). Idempotent:
 * a topic that exists, or that another process creates at the same moment,
 * is fine. Returns once both have leaders. A broker that has only just
 * started (KRaft) may answer the creation's leader wait with
 * UNKNOWN_TOPIC_OR_PARTITION while its metadata catches up: retriable
 * errors are retried until `settleTimeoutMs`, not thrown at the service's start.
 */
export async function ensureCommitTopics(kafka: Kafka, config: Config): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  const topics = [config.pipeline.commitsTopic, config.pipeline.deadLetterTopic];
  const created: string[] = [];
  const deadline = Date.now() + settleTimeoutMs;
  const fullViewDeadline = Date.now() + fullViewTimeoutMs;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const existing = new Set(await admin.listTopics());
        if (topics.some((topic) => !existing.has(topic))) {
          const live = (await admin.describeCluster()).brokers.length;
          if (live < Math.min(3, config.kafkaBrokers.length) && Date.now() < fullViewDeadline) {
            // A cluster just started (or a node just back) may be listed partially for a moment: a topic's replication is for good.
            await new Promise((resolve) => setTimeout(resolve, 250));
            continue;
          }
          const replication = commitTopicReplication(live);
          const specs = [
            { topic: config.pipeline.commitsTopic, numPartitions: config.pipeline.commitsTopicPartitions, ...replication },
            { topic: config.pipeline.deadLetterTopic, numPartitions: 1, ...replication },
          ];
          for (const spec of specs.filter(({ topic }) => !existing.has(topic))) {
            try {
              if (await admin.createTopics({ topics: [spec], waitForLeaders: true })) created.push(spec.topic);
            } catch (error) {
              // TOPIC_ALREADY_EXISTS from a concurrent creator is success.
              if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
            }
          }
        }
        if (await haveLeaders(admin, topics)) return created;
      } catch (error) {
        if (!isRetriable(error) || Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new TimedOutError(`topics ${topics.join(', ')} have no leaders after ${settleTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * attempt)));
    }
  } finally {
    await admin.disconnect();
  }
}
