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
import { createCacheRedis, createRedis, unlinkMatching } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { HeadPointers, redisKeys } from '../../shared/contracts/index.ts';
import { dropTable } from '../../shared/log-store/index.ts';
import { waitUntil } from '../../shared/service/index.ts';
import { tableOption, withPool } from './options.ts';

/**
 * Deletes what Redis holds for `table`; safe to repeat. The head pointer and
 * hot-table entry are on the pipeline's instance; warmed summaries on the
 * cache's (one SCAN: they are keyed by table id and version). Summaries are
 * keyed by table id too, so a table created again under the name could never
 * be answered from the old one's even if this step never ran.
 */
async function forgetTableInRedis(redis: Redis, cacheRedis: Redis, prefix: string, table: string, tableId: number): Promise<number> {
  const keys = redisKeys(prefix);
  let summaries = 0;
  try {
    // The cache client has no offline queue: wait (bounded) for its connection.
    await waitUntil('the cache instance', () => cacheRedis.status === 'ready', { timeoutMs: 5_000, intervalMs: 20 });
    summaries = await unlinkMatching(cacheRedis, keys.summaryPattern(table));
  } catch (error) {
    // Keyed by table id, they can never answer a table created again under the name; their TTL removes them.
    console.error(`deltameta: the cache instance did not answer (${error instanceof Error ? error.message : String(error)}); ${table}'s warmed summaries expire by their TTL`);
  }
  const heads = await redis.exists(keys.head(table));
  await new HeadPointers(redis, prefix).forget(table, tableId);
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
      const cacheRedis = createCacheRedis(config, 'deltameta-cli-cache');
      try {
        const keys = await forgetTableInRedis(redis, cacheRedis, config.pipeline.redisPrefix, options.table, result.tableId);
        console.log(`dropped ${result.table} (table_id ${result.tableId}): ${rows} rows, ${keys} cache keys`);
      } finally {
        redis.disconnect();
        cacheRedis.disconnect();
      }
    });
}
