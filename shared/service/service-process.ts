/**
 * One pipeline service as a child process (`node --import tsx
 * services/<name>/main.ts`): its recent output, the admin port (and the
 * reader's API port) it announces in its log, readiness on /readyz, and a
 * stop that is SIGTERM with a grace, then SIGKILL. The one way `deltameta
 * up`, the demo, the benchmarks and the test harness start a service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../config/index.ts';
import { DeltametaError, InternalError, TimedOutError } from '../errors/index.ts';
import { waitUntil, WaitTimeoutError } from './wait.ts';

export const pipelineServiceNames = ['cdc', 'invalidator', 'refresher', 'reader'] as const;
/** The services beside the pipeline (issue 13): the follower, the publisher of _delta_log files, the commit API. */
export const sidecarServiceNames = ['follower', 'publisher', 'committer'] as const;
export type PipelineServiceName = (typeof pipelineServiceNames)[number] | (typeof sidecarServiceNames)[number];
const allServiceNames: readonly string[] = [...pipelineServiceNames, ...sidecarServiceNames];

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnServiceOptions {
  /** The whole environment of the child (for an isolated run: `isolatedEnvironment`). */
  env: NodeJS.ProcessEnv;
  /** Each line of stdout and stderr as it comes, with its pino level (a line that is not pino JSON counts as 50, an error). */
  onLine?: (line: string, level: number) => void;
  /** How many of the latest lines `output` keeps. Default 500. */
  recentLines?: number;
  /**
   * In a process group of its own, so a terminal's Ctrl-C reaches only the
   * parent, which passes it on once (`deltameta up`): had the child seen it
   * too, the two SIGINTs would count as a second Ctrl-C and skip the graceful stop.
   */
  ownProcessGroup?: boolean;
}

/** Throws BAD_INPUT for a name that is not one of the pipeline's services. */
export function parsePipelineServices(names: readonly string[]): PipelineServiceName[] {
  for (const name of names) {
    if (!allServiceNames.includes(name)) {
      throw new DeltametaError('BAD_INPUT', `no service named ${JSON.stringify(name)}: expected some of ${allServiceNames.join(', ')}`);
    }
  }
  return names as PipelineServiceName[];
}

// Whatever happens to the parent, no service outlives it: one hook for all children.
const liveChildren = new Set<ChildProcess>();
let killOnExitInstalled = false;
function killOnParentExit(child: ChildProcess): void {
  liveChildren.add(child);
  if (killOnExitInstalled) return;
  killOnExitInstalled = true;
  process.once('exit', () => {
    for (const live of liveChildren) live.kill('SIGKILL');
  });
}

const adminPortPattern = /"adminPort":(\d+)/;
// Only the reader logs `port`, on the same line as its admin port.
const apiPortPattern = /"port":(\d+)/;
const levelPattern = /"level":(\d+)/;

export class ServiceProcess {
  readonly name: PipelineServiceName;
  /** Resolves once the process has exited and its output is read to the end. */
  readonly exited: Promise<ServiceExit>;
  private readonly child: ChildProcess;
  private readonly recent: string[] = [];
  private announcedAdminPort: number | undefined;
  private announcedApiPort: number | undefined;

  private constructor(name: PipelineServiceName, options: SpawnServiceOptions) {
    this.name = name;
    const main = path.join(projectRoot, 'services', name, 'main.ts');
    if (!existsSync(main)) throw new DeltametaError('BAD_INPUT', `no service named ${JSON.stringify(name)} (services/${name}/main.ts)`);
    this.child = spawn(process.execPath, ['--import', 'tsx', main], {
      cwd: projectRoot, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.ownProcessGroup === true,
    });
    killOnParentExit(this.child);
    const keep = options.recentLines ?? 500;
    const onLine = (line: string): void => {
      this.recent.push(line);
      if (this.recent.length > keep) this.recent.shift();
      const adminPort = adminPortPattern.exec(line)?.[1];
      if (adminPort !== undefined) {
        this.announcedAdminPort = Number(adminPort);
        const apiPort = apiPortPattern.exec(line)?.[1];
        if (apiPort !== undefined) this.announcedApiPort = Number(apiPort);
      }
      options.onLine?.(line, Number(levelPattern.exec(line)?.[1] ?? 50));
    };
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', onLine);
    }
    // 'close', not 'exit': by then every line the process wrote has been seen.
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        liveChildren.delete(this.child);
        resolve({ code, signal });
      });
    });
    this.child.once('error', (error) => onLine(`failed to start ${name}: ${error.message}`));
  }

  static spawn(name: PipelineServiceName, options: SpawnServiceOptions): ServiceProcess {
    return new ServiceProcess(name, options);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The latest lines of its stdout and stderr, oldest first. */
  get output(): string[] {
    return this.recent;
  }

  /** The admin port it logged (`"adminPort":N`), once it has. */
  get adminPort(): number | undefined {
    return this.announcedAdminPort;
  }

  /** The reader's /v1 API port, once it has logged it. */
  get apiPort(): number | undefined {
    return this.announcedApiPort;
  }

  adminUrl(route: string): string {
    if (this.announcedAdminPort === undefined) throw new InternalError(`${this.name} has not announced its admin port`);
    return `http://127.0.0.1:${this.announcedAdminPort}${route}`;
  }

  /** Resolves when /readyz answers 200; throws, with the end of its log, if it exits first or the time runs out. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    try {
      await waitUntil(`${this.name} ready`, async () => {
        if (this.announcedAdminPort === undefined) return false;
        const response = await fetch(this.adminUrl('/readyz'));
        await response.body?.cancel();
        return response.ok;
      }, { timeoutMs, intervalMs: 50, whileAlive: () => this.running });
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
      if (error.reason === 'gone') {
        const exit = await this.exited;
        throw new InternalError(`${this.name} exited with ${exit.code ?? exit.signal}:\n${this.tail()}`, { cause: error });
      }
      throw new TimedOutError(`${this.name} not ready after ${timeoutMs} ms:\n${this.tail()}`, { cause: error });
    }
  }

  /** Passes a signal on (`deltameta up` forwarding Ctrl-C); does nothing once it has exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL: a crash, nothing gets to finish. */
  async kill(): Promise<ServiceExit> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /**
   * SIGTERM: a graceful stop. A service still running after `graceMs` is
   * SIGKILLed and this throws with the end of its log: a hanging shutdown is a bug.
   */
  async terminate(graceMs = 40_000): Promise<ServiceExit> {
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<'overran'>((resolve) => {
      timer = setTimeout(() => resolve('overran'), graceMs);
    });
    const outcome = await Promise.race([this.exited, overran]);
    clearTimeout(timer);
    if (outcome !== 'overran') return outcome;
    await this.kill();
    throw new TimedOutError(`${this.name} did not stop within ${graceMs} ms of SIGTERM:\n${this.tail()}`);
  }

  private tail(lines = 30): string {
    return this.recent.slice(-lines).join('\n');
  }
}
