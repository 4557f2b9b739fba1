/**
 * bench/pipeline.ts's services: `cdc`, `invalidator` and `refresher` as
 * processes of one isolated run (its own slot, topic, consumer group, queue
 * and Redis prefix), with as many instances of each as `--instances` asks.
 * Each instance has its own admin port (0: the OS picks) and, with more than
 * one of its service, DELTAMETA_INSTANCE=`<service>#<k>` (the pattern of
 * shared/chaos/fleet.ts and of `deltameta up --instances`).
 */
import { AssignerProtocol } from 'kafkajs';
import { createKafka } from '../shared/clients/index.ts';
import { loadConfig, type Config } from '../shared/config/index.ts';
import { parseInstanceCounts } from '../services/cli/index.ts';
import { isolatedEnvironment, runPipelineNames, ServiceProcess, terminateAll, type PipelineServiceName } from '../shared/service/index.ts';

export const benchServices: readonly PipelineServiceName[] = ['cdc', 'invalidator', 'refresher'];

export interface BenchConfiguration {
  /** `1×cdc 3×invalidator 3×refresher` */
  readonly label: string;
  /** for a chart's legend: `invalidator×3 refresher×3`, or `1 each` */
  readonly short: string;
  readonly counts: ReadonlyMap<PipelineServiceName, number>;
}

/** `invalidator=3,refresher=3` (the others 1); `1` or `single`: one of each. */
export function parseConfiguration(spec: string): BenchConfiguration {
  const trimmed = spec.trim();
  const counts = parseInstanceCounts(trimmed === '1' || trimmed === 'single' ? undefined : trimmed, benchServices);
  const several = [...counts].filter(([, count]) => count > 1).map(([service, count]) => `${service.slice(0, 3)}×${count}`);
  return { label: [...counts].map(([service, count]) => `${count}×${service}`).join(' '), short: several.length === 0 ? '1 each' : several.join(' '), counts };
}

export interface BenchFleet {
  readonly config: Config;
  /** instance label (`invalidator#2`, or the service's name when alone) → admin port */
  readonly adminPorts: ReadonlyMap<string, number>;
  /** the invalidators' group once stable: partitions of the commits topic per member */
  readonly assignment: Record<string, number[]>;
  stop(): Promise<void>;
}

/**
 * Waits until the invalidators' consumer group is Stable with `members`
 * members, each holding partitions, so that no rebalance lands in a
 * measurement; returns who holds which partitions.
 */
async function stableAssignment(config: Config, members: number, timeoutMs: number): Promise<Record<string, number[]>> {
  const admin = createKafka({ brokers: config.kafkaBrokers, clientId: 'bench-pipeline' }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const group = (await admin.describeGroups([config.pipeline.consumerGroup])).groups[0];
      const assignment: Record<string, number[]> = {};
      for (const member of group?.state === 'Stable' ? group.members : []) {
        const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
        assignment[member.clientId] = [...(decoded?.assignment[config.pipeline.commitsTopic] ?? [])].sort((a, b) => a - b);
      }
      const held = Object.values(assignment);
      if (held.length === members && held.every((partitions) => partitions.length > 0)) return assignment;
      if (Date.now() > deadline) throw new Error(`the consumer group ${config.pipeline.consumerGroup} is not stable with ${members} members: ${JSON.stringify(group)}`);
      await new Promise((done) => setTimeout(done, 500));
    }
  } finally {
    await admin.disconnect();
  }
}

export async function startFleet(
  postgresUrl: string,
  configuration: BenchConfiguration,
  run: string,
  onLine: (instance: string, line: string, level: number) => void,
  readyTimeoutMs = 120_000,
): Promise<BenchFleet> {
  const env = isolatedEnvironment(postgresUrl, runPipelineNames(run));
  const config = loadConfig(env);
  const started: Array<{ label: string; process: ServiceProcess }> = [];
  for (const [service, count] of configuration.counts) {
    for (let index = 1; index <= count; index++) {
      const label = count > 1 ? `${service}#${index}` : service;
      const own = { [`DELTAMETA_${service.toUpperCase()}_ADMIN_PORT`]: '0', ...(count > 1 ? { DELTAMETA_INSTANCE: label } : {}) };
      started.push({ label, process: ServiceProcess.spawn(service, { env: { ...env, ...own }, onLine: (line, level) => onLine(label, line, level) }) });
    }
  }
  const stop = (): Promise<void> => terminateAll(started.map((one) => one.process));
  let assignment: Record<string, number[]>;
  try {
    // One deadline for the lot: they start side by side (a standby CDC answers /readyz while it waits).
    const deadline = Date.now() + readyTimeoutMs;
    for (const one of started) await one.process.waitReady(Math.max(1000, deadline - Date.now()));
    assignment = await stableAssignment(config, configuration.counts.get('invalidator') ?? 0, Math.max(30_000, deadline - Date.now()));
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  const adminPorts = new Map(started.flatMap((one) => (one.process.adminPort === undefined ? [] : [[one.label, one.process.adminPort] as const])));
  return { config, adminPorts, assignment, stop };
}
