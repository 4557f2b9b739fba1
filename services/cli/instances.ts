/**
 * `deltameta up --instances cdc=2,invalidator=3,...`: how many instances of
 * each service, and the ports and identity of each (docs/scaling.md).
 *
 * Ports: instance k of a service listens on its configured port + 10 × (k − 1),
 * the admin port (DELTAMETA_<NAME>_ADMIN_PORT: cdc 9401, 9411, 9421, …;
 * reader 9404, 9414, …) and the API port alike (DELTAMETA_READER_PORT:
 * reader 8080, 8090, 8100, …; DELTAMETA_COMMITTER_PORT: 8081, 8091, …).
 * With the default bases no two ever meet (each base has its own last
 * digit and at most 16 instances stay below the next hundred + 60); a base
 * of 0 stays 0 (the OS picks, the table shows what was taken). Bases that
 * would collide, with each other or the stack's ports, are refused.
 *
 * Identity: with more than one instance of a service, each gets
 * DELTAMETA_INSTANCE=`<service>#<k>` (shared/service/instance.ts: the log
 * field `instance`, the Kafka clientId and Redis connection names).
 */
import { z } from 'zod';
import { readVariable, type Config, type Env } from '../../shared/config/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';
import type { PipelineServiceName } from '../../shared/service/index.ts';

export const maxInstances = 16;
/** Instance k's ports are the first's + portStride × (k − 1). */
export const portStride = 10;

export interface PlannedInstance {
  readonly service: PipelineServiceName;
  /** 1-based */
  readonly index: number;
  /** `reader#2`, or the service's name when it runs alone: the log prefix and DELTAMETA_INSTANCE */
  readonly label: string;
  /** 0: any free port */
  readonly adminPort: number;
  /** the reader's and the committer's HTTP API; 0: any free port */
  readonly apiPort: number | undefined;
  /** what this instance's environment adds to the parent's */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Parses `name=N,name=N` (N in 1..16) for the services `up` starts. A name
 * that is not one of them, a repeated name or a bad count is BAD_INPUT (exit 2).
 */
export function parseInstanceCounts(spec: string | undefined, services: readonly PipelineServiceName[]): Map<PipelineServiceName, number> {
  const counts = new Map<PipelineServiceName, number>(services.map((service) => [service, 1]));
  if (spec === undefined || spec.trim() === '') return counts;
  const seen = new Set<string>();
  for (const part of spec.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!match) throw new DeltametaError('BAD_INPUT', `--instances: ${JSON.stringify(part)} is not name=N (e.g. cdc=2,reader=3)`);
    const [, name = '', digits = ''] = match;
    if (!counts.has(name as PipelineServiceName)) {
      throw new DeltametaError('BAD_INPUT', `--instances: no service named ${JSON.stringify(name)} among those started (${services.join(', ')})`);
    }
    if (seen.has(name)) throw new DeltametaError('BAD_INPUT', `--instances: ${name} is given twice`);
    seen.add(name);
    const count = Number(digits);
    if (!Number.isSafeInteger(count) || count < 1 || count > maxInstances) {
      throw new DeltametaError('BAD_INPUT', `--instances: ${name}=${digits}: the count must be from 1 to ${maxInstances}`);
    }
    counts.set(name as PipelineServiceName, count);
  }
  return counts;
}

const portSchema = z.coerce.number().int().min(0, 'must be a port number or 0').max(65535, 'must be a port number or 0');
/** The API ports' variables and defaults (shared/config/reader.ts and services/committer/config.ts read the same). */
const apiPortVariables: Partial<Record<PipelineServiceName, { variable: string; fallback: number }>> = {
  reader: { variable: 'DELTAMETA_READER_PORT', fallback: 8080 },
  committer: { variable: 'DELTAMETA_COMMITTER_PORT', fallback: 8081 },
};

/** Instance k's port: base + stride × (k − 1), 0 stays 0. */
export function instancePort(base: number, index: number): number {
  return base === 0 ? 0 : base + portStride * (index - 1);
}

/**
 * Every instance to start, in service order then index, with its ports and
 * environment. Throws BAD_INPUT when two of them, or one and a stack port,
 * would share a port, or a port would pass 65535.
 */
export function planInstances(config: Config, counts: ReadonlyMap<PipelineServiceName, number>, env: Env = process.env): PlannedInstance[] {
  const planned: PlannedInstance[] = [];
  const owners = new Map<number, string>([
    [config.stack.postgresPort, 'the stack\'s PostgreSQL'], [config.stack.redisPort, 'the stack\'s Redis'],
    [config.stack.cacheRedisPort, 'the stack\'s cache Redis'], [config.stack.kafkaPort, 'the stack\'s Kafka'],
    [config.stack.kafkaControllerPort, 'the stack\'s Kafka controller'],
  ]);
  const claim = (port: number, owner: string): void => {
    if (port === 0) return;
    if (port > 65535) throw new DeltametaError('BAD_INPUT', `${owner} would listen on port ${port}, above 65535: lower its base port or its count`);
    const other = owners.get(port);
    if (other !== undefined) throw new DeltametaError('BAD_INPUT', `${owner} and ${other} would both listen on port ${port}: set their ports apart (docs/scaling.md)`);
    owners.set(port, owner);
  };
  for (const [service, count] of counts) {
    const upper = service.toUpperCase();
    const api = apiPortVariables[service];
    const apiBase = api ? readVariable(env, api.variable, portSchema, api.fallback) : undefined;
    for (let index = 1; index <= count; index++) {
      const label = count > 1 ? `${service}#${index}` : service;
      const adminPort = instancePort(config.adminPorts[service], index);
      const apiPort = apiBase === undefined ? undefined : instancePort(apiBase, index);
      claim(adminPort, `${label}'s admin port`);
      if (apiPort !== undefined) claim(apiPort, `${label}'s API port`);
      const own: Record<string, string> = { [`DELTAMETA_${upper}_ADMIN_PORT`]: String(adminPort) };
      if (api && apiPort !== undefined) own[api.variable] = String(apiPort);
      if (count > 1) own['DELTAMETA_INSTANCE'] = label;
      planned.push({ service, index, label, adminPort, apiPort, env: own });
    }
  }
  return planned;
}

export interface InstanceRow {
  readonly label: string;
  readonly adminPort: number | undefined;
  readonly apiPort: number | undefined;
  readonly state: string;
}

/** The table `up` prints once every instance is ready (or has failed to be). */
export function formatInstanceTable(rows: readonly InstanceRow[]): string {
  const header = ['instance', 'admin', 'api', 'state'];
  const cells = rows.map((row) => [row.label, row.adminPort === undefined ? '-' : String(row.adminPort), row.apiPort === undefined ? '-' : String(row.apiPort), row.state]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]?.length ?? 0)));
  return [header, ...cells].map((cell) => cell.map((value, column) => value.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
