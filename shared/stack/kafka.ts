/**
 * Apache Kafka in KRaft mode — one combined broker+controller node, or a
 * cluster of them (kafka-cluster.ts: layout, ports, cluster.json) — run
 * from the official broker jars on Maven Central with the machine's Java 17:
 * no Docker engine, no tarball. infra/kafka/pom.xml pins the version; the
 * jars are resolved once and cached per pom content.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createKafka } from '../clients/index.ts';
import { projectRoot, type Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { tcpAnswers } from './health.ts';
import {
  activeController, formattedClusterId, heapOptions, kafkaDir, kafkaLayout, newClusterId, readClusterRecord, recordedNodeCount,
  serverProperties, validateNodeCount, writeClusterRecord, type KafkaNodeLayout,
} from './kafka-cluster.ts';
import { isAlive, livePid, removeFile, spawnDaemon, stopPid } from './process.ts';
import { findOnPath, installSystemPackages, javaMajorVersion, run, runVisible } from './system.ts';
import type { ServiceNodeStatus, ServiceState, ServiceStatus, StackService } from './types.ts';

const kafkaInfra = path.join(projectRoot, 'infra/kafka');

interface NodeStatus extends ServiceNodeStatus {
  readonly node: KafkaNodeLayout;
}

export class KafkaService implements StackService {
  readonly name = 'kafka' as const;

  /** `requestedNodes`: `stack up --kafka-brokers N`; without it the recorded cluster (or one node). */
  constructor(private readonly config: Config, private readonly requestedNodes?: number) {}

  private layout(): KafkaNodeLayout[] {
    const recorded = recordedNodeCount(this.config);
    const count = validateNodeCount(this.requestedNodes ?? recorded ?? 1);
    if (recorded !== undefined && recorded !== count) {
      // A KRaft static quorum cannot grow or shrink in place: its voters are written in every node's metadata log.
      throw new StackError(this.name, `the Kafka data in ${kafkaDir(this.config)} belongs to a ${recorded}-node cluster, not ${count}: `
        + `run \`deltameta stack down kafka\`, remove ${kafkaDir(this.config)} (its topics and messages are lost), then \`deltameta stack up --kafka-brokers ${count}\``);
    }
    return kafkaLayout(this.config, count);
  }

  async status(): Promise<ServiceStatus> {
    return summarize(this.config, await Promise.all(this.layout().map((node) => nodeStatus(node))));
  }

  async up(): Promise<ServiceStatus> {
    const nodes = this.layout();
    const before = await Promise.all(nodes.map((node) => nodeStatus(node)));
    const stopped = before.filter((status) => status.state === 'stopped').map(({ node }) => node);
    for (const node of stopped) {
      if (await tcpAnswers(node.controllerPort)) throw new StackError(this.name, `port ${node.controllerPort} (controller of node ${node.nodeId}) is taken by another process`);
    }
    if (stopped.length > 0) {
      const java = await ensureJava();
      const libDir = await ensureKafkaJars(this.config.cacheDir);
      const clusterId = readClusterRecord(this.config)?.clusterId ?? nodes.map(formattedClusterId).find(Boolean) ?? newClusterId();
      await Promise.all(stopped.map((node) => formatNode(java, libDir, node, nodes, clusterId)));
      if (readClusterRecord(this.config) === undefined) writeClusterRecord(this.config, clusterId, nodes);
      for (const node of stopped) spawnNode(java, libDir, node, nodes);
    }
    // A node still starting (another `stack up` racing us) gets the chance to finish, like the ones just started.
    await Promise.all(nodes.map(async (node) => {
      const pid = livePid(node.pidFile);
      if (pid !== undefined) await waitNodeReady(this.config, node, pid, nodes);
    }));
    return this.status();
  }

  async down(): Promise<ServiceStatus> {
    // SIGTERM runs each broker's controlled shutdown, which flushes its logs; the nodes stop together, the quorum serving them meanwhile.
    await Promise.all(this.layout().map(async (node) => {
      const pid = livePid(node.pidFile);
      if (pid === undefined) return;
      await stopPid(pid, 45_000);
      removeFile(node.pidFile);
    }));
    return this.status();
  }
}

async function nodeStatus(node: KafkaNodeLayout): Promise<NodeStatus> {
  const pid = livePid(node.pidFile);
  const answers = await kafkaAnswers([node.address]);
  const state: ServiceState = pid !== undefined ? (answers ? 'running' : 'unhealthy') : answers ? 'reused' : 'stopped';
  return { node, name: `kafka node ${node.nodeId}`, state, address: node.address, pid, logPath: node.logPath };
}

function summarize(config: Config, statuses: readonly NodeStatus[]): ServiceStatus {
  const first = statuses[0];
  if (first === undefined) throw new StackError('kafka', 'a cluster of no nodes');
  if (statuses.length === 1) {
    const { state, address, pid, logPath, node } = first;
    return { service: 'kafka', state, address, pid, logPath, dataDir: node.dataDir, detail: `controller ${node.controllerAddress}` };
  }
  const states = new Set(statuses.map((status) => status.state));
  const state: ServiceState = states.size === 1 ? first.state : 'unhealthy';
  const controller = activeController(statuses.filter((status) => status.pid !== undefined).map(({ node }) => node));
  const up = statuses.filter((status) => status.state === 'running' || status.state === 'reused').length;
  return {
    service: 'kafka',
    state,
    address: statuses.map((status) => status.address).join(','),
    pid: undefined,
    logPath: first.logPath,
    dataDir: kafkaDir(config),
    detail: `${up}/${statuses.length} nodes up, active controller ${controller === undefined ? 'none' : `node ${controller}`}`,
    nodes: statuses.map(({ name, state: nodeState, address, pid, logPath, node }) => ({
      name, state: nodeState, address, pid, logPath,
      detail: `controller ${node.controllerAddress}${node.nodeId === controller ? ' (active)' : ''}`,
    })),
  };
}

function jvmOptions(libDir: string, nodeCount: number): string[] {
  return [
    ...heapOptions(nodeCount), '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${path.join(kafkaInfra, 'log4j.properties')}`,
    '-cp', `${libDir}/*`,
  ];
}

/** Formats a node's KRaft storage with the cluster's id, once (a formatted node is left alone). */
async function formatNode(java: string, libDir: string, node: KafkaNodeLayout, nodes: readonly KafkaNodeLayout[], clusterId: string): Promise<void> {
  mkdirSync(node.dataDir, { recursive: true });
  writeFileSync(node.propertiesPath, serverProperties(node, nodes));
  const formatted = formattedClusterId(node);
  if (formatted !== undefined) {
    if (formatted !== clusterId) throw new StackError('kafka', `node ${node.nodeId} (${node.dataDir}) belongs to cluster ${formatted}, not ${clusterId}: after \`deltameta stack down kafka\`, remove ${nodes[0]?.dir ?? node.dir} and start again`);
    return;
  }
  const format = () => run(java, [...jvmOptions(libDir, nodes.length), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', node.propertiesPath, '--ignore-formatted']);
  try {
    // Once more after a failure: seen to fail once on a fresh clone (cause not recorded then; the message now carries it).
    await format().catch(format);
  } catch (error) {
    // execFile's error carries the tool's output: the reason is there, not in the exit code.
    const output = error instanceof Error ? `${(error as { stderr?: string }).stderr ?? ''}${(error as { stdout?: string }).stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ') : '';
    throw new StackError('kafka', `formatting the KRaft storage in ${node.dataDir} failed${output ? `: ${output}` : ''}`, { cause: error });
  }
}

function spawnNode(java: string, libDir: string, node: KafkaNodeLayout, nodes: readonly KafkaNodeLayout[]): number {
  writeFileSync(node.propertiesPath, serverProperties(node, nodes));
  return spawnDaemon({ command: java, args: [...jvmOptions(libDir, nodes.length), 'kafka.Kafka', node.propertiesPath], logPath: node.logPath, pidFile: node.pidFile });
}

/** Starts one formatted node of the recorded cluster (the fault hooks' restart); its pid. */
export async function startFormattedNode(config: Config, node: KafkaNodeLayout, nodes: readonly KafkaNodeLayout[]): Promise<number> {
  if (formattedClusterId(node) === undefined) throw new StackError('kafka', `node ${node.nodeId} is not formatted: run \`deltameta stack up\` first`);
  const pid = spawnNode(await ensureJava(), await ensureKafkaJars(config.cacheDir), node, nodes);
  await waitNodeReady(config, node, pid, nodes);
  return pid;
}

/**
 * Until the node answers and the cluster's metadata, as it and every other
 * running node that answers serve it, lists it as a live (unfenced) broker:
 * a client asking any of them then sees the whole cluster.
 */
export async function waitNodeReady(config: Config, node: KafkaNodeLayout, pid: number, nodes: readonly KafkaNodeLayout[] = [node]): Promise<void> {
  const listed = async (): Promise<boolean> => {
    if (!(await kafkaAnswers([node.address], node.nodeId))) return false;
    const peers = nodes.filter((peer) => peer.nodeId !== node.nodeId && livePid(peer.pidFile) !== undefined);
    const views = await Promise.all(peers.map((peer) => liveBrokerIds(peer.address)));
    return views.every((ids) => ids === undefined || ids.includes(node.nodeId));
  };
  try {
    await waitUntil(`kafka node ${node.nodeId} on ${node.address}`, listed, {
      timeoutMs: config.stackStartTimeoutMs,
      intervalMs: 500,
      whileAlive: () => isAlive(pid),
    });
  } catch (error) {
    throw new StackError('kafka', `node ${node.nodeId} did not become ready`, { cause: error, logPath: node.logPath });
  }
}

async function ensureJava(): Promise<string> {
  let major = await javaMajorVersion();
  if (major === undefined || major < 17) {
    await installSystemPackages(['openjdk-17-jre-headless'], major === undefined ? 'Java is not installed' : `Java ${major} is too old (17+)`);
    major = await javaMajorVersion();
  }
  if (major === undefined || major < 17) throw new StackError('kafka', 'Java 17 or later is needed on PATH');
  return 'java';
}

/**
 * Copies the broker jars out of the local Maven repository (fetching them
 * from Maven Central the first time) into a cache folder named by the pom's
 * hash, built in a temporary folder and renamed into place so that an
 * interrupted download never leaves half a classpath.
 */
export async function ensureKafkaJars(cacheDir: string): Promise<string> {
  const pom = path.join(kafkaInfra, 'pom.xml');
  const digest = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const target = path.join(cacheDir, `kafka-${digest}`);
  const libDir = path.join(target, 'lib');
  if (existsSync(path.join(target, 'complete'))) return libDir;
  if (!findOnPath('mvn')) await installSystemPackages(['maven'], 'Maven is needed once to fetch the Kafka broker jars');
  const staging = `${target}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  process.stderr.write(`deltameta: fetching the Kafka broker jars (once, cached in ${target})\n`);
  try {
    await runVisible('mvn', [
      '-q', '-B', '-f', pom, 'dependency:copy-dependencies',
      `-DoutputDirectory=${path.join(staging, 'lib')}`, '-DincludeScope=runtime',
    ]);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw new StackError('kafka', 'resolving the broker jars with Maven failed', { cause: error });
  }
  writeFileSync(path.join(staging, 'complete'), `${new Date().toISOString()}\n`);
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return libDir;
}

/** A broker that answers a metadata request with at least one live broker (and, given `nodeId`, that one among them). */
export async function kafkaAnswers(brokers: readonly string[], nodeId?: number): Promise<boolean> {
  const ids = await liveBrokerIds(brokers[0] ?? '', brokers);
  return ids !== undefined && ids.length > 0 && (nodeId === undefined || ids.includes(nodeId));
}

/** The live brokers the metadata served at `address` lists; undefined when it does not answer. */
async function liveBrokerIds(address: string, brokers: readonly string[] = [address]): Promise<number[] | undefined> {
  const [host, port] = address.split(':');
  if (!(await tcpAnswers(Number(port), host))) return undefined;
  const kafka = createKafka({ clientId: 'deltameta-health', brokers, connectionTimeoutMs: 1000, requestTimeoutMs: 2000, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    // kafkajs asks a random broker of the metadata it got from `address`: one that just died fails the request, the next try may not.
    for (let attempt = 1; ; attempt++) {
      try {
        const cluster = await admin.describeCluster();
        return cluster.controller === null ? [] : cluster.brokers.map((broker) => broker.nodeId);
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
