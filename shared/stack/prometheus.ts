/**
 * A Prometheus for the tests and for looking at a local run: Debian's
 * `prometheus` package (2.42, with `promtool`), installed when missing, run
 * as a child process on a free port with a given configuration and a data
 * folder under the stack folder. The alert rules and their unit tests are in
 * infra/prometheus/ (docs/operations.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { findOnPath, installSystemPackages, run, type CommandResult } from './system.ts';

export interface PrometheusBinaries {
  readonly prometheus: string;
  readonly promtool: string;
}

const why = 'the alert rules are checked and evaluated by a real Prometheus (infra/prometheus)';

/** `prometheus` and `promtool`, from PATH or /usr/bin; Debian's package is installed when either is missing. */
export async function ensurePrometheus(): Promise<PrometheusBinaries> {
  // Debian puts both in /usr/bin; PATH may not (a trimmed test environment).
  const find = (name: string): string | undefined => findOnPath(name) ?? (existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : undefined);
  let prometheus = find('prometheus');
  let promtool = find('promtool');
  if (!prometheus || !promtool) {
    await installSystemPackages(['prometheus'], why);
    prometheus = find('prometheus') ?? '/usr/bin/prometheus';
    promtool = find('promtool') ?? '/usr/bin/promtool';
  }
  return { prometheus, promtool };
}

/** Runs promtool with `args` (check rules, check config, test rules); throws with its output when it fails. */
export async function runPromtool(args: readonly string[], cwd?: string): Promise<CommandResult> {
  const { promtool } = await ensurePrometheus();
  try {
    return await run(promtool, args, { cwd, timeoutMs: 120_000 });
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new StackError('prometheus', `promtool ${args.join(' ')} failed:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`, { cause: error });
  }
}

/** A port nobody listens on now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface PrometheusOptions {
  /** The prometheus.yml to run with (its rule_files relative to its own folder). */
  readonly configFile: string;
  /** The name of this run's folder under `<stackDir>/prometheus/`: its TSDB and log. */
  readonly name: string;
  /** Default: a free port. */
  readonly port?: number;
  readonly startTimeoutMs?: number;
}

export interface RunningPrometheus {
  readonly url: string;
  readonly port: number;
  readonly logPath: string;
  /** The end of its log, for a failing test's message. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** Starts Prometheus and waits until /-/ready answers. */
export async function startPrometheus(config: Config, options: PrometheusOptions): Promise<RunningPrometheus> {
  const { prometheus } = await ensurePrometheus();
  const dir = path.join(config.stackDir, 'prometheus', options.name);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const logPath = path.join(dir, 'prometheus.log');
  const port = options.port ?? (await freePort());
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(prometheus, [
      `--config.file=${path.resolve(options.configFile)}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
      '--log.level=info',
    ], { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const logTail = (lines = 30): string => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    if (exited) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  try {
    await waitUntil('prometheus /-/ready', async () => (await fetch(`${url}/-/ready`)).ok, {
      timeoutMs: options.startTimeoutMs ?? 30_000,
      whileAlive: () => !exited,
    });
  } catch (error) {
    await stop();
    throw new StackError('prometheus', `prometheus did not start: ${(error as Error).message}\n${logTail()}`, { logPath, cause: error });
  }
  return { url, port, logPath, logTail, stop };
}
