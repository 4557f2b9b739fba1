/**
 * The chaos run's services: several instances of each, as child processes
 * (ServiceProcess), each with an id like `reader#2` and a generation that
 * grows with every restart. Faults act on instances: SIGKILL and start
 * again, SIGSTOP and SIGCONT. Ports are chosen by the OS (0) and read from
 * each process's log line, so a restarted reader may answer on a new port.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { ServiceProcess, type PipelineServiceName } from '../service/index.ts';

export type InstanceCounts = Partial<Record<PipelineServiceName, number>>;

export class Instance {
  process: ServiceProcess | undefined;
  generation = 0;
  paused = false;
  /** while a fault kills it (not a crash) */
  killing = false;

  private logFile: WriteStream | undefined;

  /** `logDir`: each instance's output goes on to `<service>-<index>.log` there, across restarts. */
  constructor(readonly service: PipelineServiceName, readonly index: number, private readonly env: NodeJS.ProcessEnv, private readonly logDir?: string) {}

  get id(): string {
    return `${this.service}#${this.index}`;
  }

  /** The API port of a running reader or committer. */
  get apiPort(): number | undefined {
    return this.process?.running && !this.paused ? this.process.apiPort : undefined;
  }

  start(): ServiceProcess {
    this.generation++;
    this.paused = false;
    this.killing = false;
    if (this.logDir !== undefined && this.logFile === undefined) {
      mkdirSync(this.logDir, { recursive: true });
      this.logFile = createWriteStream(path.join(this.logDir, `${this.service}-${this.index}.log`), { flags: 'a' });
    }
    const file = this.logFile;
    file?.write(`--- ${new Date().toISOString()} start ${this.generation}\n`);
    this.process = ServiceProcess.spawn(this.service, {
      env: { ...this.env, DELTAMETA_INSTANCE: this.id }, recentLines: 200, ...(file ? { onLine: (line: string) => file.write(`${line}\n`) } : {}),
    });
    return this.process;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await this.process?.waitReady(timeoutMs);
  }

  /** SIGKILL: no graceful stop, nothing flushed. */
  async kill(): Promise<void> {
    this.killing = true;
    if (this.paused) this.process?.signal('SIGCONT');
    this.paused = false;
    await this.process?.kill();
  }

  pause(): void {
    this.process?.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.process?.signal('SIGCONT');
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.killing = true;
    if (this.paused) this.resume();
    await this.process?.terminate(20_000).catch(() => this.process?.kill());
    this.logFile?.end();
  }

  /** The last lines it logged (for a violation's report). */
  tail(lines = 15): string[] {
    return this.process?.output.slice(-lines) ?? [];
  }
}

export class Fleet {
  readonly instances: Instance[] = [];

  constructor(counts: InstanceCounts, env: NodeJS.ProcessEnv, logDir?: string) {
    const ports = { DELTAMETA_READER_PORT: '0', DELTAMETA_COMMITTER_PORT: '0' };
    for (const [service, count] of Object.entries(counts) as Array<[PipelineServiceName, number]>) {
      const admin = { [`DELTAMETA_${service.toUpperCase()}_ADMIN_PORT`]: '0' };
      for (let index = 1; index <= count; index++) this.instances.push(new Instance(service, index, { ...env, ...ports, ...admin }, logDir));
    }
  }

  of(service: PipelineServiceName): Instance[] {
    return this.instances.filter((instance) => instance.service === service);
  }

  /** Starts them all; the CDC's standby instances are waited for like the rest (their /readyz answers while standing by). */
  async start(readyTimeoutMs = 120_000): Promise<void> {
    for (const instance of this.instances) instance.start();
    const deadline = Date.now() + readyTimeoutMs;
    for (const instance of this.instances) await instance.waitReady(Math.max(1000, deadline - Date.now()));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.instances.map((instance) => instance.stop()));
  }

  /**
   * Instances that exited without a fault asking them to (a crash the run
   * must report), started again so the run goes on.
   */
  restartCrashed(): string[] {
    const crashed = this.instances.filter((instance) => instance.process !== undefined && !instance.process.running && !instance.killing);
    for (const instance of crashed) instance.start();
    return crashed.map((instance) => `${instance.id} exited on its own: ${instance.tail(8).join(' | ')}`);
  }

  /** The instances that serve HTTP for `service` right now. */
  ports(service: 'reader' | 'committer'): Array<{ id: string; port: number }> {
    return this.of(service).flatMap((instance) => (instance.apiPort === undefined ? [] : [{ id: instance.id, port: instance.apiPort }]));
  }
}
