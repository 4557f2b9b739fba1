/**
 * Detached daemons and their pid files. A daemon's stdio goes to its log
 * file, never to our terminal: a CI job that waits on its output pipe must
 * not be held open by a broker we left running on purpose.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { StackError } from '../errors/index.ts';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (error) {
    // EPERM: it exists but belongs to another user (postgres runs as `postgres`).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exited daemon whose parent (a `stack up` that has returned, reparented
 * to an init that does not reap) never waited for it stays a zombie: it
 * still answers kill(pid, 0) but is not running.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  // PostgreSQL's postmaster.pid has the pid on its first line, like ours.
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid in `pidFile` when that process still runs. */
export function livePid(pidFile: string): number | undefined {
  const pid = readPid(pidFile);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

export function spawnDaemon(options: {
  command: string;
  args: readonly string[];
  logPath: string;
  pidFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}): number {
  mkdirSync(path.dirname(options.logPath), { recursive: true });
  const logFd = openSync(options.logPath, 'a');
  try {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    if (child.pid === undefined) throw new StackError(path.basename(options.command), `could not start ${options.command}`, { logPath: options.logPath });
    child.unref();
    writeFileSync(options.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}

/** Sends SIGTERM, waits for the process to be gone, SIGKILLs it after `graceMs`. */
export async function stopPid(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'stopped';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await delay(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  while (isAlive(pid)) await delay(50);
  return 'killed';
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}
