/** Shared pieces of the benchmark scripts: a scratch database, service processes, percentiles. */
import pg from 'pg';
import { loadConfig, withDatabase, type Config } from '../shared/config/index.ts';
import { startServiceProcesses, type PipelineServiceName } from '../shared/service/index.ts';
import { createPool, migrate } from '../shared/db/index.ts';

async function withAdmin(work: (admin: pg.Client) => Promise<unknown>): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabase(loadConfig().postgresUrl, 'postgres') });
  await admin.connect();
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}

/** Drops a benchmark's database, and any replication slot on it (a benchmark that died may have left a consumer there). */
export async function dropScratchDatabase(name: string): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active`, [name]);
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [name]);
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}

/** Creates (fresh) and migrates a database for a benchmark; returns its URL. */
export async function scratchDatabase(name: string): Promise<string> {
  await dropScratchDatabase(name);
  await withAdmin((admin) => admin.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(loadConfig().postgresUrl, name);
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
  /** the reader's API port, when a reader was started */
  readerPort(): number | undefined;
  stop(): Promise<void>;
}

/** Runs the pipeline services as processes with names unique to this run; warnings and errors go to stderr. */
export async function startServices(postgresUrl: string, names: readonly PipelineServiceName[], run: string): Promise<BenchServices> {
  return startServiceProcesses(postgresUrl, names, `bench-${run}`, {
    onLine: (service, line, level) => {
      if (level >= 40) process.stderr.write(`${service} | ${line}\n`);
    },
  });
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
