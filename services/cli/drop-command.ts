/**
 * `deltameta drop --table T`: the table's log rows, materialized state and
 * file pages go in one PostgreSQL transaction (shared/log-store, dropTable),
 * which also emits the drop the CDC publishes as `deltameta.drop.v1`; then
 * what Redis holds for it (head pointer, warmed summaries, hot-table entry)
 * is deleted — after the commit, and idempotent, so a failure there is
 * repaired by running the command again (or, for the head pointer, by the
 * invalidator on the drop event).
 *
 * Refused while a refresh, file-pages pass or import of the table runs,
 * unless --force (then it waits for them). Refusing a table that is followed
 * or published comes with issue 13.
 */
import { type Command, Option } from 'commander';
import type { Redis } from 'ioredis';
import { createRedis, unlinkMatching } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { redisKeys } from '../../shared/contracts/index.ts';
import { dropTable } from '../../shared/log-store/index.ts';
import { tableOption, withPool } from './options.ts';

/** Deletes what Redis holds for `table`; safe to repeat. Summaries are keyed by version: one SCAN of the table's. */
async function forgetTableInRedis(redis: Redis, prefix: string, table: string): Promise<number> {
  const keys = redisKeys(prefix);
  // Table names are [A-Za-z0-9_.-] (delta_table's CHECK): no glob character to escape.
  const summaries = await unlinkMatching(redis, keys.summary(table, 0).replace(/0$/, '*'));
  const heads = await redis.unlink(keys.head(table));
  await redis.zrem(keys.hotTables, table);
  return summaries + heads;
}

export function registerDropCommand(program: Command): void {
  program
    .command('drop')
    .description('drop a table: its log, materialized state, file pages and cache entries; subscribers get a deltameta.drop.v1 event')
    .addOption(tableOption())
    .addOption(new Option('--force', 'wait for a running refresh or import of the table instead of refusing'))
    .action(async (options: { table: string; force?: boolean }) => {
      const config = loadConfig();
      const result = await withPool((pool) => dropTable(pool, options.table, { force: options.force === true }));
      const rows = Object.values(result.rowsDeleted).reduce((sum, count) => sum + count, 0);
      const redis = createRedis(config, 'deltameta-cli');
      try {
        const keys = await forgetTableInRedis(redis, config.pipeline.redisPrefix, options.table);
        console.log(`dropped ${result.table} (table_id ${result.tableId}): ${rows} rows, ${keys} cache keys`);
      } finally {
        redis.disconnect();
      }
    });
}
