/**
 * `deltameta demo`: brings the stack up and walks through what exists so
 * far. It grows with the system: each piece that lands adds its step.
 */
import type { Config } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { formatStatus, stackUp } from '../../shared/stack/index.ts';

export async function runDemo(config: Config): Promise<void> {
  console.log('deltameta demo\n');
  console.log('1. The local stack (PostgreSQL with logical replication, Redis, Kafka in KRaft mode):');
  console.log(formatStatus(await stackUp(config)));
  const pool = createPool(config.postgresUrl, { max: 1 });
  try {
    const { applied } = await migrate(pool);
    console.log(`\n2. Schema: ${applied.length > 0 ? `applied ${applied.join(', ')}` : 'up to date'}.`);
    const { rows } = await pool.query<{ wal_level: string }>('SHOW wal_level');
    console.log(`   PostgreSQL wal_level=${rows[0]?.wal_level ?? '?'}`);
  } finally {
    await pool.end();
  }
  console.log('\nThe stack keeps running; `npx deltameta stack down` stops it.');
}
