/**
 * ensureCommitTopics on a broker that has only just started. The race it
 * rides out — a KRaft broker answering the leader wait after CreateTopics
 * with UNKNOWN_TOPIC_OR_PARTITION while its metadata catches up, seen on a
 * fresh CI machine — cannot be produced on demand against the real broker,
 * so a stand-in admin client (the only mock here, and the reason for it)
 * replays that sequence. The real broker path runs in every integration
 * suite, each of which creates its own topics.
 */
import { expect } from 'chai';
import type { Kafka } from 'kafkajs';
import { loadConfig } from '../../shared/config/index.ts';
import { ensureCommitTopics } from '../../shared/contracts/index.ts';

interface Script {
  createErrors: Array<Record<string, unknown>>;
  leaderlessMetadataCalls: number;
}

function standInKafka(script: Script): { kafka: Kafka; calls: string[] } {
  const topics = new Set<string>();
  const calls: string[] = [];
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => {
      calls.push('disconnect');
      return Promise.resolve();
    },
    listTopics: () => Promise.resolve([...topics]),
    // One live broker, as the local stack has (replication 1).
    describeCluster: () => Promise.resolve({ brokers: [{ nodeId: 1, host: '127.0.0.1', port: 9092 }], controller: 1, clusterId: 'stand-in' }),
    createTopics: ({ topics: specs }: { topics: Array<{ topic: string }> }) => {
      calls.push(`create ${specs.map((spec) => spec.topic).join(',')}`);
      for (const spec of specs) topics.add(spec.topic);
      const error = script.createErrors.shift();
      return error ? Promise.reject(Object.assign(new Error(String(error['type'])), error)) : Promise.resolve(true);
    },
    fetchTopicMetadata: ({ topics: names }: { topics: string[] }) => {
      calls.push('metadata');
      const leader = script.leaderlessMetadataCalls-- > 0 ? -1 : 1;
      return Promise.resolve({ topics: names.map((name) => ({ name, partitions: [{ partitionId: 0, leader }] })) });
    },
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, calls };
}

describe('commit topics on a fresh broker', function () {
  const config = loadConfig({ DELTAMETA_COMMITS_TOPIC: 'c', DELTAMETA_DEAD_LETTER_TOPIC: 'd' });

  it('retries a retriable error from the leader wait and returns once both topics have leaders', async function () {
    const { kafka, calls } = standInKafka({ createErrors: [{ type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true }], leaderlessMetadataCalls: 1 });
    const created = await ensureCommitTopics(kafka, config);
    // The first creation threw after creating c; the retry finds c, creates d, then waits for leaders.
    expect(created).to.deep.equal(['d']);
    expect(calls).to.deep.equal(['create c', 'create d', 'metadata', 'metadata', 'disconnect']);
  });

  it('throws a non-retriable error at once, and closes its admin client', async function () {
    const { kafka, calls } = standInKafka({ createErrors: [{ type: 'INVALID_REPLICATION_FACTOR', retriable: false }], leaderlessMetadataCalls: 0 });
    const error = await ensureCommitTopics(kafka, config).then(() => undefined, (caught: unknown) => caught as { type?: string });
    expect(error?.type).to.equal('INVALID_REPLICATION_FACTOR');
    expect(calls).to.deep.equal(['create c', 'disconnect']);
  });

  it('treats a concurrent creator as success', async function () {
    const { kafka } = standInKafka({ createErrors: [{ type: 'TOPIC_ALREADY_EXISTS', retriable: false }], leaderlessMetadataCalls: 0 });
    expect(await ensureCommitTopics(kafka, config)).to.deep.equal(['d']);
  });
});
