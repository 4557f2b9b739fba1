/**
 * The shape of the local Kafka: N combined broker+controller nodes (KRaft,
 * static quorum), N = 1 by default, 3 with `stack up --kafka-brokers 3`.
 * Node i (1-based) listens on kafkaPort + 2(i-1) (broker) and
 * kafkaControllerPort + 2(i-1) (controller). Node 1 keeps the single-node
 * stack's paths (<stackDir>/kafka/{data,server.properties,kafka.pid},
 * logs/kafka.log); node i ≥ 2 lives in <stackDir>/kafka/node-<i>/ and logs to
 * logs/kafka-<i>.log. The node count is recorded in <stackDir>/kafka/cluster.json
 * when the storage is formatted, so later commands (and loadConfig's default
 * broker list) follow it without the flag.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot, type Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';

export const maxKafkaNodes = 5;

export interface KafkaNodeLayout {
  readonly nodeId: number;
  readonly brokerPort: number;
  readonly controllerPort: number;
  /** 127.0.0.1:<broker port> */
  readonly address: string;
  readonly controllerAddress: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly propertiesPath: string;
  readonly pidFile: string;
  readonly logPath: string;
}

/** What <stackDir>/kafka/cluster.json holds. */
export interface KafkaClusterRecord {
  readonly clusterId: string;
  readonly nodes: readonly { readonly nodeId: number; readonly address: string; readonly controllerAddress: string }[];
  readonly formattedAt: string;
}

export function kafkaDir(config: Config): string {
  return path.join(config.stackDir, 'kafka');
}

function clusterFile(config: Config): string {
  return path.join(kafkaDir(config), 'cluster.json');
}

export function readClusterRecord(config: Config): KafkaClusterRecord | undefined {
  const file = clusterFile(config);
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as KafkaClusterRecord;
    return Array.isArray(record.nodes) && record.nodes.length > 0 ? record : undefined;
  } catch (error) {
    throw new StackError('kafka', `${file} is not readable JSON; remove it with the Kafka data (after \`deltameta stack down kafka\`)`, { cause: error });
  }
}

export function writeClusterRecord(config: Config, clusterId: string, nodes: readonly KafkaNodeLayout[]): void {
  const record: KafkaClusterRecord = {
    clusterId,
    nodes: nodes.map(({ nodeId, address, controllerAddress }) => ({ nodeId, address, controllerAddress })),
    formattedAt: new Date().toISOString(),
  };
  writeFileSync(clusterFile(config), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * How many nodes the stack has: the recorded count; a node 1 formatted
 * before cluster.json existed is the single-node stack; nothing formatted
 * yet is undefined.
 */
export function recordedNodeCount(config: Config): number | undefined {
  const record = readClusterRecord(config);
  if (record !== undefined) return record.nodes.length;
  return existsSync(path.join(kafkaDir(config), 'data', 'meta.properties')) ? 1 : undefined;
}

export function kafkaLayout(config: Config, count: number): KafkaNodeLayout[] {
  return Array.from({ length: count }, (_, index) => {
    const nodeId = index + 1;
    const brokerPort = config.stack.kafkaPort + 2 * index;
    const controllerPort = config.stack.kafkaControllerPort + 2 * index;
    const dir = nodeId === 1 ? kafkaDir(config) : path.join(kafkaDir(config), `node-${nodeId}`);
    return {
      nodeId,
      brokerPort,
      controllerPort,
      address: `127.0.0.1:${brokerPort}`,
      controllerAddress: `127.0.0.1:${controllerPort}`,
      dir,
      dataDir: path.join(dir, 'data'),
      propertiesPath: path.join(dir, 'server.properties'),
      pidFile: path.join(dir, 'kafka.pid'),
      logPath: path.join(config.stackDir, 'logs', nodeId === 1 ? 'kafka.log' : `kafka-${nodeId}.log`),
    };
  });
}

/** The nodes the stack has now (recorded), or one when nothing is formatted yet. */
export function currentLayout(config: Config): KafkaNodeLayout[] {
  return kafkaLayout(config, recordedNodeCount(config) ?? 1);
}

export function validateNodeCount(count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > maxKafkaNodes) {
    throw new StackError('kafka', `the number of Kafka brokers must be an integer from 1 to ${maxKafkaNodes} (got ${count})`);
  }
  return count;
}

/** Replication of internal and default topics: 3 copies with 2 in sync from 3 nodes on; fewer nodes, all of them and 1. */
export function replicationOf(count: number): { replicationFactor: number; minInsyncReplicas: number } {
  return count >= 3 ? { replicationFactor: 3, minInsyncReplicas: 2 } : { replicationFactor: count, minInsyncReplicas: 1 };
}

/** JVM heap: 1 GiB for the single node; 512 MiB each for a cluster (3 × 512 MiB fits beside the rest on a small machine). */
export function heapOptions(count: number): string[] {
  return count === 1 ? ['-Xms256m', '-Xmx1g'] : ['-Xms192m', '-Xmx512m'];
}

export function serverProperties(node: KafkaNodeLayout, nodes: readonly KafkaNodeLayout[]): string {
  const values: Record<string, string> = {
    nodeId: String(node.nodeId),
    brokerPort: String(node.brokerPort),
    controllerPort: String(node.controllerPort),
    dataDir: node.dataDir,
    quorumVoters: nodes.map((voter) => `${voter.nodeId}@${voter.controllerAddress}`).join(','),
    replicationFactor: String(replicationOf(nodes.length).replicationFactor),
    minInsyncReplicas: String(replicationOf(nodes.length).minInsyncReplicas),
  };
  return readFileSync(path.join(projectRoot, 'infra/kafka/server.properties'), 'utf8').replace(/\$\{(\w+)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new StackError('kafka', `server.properties names an unknown placeholder \${${key}}`);
    return value;
  });
}

/** A KRaft cluster id: 16 random bytes, base64url without padding (Kafka's Uuid format). */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

/** The cluster id a node's storage was formatted with (meta.properties), if formatted. */
export function formattedClusterId(node: KafkaNodeLayout): string | undefined {
  const file = path.join(node.dataDir, 'meta.properties');
  if (!existsSync(file)) return undefined;
  return /^cluster\.id=(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1]?.trim();
}

/**
 * What a node last wrote about the KRaft quorum (data/__cluster_metadata-0/quorum-state,
 * rewritten at every election it sees): the leader and its epoch.
 */
export function quorumState(node: KafkaNodeLayout): { leaderId: number; leaderEpoch: number } | undefined {
  try {
    const state = JSON.parse(readFileSync(path.join(node.dataDir, '__cluster_metadata-0', 'quorum-state'), 'utf8')) as { leaderId?: number; leaderEpoch?: number };
    return typeof state.leaderId === 'number' && typeof state.leaderEpoch === 'number' ? { leaderId: state.leaderId, leaderEpoch: state.leaderEpoch } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The active KRaft controller: the leader of the newest epoch the running
 * nodes know, when that leader runs and is itself in that epoch. (Kafka's
 * Metadata answer cannot tell: in KRaft mode its "controller" field is a
 * random live broker, since clients never talk to the controllers.)
 */
export function activeController(running: readonly KafkaNodeLayout[]): number | undefined {
  const states = running.map((node) => ({ nodeId: node.nodeId, state: quorumState(node) }));
  const newest = states.reduce<{ leaderId: number; leaderEpoch: number } | undefined>(
    (best, { state }) => (state !== undefined && state.leaderId >= 0 && (best === undefined || state.leaderEpoch > best.leaderEpoch) ? state : best),
    undefined,
  );
  if (newest === undefined) return undefined;
  const leader = states.find((entry) => entry.nodeId === newest.leaderId);
  return leader?.state?.leaderEpoch === newest.leaderEpoch && leader.state.leaderId === leader.nodeId ? leader.nodeId : undefined;
}
