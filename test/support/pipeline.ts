/**
 * Runs the pipeline's services as real child processes (shared/service's
 * ServiceProcess) against a suite's isolated environment: its database, its
 * own slot, publication, topics, consumer group, queues and Redis prefix,
 * admin ports picked by the OS. Tests can SIGKILL and restart any of them.
 */
import { loadConfig, type Config } from '../../shared/config/index.ts';
import { isolatedEnvironment, ServiceProcess, terminateAll, type PipelineServiceName } from '../../shared/service/index.ts';
import type { TestEnv } from './env.ts';

export type ServiceName = PipelineServiceName;

/** The environment of the pipeline's processes in a suite: its database, and every shared name made the suite's own. */
export function suitePipelineEnvironment(env: TestEnv, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const slug = env.id.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return isolatedEnvironment(env.config.postgresUrl, {
    slotName: `s_${slug}`.slice(0, 63),
    publicationName: `p_${slug}`.slice(0, 63),
    commitsTopic: env.topic('commits'),
    deadLetterTopic: env.topic('dlq'),
    consumerGroup: env.topic('group'),
    refreshQueue: env.queueName('refresh'),
    maintenanceQueue: env.queueName('maintenance'),
    redisPrefix: env.keyPrefix,
  }, overrides);
}

/** The configuration the pipeline's code reads in a suite (for runtimes built in-process). */
export function suitePipelineConfig(env: TestEnv): Config {
  return loadConfig(suitePipelineEnvironment(env));
}

export class PipelineHarness {
  private readonly running = new Map<ServiceName, ServiceProcess>();
  readonly environment: NodeJS.ProcessEnv;
  /** The configuration the services read from `environment`. */
  readonly config: Config;

  constructor(env: TestEnv, overrides: NodeJS.ProcessEnv = {}) {
    this.environment = suitePipelineEnvironment(env, overrides);
    this.config = loadConfig(this.environment);
  }

  /** Starts a service and waits until its admin port says it is ready. */
  async start(name: ServiceName, timeoutMs = 60_000): Promise<void> {
    if (this.running.has(name)) throw new Error(`${name} already runs`);
    const service = ServiceProcess.spawn(name, { env: this.environment });
    this.running.set(name, service);
    try {
      await service.waitReady(timeoutMs);
    } catch (error) {
      // One that exited is forgotten; one that is merely slow is left for stopAll.
      if (!service.running) this.running.delete(name);
      throw error;
    }
  }

  adminUrl(name: ServiceName, route: string): string {
    const service = this.running.get(name);
    if (service?.adminPort === undefined) throw new Error(`${name} is not running`);
    return service.adminUrl(route);
  }

  output(name: ServiceName): string[] {
    return this.running.get(name)?.output ?? [];
  }

  /** SIGKILL: a crash, nothing gets to finish. */
  async kill(name: ServiceName): Promise<void> {
    const service = this.running.get(name);
    if (!service) return;
    await service.kill();
    this.running.delete(name);
  }

  /**
   * SIGTERM: a graceful stop; resolves with the exit code. A service that
   * has not exited after `graceMs` is SIGKILLed and this throws, with the
   * end of its log: a hanging shutdown is a bug.
   */
  async terminate(name: ServiceName, graceMs = 40_000): Promise<number | null> {
    const service = this.running.get(name);
    if (!service) return null;
    this.running.delete(name);
    return (await service.terminate(graceMs)).code;
  }

  async stopAll(): Promise<void> {
    const services = [...this.running.values()];
    this.running.clear();
    await terminateAll(services);
  }
}
