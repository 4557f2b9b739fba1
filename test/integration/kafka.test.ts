/** kafkajs against the real KRaft broker: idempotent producer → consumer group, offsets committed. */
import { expect } from 'chai';
import { Partitioners, type EachMessagePayload } from 'kafkajs';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

describeWithEnv('kafka round trip', (env) => {
  it('delivers keyed messages in per-key order to a consumer group and records its offsets', async function () {
    const kafka = env.kafka();
    const topic = env.topic('commits');
    const groupId = `${env.id}-group`;
    const admin = kafka.admin();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50 });
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).to.equal(true);
      await producer.connect();
      const sent = Array.from({ length: 30 }, (_, index) => ({ key: `table-${index % 5}`, value: JSON.stringify({ version: Math.floor(index / 5) }) }));
      // acks -1 (all in-sync replicas) is what the idempotent producer requires and what CDC relies on.
      const metadata = await producer.send({ topic, acks: -1, messages: sent });
      expect(metadata.every((record) => record.errorCode === 0)).to.equal(true);

      const received: Array<{ key: string; version: number; partition: number }> = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message, partition }: EachMessagePayload) => {
          const { version } = JSON.parse(message.value?.toString() ?? '{}') as { version: number };
          received.push({ key: message.key?.toString() ?? '', version, partition });
          await Promise.resolve();
        },
      });
      await eventually('all 30 messages', () => received.length === 30);
      for (let table = 0; table < 5; table++) {
        const versions = received.filter((message) => message.key === `table-${table}`);
        expect(versions.map((message) => message.version)).to.deep.equal([0, 1, 2, 3, 4, 5]);
        expect(new Set(versions.map((message) => message.partition)).size, 'one key, one partition').to.equal(1);
      }
      // The group commits after each processed batch; the last commit may still be on its way.
      await eventually('the group to commit all 30 offsets', async () => {
        const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
        return offsets[0]?.partitions.reduce((sum, partition) => sum + Math.max(0, Number(partition.offset)), 0) === 30;
      });
      await consumer.stop();
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
