/**
 * Fault hooks on the local Kafka cluster for the chaos suite: which node
 * runs, kill one (no controlled shutdown by default), start it again, who
 * is the active controller and who leads a partition.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { createKafka } from '../clients/index.ts';
import type { Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { startFormattedNode, waitNodeReady } from './kafka.ts';
import { activeController, currentLayout, type KafkaNodeLayout } from './kafka-cluster.ts';
import { isAlive, livePid } from './process.ts';

export interface KafkaNode {
  readonly nodeId: number;
  /** 127.0.0.1:<broker port> */
  readonly address: string;
  readonly controllerAddress: string;
  readonly pid: number | undefined;
  /** Its process exists (a SIGSTOPped node counts as running). */
  readonly running: boolean;
}

function nodeOf(config: Config, nodeId: number): { node: KafkaNodeLayout; nodes: KafkaNodeLayout[] } {
  const nodes = currentLayout(config);
  const node = nodes.find((candidate) => candidate.nodeId === nodeId);
  if (node === undefined) throw new StackError('kafka', `no Kafka node ${nodeId} (the stack has ${nodes.length})`);
  return { node, nodes };
}

export function kafkaNodes(config: Config): KafkaNode[] {
  return currentLayout(config).map(({ nodeId, address, controllerAddress, pidFile }) => {
    const pid = livePid(pidFile);
    return { nodeId, address, controllerAddress, pid, running: pid !== undefined };
  });
}

/**
 * Sends `signal` to a node (SIGKILL: no controlled shutdown, no flush;
 * SIGTERM: controlled shutdown) and, for those two, waits until the process
 * is gone. A node not running is left alone.
 */
export async function killKafkaNode(config: Config, nodeId: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const { node } = nodeOf(config, nodeId);
  const pid = livePid(node.pidFile);
  if (pid === undefined) return;
  process.kill(pid, signal);
  if (signal !== 'SIGKILL' && signal !== 'SIGTERM') return;
  const deadline = Date.now() + 90_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new StackError('kafka', `node ${nodeId} (pid ${pid}) still runs 90 s after ${signal}`, { logPath: node.logPath });
    await delay(50);
  }
}

/** Starts a stopped node again and waits until it is back in the cluster (its metadata lists it as a live broker). */
export async function startKafkaNode(config: Config, nodeId: number): Promise<void> {
  const { node, nodes } = nodeOf(config, nodeId);
  const pid = livePid(node.pidFile);
  if (pid !== undefined) await waitNodeReady(config, node, pid, nodes);
  else await startFormattedNode(config, node, nodes);
}

/**
 * The node id of the active KRaft controller (the quorum's leader), or
 * undefined while there is none (an election under way, the quorum lost).
 * Read from the running nodes' quorum-state files: Kafka's Metadata answer
 * (describeCluster().controller) names a random live broker in KRaft mode.
 */
export function kafkaController(config: Config): number | undefined {
  return activeController(currentLayout(config).filter((node) => livePid(node.pidFile) !== undefined));
}

/**
 * The node leading a partition as the live brokers' metadata says (-1: none),
 * asked of the running nodes; a topic just created that a broker does not
 * know yet is asked again for up to 15 s.
 */
export async function partitionLeader(config: Config, topic: string, partition: number): Promise<number> {
  const brokers = kafkaNodes(config).filter((node) => node.running).map((node) => node.address);
  if (brokers.length === 0) throw new StackError('kafka', 'no Kafka node runs');
  const admin = createKafka({ clientId: 'deltameta-faults', brokers, connectionTimeoutMs: 2000, requestTimeoutMs: 5000, retry: { retries: 3 } }).admin();
  await admin.connect();
  try {
    const found = await waitUntil(`metadata of ${topic}`, async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return topics[0]?.partitions.find((candidate) => candidate.partitionId === partition);
    }, { timeoutMs: 15_000, intervalMs: 250 });
    return found.leader;
  } finally {
    await admin.disconnect();
  }
}
