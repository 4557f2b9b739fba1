/**
 * The machine underneath the local stack: running commands, finding
 * binaries, and installing missing Debian packages when we may (root on
 * Debian) or saying exactly what to install when we may not.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { StackError, SystemPackageMissingError } from '../errors/index.ts';

const execFileAsync = promisify(execFile);

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const { stdout, stderr } = await execFileAsync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    timeout: options.timeoutMs ?? 0,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  return { stdout, stderr };
}

/** Runs a command with its output passed through (long installs show their progress). */
export function runVisible(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    // stdout of the child goes to our stderr: callers may be printing NDJSON on stdout.
    const child = spawn(command, args, { stdio: ['ignore', process.stderr, process.stderr], env: env ?? process.env });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new StackError(command, `${command} ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function isDebian(): boolean {
  return existsSync('/etc/debian_version');
}

export function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** apt-get waits this long for a lock another apt run holds (a fresh machine's own updates) instead of failing at once. */
const aptLockWait = ['-o', 'DPkg::Lock::Timeout=300'];
let aptUpdated = false;
/** Installs run one after another: two at once would fight over apt's lock. */
let aptQueue: Promise<unknown> = Promise.resolve();
/** Each package's install, once asked for: a second caller waits for the first instead of running apt again. */
const packageInstalls = new Map<string, Promise<void>>();

/**
 * Installs Debian packages when running as root on Debian; otherwise throws
 * a SystemPackageMissingError that names the packages to install. Concurrent
 * callers (the stack starts its components side by side) share one install
 * per package, run one apt-get at a time.
 */
export async function installSystemPackages(packages: readonly string[], why: string): Promise<void> {
  if (!isRoot() || !isDebian()) throw new SystemPackageMissingError(packages, why);
  const key = [...packages].sort().join(' ');
  const pending = packageInstalls.get(key);
  if (pending) return pending;
  const install = aptQueue.catch(() => undefined).then(async () => {
    process.stderr.write(`deltameta: ${why}; installing ${packages.join(' ')} with apt-get\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!aptUpdated) {
      await runVisible('apt-get', [...aptLockWait, 'update', '-qq'], env);
      aptUpdated = true;
    }
    await runVisible('apt-get', [...aptLockWait, 'install', '-y', '-qq', '--no-install-recommends', ...packages], env);
  });
  aptQueue = install;
  packageInstalls.set(key, install);
  // A failed install may be retried by a later call.
  install.catch(() => packageInstalls.delete(key));
  return install;
}

/** The newest PostgreSQL (15 or later) installed from Debian packages: its bin folder. */
export function findPostgresBinDir(minimumMajor = 15): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .map(Number)
    .filter((major) => Number.isInteger(major) && major >= minimumMajor)
    .sort((a, b) => b - a);
  for (const major of majors) {
    const bin = path.join(root, String(major), 'bin');
    if (existsSync(path.join(bin, 'postgres'))) return bin;
  }
  return undefined;
}

/** Major version of the `java` on PATH, or undefined when there is none. */
export async function javaMajorVersion(javaBinary = 'java'): Promise<number | undefined> {
  try {
    const { stderr, stdout } = await run(javaBinary, ['-version']);
    const match = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
    if (!match?.[1]) return undefined;
    const major = Number(match[1]);
    // Java 8 and older report "1.8".
    return major === 1 ? Number(match[2]) : major;
  } catch {
    return undefined;
  }
}
