/**
 * `deltameta up`: runs the services against the stack as child processes,
 * each line of their logs prefixed with the service's name; SIGTERM/SIGINT
 * is passed on and `up` exits when they have all stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot, type Config } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { formatStatus, stackUp } from '../../shared/stack/index.ts';

export const pipelineServices = ['cdc', 'invalidator', 'refresher', 'reader'] as const;

export async function runServices(config: Config, names: readonly string[]): Promise<number> {
  console.error(formatStatus(await stackUp(config)));
  const pool = createPool(config.postgresUrl, { max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  const wanted = names.length > 0 ? names : pipelineServices.filter((name) => existsSync(path.join(projectRoot, 'services', name, 'main.ts')));
  const children = new Map<string, ChildProcess>();
  const exits: Array<Promise<number>> = [];
  for (const name of wanted) {
    const main = path.join(projectRoot, 'services', name, 'main.ts');
    if (!existsSync(main)) throw new Error(`no service named ${JSON.stringify(name)} (services/${name}/main.ts)`);
    const child = spawn(process.execPath, ['--import', 'tsx', main], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    children.set(name, child);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${name.padEnd(11)} | ${line}\n`));
    }
    exits.push(new Promise((resolve) => child.on('exit', (code, signal) => {
      process.stdout.write(`${name.padEnd(11)} | exited (${code ?? signal})\n`);
      resolve(code ?? 1);
    })));
  }
  const forward = (signal: NodeJS.Signals): void => {
    for (const child of children.values()) child.kill(signal);
  };
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  const codes = await Promise.all(exits);
  process.off('SIGTERM', forward);
  process.off('SIGINT', forward);
  return codes.some((code) => code !== 0) ? 1 : 0;
}
