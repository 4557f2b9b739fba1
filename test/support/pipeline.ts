/**
 * Runs the pipeline's services as real child processes
 * (`node --import tsx services/<name>/main.ts`) against a suite's isolated
 * environment: its database, its own slot, publication, topics, consumer
 * group, queues and Redis prefix, admin ports picked by the OS. Tests can
 * SIGKILL and restart any of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot, type Config } from '../../shared/config/index.ts';
import type { TestEnv } from './env.ts';

export type ServiceName = 'cdc' | 'invalidator' | 'refresher' | 'reader';

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  adminPort: number | undefined;
  readonly output: string[];
}

export class PipelineHarness {
  private readonly running = new Map<ServiceName, Running>();
  readonly environment: NodeJS.ProcessEnv;
  readonly config: Config;

  constructor(env: TestEnv, overrides: NodeJS.ProcessEnv = {}) {
    const slug = env.id.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    this.environment = {
      ...process.env,
      DELTAMETA_PG_URL: env.config.postgresUrl,
      DELTAMETA_SLOT_NAME: `s_${slug}`.slice(0, 63),
      DELTAMETA_PUBLICATION_NAME: `p_${slug}`.slice(0, 63),
      DELTAMETA_COMMITS_TOPIC: env.topic('commits'),
      DELTAMETA_DEAD_LETTER_TOPIC: env.topic('dlq'),
      DELTAMETA_CONSUMER_GROUP: env.topic('group'),
      DELTAMETA_REFRESH_QUEUE: env.queueName('refresh'),
      DELTAMETA_MAINTENANCE_QUEUE: env.queueName('maintenance'),
      DELTAMETA_REDIS_PREFIX: env.keyPrefix,
      DELTAMETA_CDC_ADMIN_PORT: '0',
      DELTAMETA_INVALIDATOR_ADMIN_PORT: '0',
      DELTAMETA_REFRESHER_ADMIN_PORT: '0',
      DELTAMETA_READER_ADMIN_PORT: '0',
      DELTAMETA_READER_PORT: '0',
      DELTAMETA_LOG_LEVEL: 'info',
      ...overrides,
    };
    this.config = {
      ...env.config,
      pipeline: {
        ...env.config.pipeline,
        slotName: this.environment['DELTAMETA_SLOT_NAME'] as string,
        publicationName: this.environment['DELTAMETA_PUBLICATION_NAME'] as string,
        commitsTopic: env.topic('commits'),
        deadLetterTopic: env.topic('dlq'),
        consumerGroup: env.topic('group'),
        refreshQueue: env.queueName('refresh'),
        maintenanceQueue: env.queueName('maintenance'),
        redisPrefix: env.keyPrefix,
      },
    };
  }

  /** Starts a service and waits until its admin port says it is ready. */
  async start(name: ServiceName, timeoutMs = 60_000): Promise<void> {
    if (this.running.has(name)) throw new Error(`${name} already runs`);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'services', name, 'main.ts')], {
      cwd: projectRoot, env: this.environment, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const running: Running = {
      child,
      adminPort: undefined,
      output: [],
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    this.running.set(name, running);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        running.output.push(line);
        if (running.output.length > 500) running.output.shift();
        const port = /"adminPort":(\d+)/.exec(line)?.[1];
        if (port) running.adminPort = Number(port);
      });
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.running.delete(name);
        throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}:\n${running.output.slice(-30).join('\n')}`);
      }
      if (running.adminPort !== undefined) {
        const response = await fetch(`http://127.0.0.1:${running.adminPort}/readyz`).catch(() => undefined);
        if (response?.status === 200) return;
      }
      if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs} ms:\n${running.output.slice(-30).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  adminUrl(name: ServiceName, route: string): string {
    const port = this.running.get(name)?.adminPort;
    if (port === undefined) throw new Error(`${name} is not running`);
    return `http://127.0.0.1:${port}${route}`;
  }

  output(name: ServiceName): string[] {
    return this.running.get(name)?.output ?? [];
  }

  /** SIGKILL: a crash, nothing gets to finish. */
  async kill(name: ServiceName): Promise<void> {
    const running = this.running.get(name);
    if (!running) return;
    running.child.kill('SIGKILL');
    await running.exited;
    this.running.delete(name);
  }

  /**
   * SIGTERM: a graceful stop; resolves with the exit code. A service that
   * has not exited after `graceMs` is SIGKILLed and this throws, with the
   * end of its log: a hanging shutdown is a bug.
   */
  async terminate(name: ServiceName, graceMs = 40_000): Promise<number | null> {
    const running = this.running.get(name);
    if (!running) return null;
    running.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([running.exited, timedOut]);
    clearTimeout(timer);
    this.running.delete(name);
    if (outcome === 'timeout') {
      running.child.kill('SIGKILL');
      await running.exited;
      throw new Error(`${name} did not stop within ${graceMs} ms of SIGTERM:\n${running.output.slice(-30).join('\n')}`);
    }
    return outcome;
  }

  async stopAll(): Promise<void> {
    const results = await Promise.allSettled([...this.running.keys()].map((name) => this.terminate(name)));
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    if (failures.length > 0) throw new Error(failures.join('\n\n'));
  }
}
