/** Shared pieces of the benchmark scripts: a scratch database, service processes, percentiles. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { loadConfig, projectRoot, withDatabase, type Config } from '../shared/config/index.ts';
import { createPool, migrate } from '../shared/db/index.ts';

/** Creates (fresh) and migrates a database for a benchmark; returns its URL. */
export async function scratchDatabase(name: string): Promise<string> {
  const config = loadConfig();
  const admin = new pg.Client({ connectionString: withDatabase(config.postgresUrl, 'postgres') });
  await admin.connect();
  try {
    // A benchmark that died may have left a consumer on its slot.
    await admin.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active`, [name]);
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [name]);
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(config.postgresUrl, name);
  const pool = createPool(url, { max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return url;
}

export interface BenchServices {
  readonly config: Config;
  stop(): Promise<void>;
}

/** Runs the pipeline services as processes with names unique to this run. */
export async function startServices(postgresUrl: string, names: readonly string[], run: string): Promise<BenchServices> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DELTAMETA_PG_URL: postgresUrl,
    DELTAMETA_SLOT_NAME: `bench_${run}`,
    DELTAMETA_PUBLICATION_NAME: `bench_${run}`,
    DELTAMETA_COMMITS_TOPIC: `bench-${run}-commits`,
    DELTAMETA_DEAD_LETTER_TOPIC: `bench-${run}-dlq`,
    DELTAMETA_CONSUMER_GROUP: `bench-${run}`,
    DELTAMETA_REFRESH_QUEUE: `bench-${run}-refresh`,
    DELTAMETA_MAINTENANCE_QUEUE: `bench-${run}-maintenance`,
    DELTAMETA_REDIS_PREFIX: `bench:${run}:`,
    DELTAMETA_CDC_ADMIN_PORT: '0',
    DELTAMETA_INVALIDATOR_ADMIN_PORT: '0',
    DELTAMETA_REFRESHER_ADMIN_PORT: '0',
    DELTAMETA_READER_ADMIN_PORT: '0',
    DELTAMETA_LOG_LEVEL: 'info',
  };
  const config = loadConfig(env);
  const children: ChildProcess[] = [];
  const ports = new Map<string, number>();
  for (const name of names) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'services', name, 'main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        const port = /"adminPort":(\d+)/.exec(line)?.[1];
        if (port) ports.set(name, Number(port));
        // pino levels: 40 warn and up are worth showing during a benchmark.
        const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 50);
        if (level >= 40) process.stderr.write(`${name} | ${line}\n`);
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
  // A benchmark that throws must not leave services running.
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));
  const deadline = Date.now() + 60_000;
  for (const name of names) {
    for (;;) {
      const port = ports.get(name);
      const ready = port !== undefined && (await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.ok, () => false));
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`${name} did not become ready`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { config, stop };
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
