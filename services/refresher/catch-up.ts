/**
 * The safety net under the event path: every table's head pointer is
 * moved forward to its log's head (forward-only, so racing the
 * invalidator is harmless; a lost event leaves the materialized state
 * caught up by the refresh that aims at the log's head, but not the
 * pointer), and every table whose materialized state (or file pages, or
 * Arrow segments) is behind its log gets a refresh job. Events are the
 * fast path; this bounds what a lost event, a recreated slot, a flushed
 * Redis or a pre-existing table can cost to one interval.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../shared/config/index.ts';
import { HeadPointers, refreshJobName, refreshJobOptions } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';

export interface CatchUpDeps {
  readonly pool: Pool;
  /** the pipeline's Redis: head pointers */
  readonly redis: Redis;
  readonly queue: Queue;
  readonly config: Config;
  readonly logger: Logger;
}

/** How many tables were behind (each given a refresh job). */
export async function catchUpTables(deps: CatchUpDeps): Promise<number> {
  // serves: delta_commit primary key (max per table), table_state, file_page_state and file_arrow_segment_state primary keys
  const { rows } = await deps.pool.query<{ table_id: number; name: string; head: number; timestamp_ms: number; behind: boolean }>(
    `SELECT t.table_id, t.name, c.version AS head, c.timestamp_ms,
            (s.mv_version IS NULL OR s.mv_version < c.version
             OR ($1 AND (p.version IS NULL OR p.version < s.mv_version))
             OR ($2 AND s.num_files >= $3 AND a.version IS DISTINCT FROM p.version)) AS behind
       FROM deltameta.delta_table t
       CROSS JOIN LATERAL (SELECT version, timestamp_ms FROM deltameta.delta_commit c
                            WHERE c.table_id = t.table_id ORDER BY version DESC LIMIT 1) c
       LEFT JOIN deltameta.table_state s ON s.table_id = t.table_id
       LEFT JOIN deltameta.file_page_state p ON p.table_id = t.table_id
       LEFT JOIN deltameta.file_arrow_segment_state a ON a.table_id = t.table_id`,
    [deps.config.pipeline.filePages, deps.config.pipeline.filePages && deps.config.pipeline.arrowSegments, deps.config.pipeline.arrowSegmentsMinFiles],
  );
  const heads = new HeadPointers(deps.redis, deps.config.pipeline.redisPrefix);
  let moved = 0;
  // 500 moves a pipeline: one round trip each, whatever the number of tables.
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500).map((row) => ({ table: row.name, version: row.head, committedAt: new Date(row.timestamp_ms).toISOString() }));
    moved += (await heads.advanceMany(batch)).filter(Boolean).length;
  }
  const behind = rows.filter((row) => row.behind);
  for (const row of behind) {
    await deps.queue.add(refreshJobName, { table: row.name, tableId: row.table_id, version: row.head, committedAt: new Date(row.timestamp_ms).toISOString() }, refreshJobOptions(row.name));
  }
  if (behind.length > 0 || moved > 0) deps.logger.info({ tables: behind.length, headPointersMoved: moved }, 'catch-up: enqueued refreshes for tables behind their log');
  return behind.length;
}
