/**
 * Several pipeline services started together for one isolated run (names
 * from `runPipelineNames`), each awaited on /readyz. Used by the demo and
 * the benchmarks, which must not collide with a `deltameta up` on the same stack.
 */
import { loadConfig, type Config } from '../config/index.ts';
import { TimedOutError } from '../errors/index.ts';
import { isolatedEnvironment, runPipelineNames, type IsolatedPipelineNames } from './isolated-run.ts';
import { ServiceProcess, type PipelineServiceName } from './service-process.ts';

export interface ServiceProcesses {
  readonly config: Config;
  /** the run's names (dropRunReplication removes its slot and publication once the run is over) */
  readonly names: IsolatedPipelineNames;
  readonly adminPorts: ReadonlyMap<string, number>;
  /** the reader's API port, when the reader runs */
  readonly readerPort: () => number | undefined;
  /** the API port a service announced (the reader's, the committer's), when it runs */
  readonly apiPort: (name: PipelineServiceName) => number | undefined;
  stop(): Promise<void>;
}

/** Stops them all (SIGTERM with a grace each); throws once all have exited if any overran its grace. */
export async function terminateAll(services: Iterable<ServiceProcess>): Promise<void> {
  const results = await Promise.allSettled([...services].map((service) => service.terminate()));
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
  if (failures.length > 0) throw new TimedOutError(failures.join('\n\n'));
}

export async function startServiceProcesses(
  postgresUrl: string,
  names: readonly PipelineServiceName[],
  run: string,
  options: { onLine?: (service: string, line: string, level: number) => void; readyTimeoutMs?: number } = {},
): Promise<ServiceProcesses> {
  const runNames = runPipelineNames(run);
  const env = isolatedEnvironment(postgresUrl, runNames);
  const config = loadConfig(env);
  const services = names.map((name) => ServiceProcess.spawn(name, {
    env,
    ...(options.onLine ? { onLine: (line: string, level: number) => options.onLine?.(name, line, level) } : {}),
  }));
  const stop = (): Promise<void> => terminateAll(services);
  try {
    // One deadline for the lot: they start side by side.
    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    for (const service of services) await service.waitReady(Math.max(0, deadline - Date.now()));
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  const adminPorts = new Map(services.flatMap((service) => (service.adminPort !== undefined ? [[service.name, service.adminPort] as const] : [])));
  return {
    config,
    names: runNames,
    adminPorts,
    readerPort: () => services.find((service) => service.name === 'reader')?.apiPort,
    apiPort: (name) => services.find((service) => service.name === name)?.apiPort,
    stop,
  };
}
