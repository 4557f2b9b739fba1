/**
 * The isolation harness itself: each suite gets its own database cloned from
 * the migrated template, and the leak check really fails on a leaked
 * connection (a check that cannot fail would be worse than none).
 */
import { expect } from 'chai';
import pg from 'pg';
import { createPool, migrate, readMigrations } from '../../shared/db/index.ts';
import { MigrationError } from '../../shared/errors/index.ts';
import { TestEnv, describeWithEnv } from '../support/env.ts';

describeWithEnv('test isolation', (env) => {
  it('runs each suite in its own migrated database', async function () {
    const pool = env.pool(1);
    try {
      const { rows } = await pool.query<{ db: string; versions: number[] }>(
        `SELECT current_database() AS db, array_agg(version ORDER BY version) AS versions FROM deltameta.schema_migrations`,
      );
      expect(rows[0]?.db).to.equal(env.databaseName);
      expect(rows[0]?.versions).to.deep.equal(readMigrations().map((migration) => migration.version));
      // Migrating a migrated database is a no-op.
      expect(await migrate(pool)).to.deep.equal({ applied: [] });
    } finally {
      await pool.end();
    }
  });

  it('reports a leaked PostgreSQL connection, Redis client and Kafka client', async function () {
    const inner = new TestEnv('leaky suite');
    await inner.setUp();
    const client = new pg.Client({ connectionString: inner.config.postgresUrl, application_name: 'leaked-on-purpose' });
    await client.connect();
    client.on('error', () => undefined); // tearDown terminates it
    const redis = inner.redis();
    await redis.ping();
    const admin = inner.kafka().admin();
    await admin.connect();
    try {
      const leaks = await inner.tearDown();
      expect(leaks.some((leak) => leak.startsWith('PostgreSQL connection leaked-on-purpose'))).to.equal(true);
      expect(leaks.some((leak) => leak.startsWith(`Redis client ${inner.keyPrefix}`))).to.equal(true);
      expect(leaks.some((leak) => leak.startsWith('Kafka admin'))).to.equal(true);
    } finally {
      await client.end().catch(() => undefined);
      redis.disconnect();
      await admin.disconnect();
    }
  });

  it('rolls back a failing migration and names its file', async function () {
    const { mkdtempSync, writeFileSync, copyFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'migrations-'));
    for (const migration of readMigrations()) copyFileSync(path.join('sql', migration.file), path.join(dir, migration.file));
    const next = String(readMigrations().length + 1).padStart(6, '0');
    writeFileSync(path.join(dir, `${next}_broken.sql`), 'CREATE TABLE deltameta.half_done (id int);\nSELECT no_such_function();\n');
    const pool = createPool(env.config.postgresUrl, { max: 1 });
    try {
      const error = await migrate(pool, dir).then(() => undefined, (caught: unknown) => caught);
      expect(error).to.be.instanceOf(MigrationError);
      expect((error as MigrationError).file).to.equal(`${next}_broken.sql`);
      const { rowCount } = await pool.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'deltameta' AND tablename = 'half_done'`);
      expect(rowCount).to.equal(0);
    } finally {
      await pool.end();
    }
  });
});
