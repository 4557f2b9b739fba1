/**
 * `deltameta stack up | down | status`: the local PostgreSQL, Redis (two
 * instances: the pipeline's and the cache's, redis.ts) and Kafka every other
 * piece runs against, without a Docker engine.
 */
import type { Config } from '../config/index.ts';
import { KafkaService } from './kafka.ts';
import { PostgresService } from './postgres.ts';
import { RedisService } from './redis.ts';
import { serviceNames, type ServiceName, type ServiceStatus, type StackService } from './types.ts';

export { serviceNames, type ServiceName, type ServiceNodeStatus, type ServiceState, type ServiceStatus } from './types.ts';
export { kafkaController, kafkaNodes, killKafkaNode, partitionLeader, startKafkaNode, type KafkaNode } from './kafka-faults.ts';
export { maxKafkaNodes } from './kafka-cluster.ts';
export { localSuperuser } from './postgres.ts';
export { installSystemPackages } from './system.ts';

export interface StackUpOptions {
  /** Nodes of the Kafka cluster (`stack up --kafka-brokers N`, 1..5); default: as recorded in the stack folder, or 1. */
  readonly kafkaBrokers?: number;
}

function services(config: Config, only: readonly ServiceName[], options: StackUpOptions = {}): StackService[] {
  const all: StackService[] = [new PostgresService(config), RedisService.pipeline(config), RedisService.cache(config), new KafkaService(config, options.kafkaBrokers)];
  const wanted = only.length > 0 ? only : serviceNames;
  return all.filter((service) => wanted.includes(service.name));
}

/**
 * Starts what is not running yet, reusing what already answers (a service
 * already up is never restarted); PostgreSQL and Redis start in parallel with
 * Kafka (the JVM is the slow one).
 */
export async function stackUp(config: Config, only: readonly ServiceName[] = [], options: StackUpOptions = {}): Promise<ServiceStatus[]> {
  return Promise.all(services(config, only, options).map((service) => service.up()));
}

/** Stops what this stack started, in reverse order; reused services are left alone. */
export async function stackDown(config: Config, only: readonly ServiceName[] = []): Promise<ServiceStatus[]> {
  const statuses: ServiceStatus[] = [];
  for (const service of services(config, only).reverse()) statuses.push(await service.down());
  return statuses.reverse();
}

export async function stackStatus(config: Config, only: readonly ServiceName[] = []): Promise<ServiceStatus[]> {
  return Promise.all(services(config, only).map((service) => service.status()));
}

export function formatStatus(statuses: readonly ServiceStatus[]): string {
  // A service of several processes (a Kafka cluster) shows each beneath its own line.
  const rows = statuses.flatMap((status) => [status, ...(status.nodes ?? []).map((node) => ({ ...node, service: `  ${node.name}` }))]).map((status) => [
    status.service,
    status.state + (status.pid !== undefined ? ` (pid ${status.pid})` : status.state === 'reused' ? ' (not started by deltameta)' : ''),
    status.address + (status.detail ? `, ${status.detail}` : ''),
    status.state === 'reused' ? '-' : status.logPath,
  ]);
  const header = ['service', 'state', 'address', 'log'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
export { ensureDeltaRs } from './deltars-venv.ts';
export { ensurePrometheus, freePort, runPromtool, startPrometheus, type PrometheusBinaries, type RunningPrometheus } from './prometheus.ts';
