/**
 * The migrated template every test database is cloned from. Its name carries
 * a digest of the sql/ files, so a changed migration builds a new template
 * and an unchanged one is reused across runs (CREATE DATABASE … TEMPLATE is
 * a file copy: a few ms, against seconds for migrating each time).
 */
import pg from 'pg';
import { loadConfig, withDatabase } from '../../shared/config/index.ts';
import { createPool, migrate, migrationsDigest } from '../../shared/db/index.ts';
import { isAlive } from './pids.ts';

export function adminUrl(): string {
  return withDatabase(loadConfig().postgresUrl, 'postgres');
}

export async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(), application_name: 'deltameta-test-admin' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export const testDatabasePrefix = 't_';

export async function prepareTemplate(): Promise<string> {
  const template = `deltameta_template_${migrationsDigest()}`;
  return withAdmin(async (admin) => {
    // Serializes concurrent test runs building the same template.
    await admin.query('SELECT pg_advisory_lock(4242)');
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (rowCount === 0) {
        await admin.query(`CREATE DATABASE "${template}"`);
        const pool = createPool(withDatabase(loadConfig().postgresUrl, template), { max: 1 });
        try {
          await migrate(pool);
        } finally {
          await pool.end();
        }
        await admin.query(`ALTER DATABASE "${template}" WITH IS_TEMPLATE true`);
      }
      // Templates of older migrations, and databases of test runs that died, are garbage.
      const { rows } = await admin.query<{ datname: string }>(
        `SELECT datname FROM pg_database
          WHERE (datname LIKE 'deltameta\\_template\\_%' AND datname <> $1) OR datname LIKE $2`,
        [template, `${testDatabasePrefix.replace('_', '\\_')}%`],
      );
      for (const { datname } of rows) {
        const pid = Number(/^t_(\d+)_/.exec(datname)?.[1]);
        if (datname.startsWith(testDatabasePrefix) && Number.isInteger(pid) && isAlive(pid)) continue;
        await admin.query(`ALTER DATABASE "${datname}" WITH IS_TEMPLATE false`).catch(() => undefined);
        await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, [datname]);
        await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      }
    } finally {
      await admin.query('SELECT pg_advisory_unlock(4242)');
    }
    return template;
  });
}
