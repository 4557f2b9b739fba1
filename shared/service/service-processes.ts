/**
 * The pipeline's services as child processes with names unique to one run
 * (slot, publication, topics, group, queues, Redis prefix), admin ports
 * picked by the OS and readiness awaited on /readyz. Used by the demo and the
 * benchmarks, which must not collide with a `deltameta up` on the same stack.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig, projectRoot, type Config } from '../config/index.ts';

export interface ServiceProcesses {
  readonly config: Config;
  readonly adminPorts: ReadonlyMap<string, number>;
  /** the reader's API port, when the reader runs */
  readonly readerPort: () => number | undefined;
  stop(): Promise<void>;
}

export async function startServiceProcesses(
  postgresUrl: string,
  names: readonly string[],
  run: string,
  options: { onLine?: (service: string, line: string, level: number) => void } = {},
): Promise<ServiceProcesses> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DELTAMETA_PG_URL: postgresUrl,
    DELTAMETA_SLOT_NAME: `run_${run}`.toLowerCase().replace(/[^a-z0-9_]/g, '_'),
    DELTAMETA_PUBLICATION_NAME: `run_${run}`.toLowerCase().replace(/[^a-z0-9_]/g, '_'),
    DELTAMETA_COMMITS_TOPIC: `run-${run}-commits`,
    DELTAMETA_DEAD_LETTER_TOPIC: `run-${run}-dlq`,
    DELTAMETA_CONSUMER_GROUP: `run-${run}`,
    DELTAMETA_REFRESH_QUEUE: `run-${run}-refresh`,
    DELTAMETA_MAINTENANCE_QUEUE: `run-${run}-maintenance`,
    DELTAMETA_REDIS_PREFIX: `run:${run}:`,
    DELTAMETA_CDC_ADMIN_PORT: '0',
    DELTAMETA_INVALIDATOR_ADMIN_PORT: '0',
    DELTAMETA_REFRESHER_ADMIN_PORT: '0',
    DELTAMETA_READER_ADMIN_PORT: '0',
    DELTAMETA_READER_PORT: '0',
    DELTAMETA_LOG_LEVEL: 'info',
  };
  const config = loadConfig(env);
  const children: ChildProcess[] = [];
  const adminPorts = new Map<string, number>();
  let readerPort: number | undefined;
  for (const name of names) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'services', name, 'main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        const port = /"adminPort":(\d+)/.exec(line)?.[1];
        if (port) adminPorts.set(name, Number(port));
        const apiPort = name === 'reader' ? /"port":(\d+)/.exec(line)?.[1] : undefined;
        if (apiPort) readerPort = Number(apiPort);
        // pino levels: 30 info, 40 warn; lines that are not pino JSON count as errors.
        options.onLine?.(name, line, Number(/"level":(\d+)/.exec(line)?.[1] ?? 50));
      });
    }
  }
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
      child.once('exit', resolve);
      child.kill('SIGTERM');
    })));
  };
  // Whatever happens to the caller, no service outlives it.
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));
  const deadline = Date.now() + 60_000;
  try {
    for (const name of names) {
      for (;;) {
        const port = adminPorts.get(name);
        const ready = port !== undefined && (await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.ok, () => false));
        if (ready) break;
        if (Date.now() > deadline) throw new Error(`${name} did not become ready within 60 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { config, adminPorts, readerPort: () => readerPort, stop };
}
