/**
 * `stack up --kafka-brokers 3`: a three-node KRaft cluster of its own (a
 * temporary stack folder, free ports away from the default stack's), the
 * commits topic replicated 3 times with min.insync.replicas 2, an acks=-1
 * producer and a consumer group carrying on across SIGKILL of the
 * partition leader and of the active controller, and a write refused when
 * two nodes are down rather than acknowledged by one copy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigResourceTypes, Partitioners, type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import { createKafka } from '../../shared/clients/index.ts';
import { loadConfig, type Config, type Env } from '../../shared/config/index.ts';
import { ensureCommitTopics } from '../../shared/contracts/index.ts';
import {
  formatStatus, kafkaController, kafkaNodes, killKafkaNode, partitionLeader, stackDown, stackStatus, stackUp, startKafkaNode,
} from '../../shared/stack/index.ts';
import { eventually } from '../support/wait.ts';

/** Six consecutive free ports (3 brokers, 3 controllers) below the ephemeral range, so no client socket takes one meanwhile. */
async function freePortBlock(): Promise<number> {
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const server = net.createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 5000);
    let all = true;
    for (let port = base; port < base + 6 && all; port++) all = await free(port);
    if (all) return base;
  }
  throw new Error('no block of 6 free ports');
}

/** The error's `type`s down its chain (kafkajs wraps the broker's error in KafkaJSNumberOfRetriesExceeded). */
function errorTypes(error: unknown): string[] {
  const types: string[] = [];
  let current = error as { type?: string; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current.type !== undefined) types.push(current.type);
    current = (current.cause ?? current.originalError) as typeof current;
  }
  return types;
}

describe('kafka cluster (stack up --kafka-brokers 3)', function () {
  this.timeout(180_000);
  let stackDir: string;
  let env: Env;
  let config: Config;
  let kafka: Kafka;
  let admin: Admin;

  /** Partitions of a topic whose in-sync replicas are not all three. */
  async function underReplicated(topic: string): Promise<number[]> {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return (topics[0]?.partitions ?? []).filter((partition) => partition.isr.length !== 3).map((partition) => partition.partitionId);
  }

  before(async function () {
    stackDir = mkdtempSync(path.join(os.tmpdir(), 'deltameta-kafka-cluster-'));
    const base = await freePortBlock();
    env = { ...process.env, DELTAMETA_STACK_DIR: stackDir, DELTAMETA_KAFKA_PORT: String(base), DELTAMETA_KAFKA_CONTROLLER_PORT: String(base + 1), DELTAMETA_KAFKA_BROKERS: undefined };
    const started = Date.now();
    config = loadConfig(env); // for `after`, should the start fail half-way
    await stackUp(config, ['kafka'], { kafkaBrokers: 3 });
    console.log(`      3-node cluster on ports ${base}..${base + 5} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Read after the start: the clients' default brokers follow the recorded cluster.
    config = loadConfig(env);
    kafka = createKafka({ clientId: 'deltameta-test-cluster', brokers: config.kafkaBrokers });
    admin = kafka.admin();
    await admin.connect();
  });

  after(async function () {
    await admin?.disconnect();
    if (config !== undefined) {
      // SIGTERM (controlled shutdown) of all three; whatever still runs after that is killed outright.
      await stackDown(config, ['kafka']).catch(() => undefined);
      for (const node of kafkaNodes(config)) await killKafkaNode(config, node.nodeId);
    }
    if (stackDir !== undefined) rmSync(stackDir, { recursive: true, force: true });
  });

  it('runs three brokers, recorded in the stack folder for later commands and the clients\' default broker list', async function () {
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((broker) => broker.nodeId).sort()).to.deep.equal([1, 2, 3]);
    expect(config.kafkaBrokers).to.deep.equal(kafkaNodes(config).map((node) => node.address));
    expect(config.kafkaBrokers).to.have.length(3);
    const [status] = await stackStatus(config, ['kafka']);
    expect(status?.state).to.equal('running');
    expect(status?.nodes?.map((node) => node.state)).to.deep.equal(['running', 'running', 'running']);
    const controller = kafkaController(config);
    expect(controller).to.be.oneOf([1, 2, 3]);
    expect(formatStatus(status ? [status] : [])).to.match(new RegExp(`kafka node ${controller}\\s.*\\(active\\)`));
    // Without the flag, up follows the recorded cluster (and changes nothing); asking for another size is refused.
    const [again] = await stackUp(config, ['kafka']);
    expect(again?.nodes?.map((node) => node.pid)).to.deep.equal(status?.nodes?.map((node) => node.pid));
    let refusal: unknown;
    await stackUp(config, ['kafka'], { kafkaBrokers: 1 }).catch((error: unknown) => (refusal = error));
    expect(String(refusal)).to.contain('belongs to a 3-node cluster').and.contain('stack down kafka');
  });

  it('creates the commits and dead-letter topics with 3 replicas and min.insync.replicas 2', async function () {
    await ensureCommitTopics(kafka, config);
    const topics = [config.pipeline.commitsTopic, config.pipeline.deadLetterTopic];
    // Every broker knows the topics once they have leaders on one: asked of any of them, metadata may lag a moment.
    const { topics: metadata } = await eventually('the topics\' metadata', () => admin.fetchTopicMetadata({ topics }).catch(() => undefined), 30_000);
    expect(topics.map((name) => metadata.find((topic) => topic.name === name)?.partitions.length)).to.deep.equal([config.pipeline.commitsTopicPartitions, 1]);
    for (const topic of metadata) for (const partition of topic.partitions) expect(partition.replicas, `${topic.name}/${partition.partitionId}`).to.have.length(3);
    const described = await eventually('the topics\' configuration', () => admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
    }).catch(() => undefined), 30_000);
    expect(topics.map((name) => described.resources.find((resource) => resource.resourceName === name)?.configEntries.find((entry) => entry.configName === 'min.insync.replicas')?.configValue)).to.deep.equal(['2', '2']);
  });

  it('keeps producing (acks -1) and consuming across SIGKILL of the partition leader and of the active controller; each comes back', async function () {
    const topic = config.pipeline.commitsTopic;
    await ensureCommitTopics(kafka, config);
    // As the CDC's producer: idempotent, one request in flight, acks -1 on every send, a failed send retried until Kafka has it.
    const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    // A consumer whose group coordinator dies retries that broker until kafkajs gives up (~7 s), then restarts and rejoins
    // as a new member: the group waits out the old member's session timeout (kafkajs' default 30 s: 25-35 s without reads, measured).
    const consumer: Consumer = kafka.consumer({ groupId: 'deltameta-test-cluster', maxWaitTimeInMs: 50, sessionTimeout: 6000, heartbeatInterval: 500 });
    const acked: number[] = [];
    const seen = new Set<number>();
    const failures: string[] = [];
    let producing = true;
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { seen.add(Number(message.value?.toString())); await Promise.resolve(); } });
    const loop = (async () => {
      for (let next = 0; producing;) {
        try {
          await producer.send({ topic, acks: -1, messages: [{ key: `table-${next % 16}`, value: String(next) }] });
          acked.push(next++);
        } catch (error) {
          failures.push(errorTypes(error).join('/') || String(error));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    })();
    /** More writes acknowledged after this point, and the consumer has read every acknowledged one. */
    const progress = async (what: string): Promise<void> => {
      const from = acked.length;
      await eventually(`${what}: 30 more writes acknowledged and all read`, () => acked.length >= from + 30 && acked.every((value) => seen.has(value)), 60_000);
    };
    /** Kills a node, sees the cluster carry on without it, restarts it and waits for every partition's ISR to be 3 again. */
    const survive = async (nodeId: number, role: string, whileDown?: () => Promise<void>): Promise<void> => {
      const started = Date.now();
      await killKafkaNode(config, nodeId, 'SIGKILL');
      expect(kafkaNodes(config).find((node) => node.nodeId === nodeId)?.running).to.equal(false);
      await whileDown?.();
      await progress(`node ${nodeId} (${role}) killed`);
      const carriedOn = Date.now() - started;
      await startKafkaNode(config, nodeId);
      expect((await admin.describeCluster()).brokers.map((broker) => broker.nodeId).sort()).to.deep.equal([1, 2, 3]);
      await eventually(`node ${nodeId} back in every ISR`, async () => (await underReplicated(topic)).length === 0, 60_000);
      console.log(`      ${role} (node ${nodeId}) killed: writes carried on in ${(carriedOn / 1000).toFixed(1)} s, back in every ISR after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    };
    try {
      await progress('warm-up');
      const leader = await partitionLeader(config, topic, 0);
      expect(leader).to.be.oneOf([1, 2, 3]);
      await survive(leader, 'leader of partition 0');
      expect(await partitionLeader(config, topic, 0)).to.be.oneOf([1, 2, 3]);

      const controller = kafkaController(config);
      expect(controller).to.be.oneOf([1, 2, 3]);
      await survive(controller ?? 0, 'active controller', async () => {
        const elected = await eventually('a new active controller', () => kafkaController(config), 30_000);
        expect(elected).to.not.equal(controller);
      });
      await eventually('every acknowledged write read', () => acked.every((value) => seen.has(value)), 30_000);
    } finally {
      producing = false;
      await loop;
      await producer.disconnect();
      await consumer.disconnect();
    }
    console.log(`      ${acked.length} writes acknowledged and read; ${failures.length} sends retried (${[...new Set(failures)].join(', ')})`);
  });

  it('refuses a write with NOT_ENOUGH_REPLICAS when two nodes are down, and takes it again once they are back', async function () {
    const topic = config.pipeline.commitsTopic;
    await ensureCommitTopics(kafka, config);
    const controller = kafkaController(config);
    expect(controller).to.be.oneOf([1, 2, 3]);
    const survivor = kafkaNodes(config).find((node) => node.nodeId === controller);
    const alone = createKafka({ clientId: 'deltameta-test-cluster-alone', brokers: [survivor?.address ?? ''], requestTimeoutMs: 10_000, retry: { retries: 1, initialRetryTime: 100 } });
    // Connected before, as the CDC's producer is: a new idempotent producer needs a producer id, which the lost quorum cannot give.
    const producer = alone.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    // Stopped while the quorum stands (the controller stays), so their leaving every ISR is committed before the second goes.
    const stopped = [1, 2, 3].filter((nodeId) => nodeId !== controller);
    for (const nodeId of stopped) await killKafkaNode(config, nodeId, 'SIGTERM');
    let refused: unknown;
    try {
      await producer.send({ topic, acks: -1, timeout: 10_000, messages: [{ key: 'table-0', value: 'refused' }] });
    } catch (error) {
      refused = error;
    } finally {
      await producer.disconnect();
    }
    expect(refused, 'a write acknowledged by one copy alone').to.not.equal(undefined);
    expect(errorTypes(refused)).to.include('NOT_ENOUGH_REPLICAS');

    await Promise.all(stopped.map((nodeId) => startKafkaNode(config, nodeId)));
    await eventually('every ISR back to 3', async () => (await underReplicated(topic)).length === 0, 60_000);
    const again = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await again.connect();
    try {
      const [record] = await again.send({ topic, acks: -1, messages: [{ key: 'table-0', value: 'accepted' }] });
      expect(record?.errorCode).to.equal(0);
    } finally {
      await again.disconnect();
    }
  });
});
