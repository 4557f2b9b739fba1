/** Runs the real CLI (`bin/deltameta.mjs`) as a child process, as a user would, against a suite's database. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';

export const cliPath = path.join(projectRoot, 'bin', 'deltameta.mjs');

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `deltameta <args>` with `env` over this process's environment, `input` on
 * its stdin (closed at once without it); resolves with its exit code and
 * output whatever the code.
 */
export function runDeltameta(args: readonly string[], env: NodeJS.ProcessEnv, input = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(input);
  });
}
