/**
 * The table and readers the reader's hardening suites (limits, floods) attack:
 * a generated 300-file table imported with its history and materialized to
 * version 3 of 5 (a tail to merge), file pages built small; readers started
 * on demand and stopped after the suite; and the probes of what the reader
 * does in PostgreSQL. Registers its own before/after hooks.
 */
import type { Pool } from '../../shared/db/index.ts';
import { generateTable } from '../../shared/delta/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { refreshFilePages, refreshTable } from '../../shared/materialized/index.ts';
import type { TestEnv } from './env.ts';
import { startTestReader, type RunningReader } from './reader.ts';
import { TempDirs } from './tables.ts';

export interface ReaderFixture {
  /** the version the table is materialized to (its head is 5) */
  readonly mv: number;
  readonly pool: Pool;
  readonly launch: (overrides: Record<string, string>, keySuffix: string) => Promise<RunningReader>;
  /** reader sessions of the suite's database doing something other than waiting for work */
  readonly busyReaderBackends: () => Promise<Array<{ state: string; query: string }>>;
  /** runs `work` with file_index locked: a reader query that reaches it blocks inside its snapshot (until its statement timeout) */
  readonly withFileIndexLocked: <T>(work: () => Promise<T>) => Promise<T>;
}

export function useReaderFixture(env: TestEnv, table: string, seed: number): ReaderFixture {
  const dirs = new TempDirs();
  const started: RunningReader[] = [];
  const mv = 3;
  let pool: Pool | undefined;
  const db = (): Pool => {
    if (!pool) throw new Error('the reader fixture is used before its before() hook ran');
    return pool;
  };

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    const dir = dirs.make(table);
    await generateTable(dir, { files: 300, commits: 5, partitions: 4, checkpointInterval: 10, seed });
    await importTable(pool, dir, table, { history: true });
    await refreshTable(pool, table, { upToVersion: mv });
    await refreshFilePages(pool, table, { targetBytes: 16 * 1024 });
  });

  after(async function () {
    this.timeout(30_000);
    for (const running of started.splice(0)) await running.stop();
    await pool?.end();
    dirs.removeAll();
  });

  return {
    mv,
    get pool() {
      return db();
    },
    launch: async (overrides, keySuffix) => {
      const running = await startTestReader(env, overrides, keySuffix);
      started.push(running);
      return running;
    },
    busyReaderBackends: async () => {
      const { rows } = await db().query<{ state: string; query: string }>(
        `SELECT state, query FROM pg_stat_activity
          WHERE datname = $1 AND application_name LIKE 'deltameta-reader%' AND state <> 'idle'`,
        [env.databaseName],
      );
      return rows;
    },
    withFileIndexLocked: async <T>(work: () => Promise<T>): Promise<T> => {
      const locker = await db().connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE deltameta.file_index IN ACCESS EXCLUSIVE MODE');
        return await work();
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        locker.release();
      }
    },
  };
}
