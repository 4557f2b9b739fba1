/** redis: the pipeline's instance (BullMQ, head pointers); redis-cache: the cache's (the reader's L2), see redis.ts. */
export type ServiceName = 'postgres' | 'redis' | 'redis-cache' | 'kafka';

export const serviceNames: readonly ServiceName[] = ['postgres', 'redis', 'redis-cache', 'kafka'];

/**
 * running: started by this stack and healthy; reused: something else answers
 * on the port and passed our health check (a docker-compose stack, a
 * system service), so we use it and never stop it; stopped: nothing there;
 * unhealthy: our process runs but does not answer.
 */
export type ServiceState = 'running' | 'reused' | 'stopped' | 'unhealthy';

export interface ServiceStatus {
  readonly service: ServiceName;
  readonly state: ServiceState;
  readonly address: string;
  readonly pid: number | undefined;
  readonly logPath: string;
  readonly dataDir: string;
  readonly detail?: string;
  /** A service of several processes (a Kafka cluster): each one, shown beneath it by `stack status`. */
  readonly nodes?: readonly ServiceNodeStatus[];
}

export interface ServiceNodeStatus {
  readonly name: string;
  readonly state: ServiceState;
  readonly address: string;
  readonly pid: number | undefined;
  readonly logPath: string;
  readonly detail?: string;
}

export interface StackService {
  readonly name: ServiceName;
  up(): Promise<ServiceStatus>;
  down(): Promise<ServiceStatus>;
  status(): Promise<ServiceStatus>;
}
