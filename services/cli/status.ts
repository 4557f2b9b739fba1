/**
 * `deltameta status`: the pipeline at a glance: replication slot lag,
 * consumer lag, queue depth and age, staleness of head pointers, of the
 * materialized state and of the file pages.
 */
import { createKafka, createRedis } from '../../shared/clients/index.ts';
import type { Config } from '../../shared/config/index.ts';
import { consumerLagMessages, HeadPointers, queueDepth, refreshQueue, slotLag } from '../../shared/contracts/index.ts';
import { createPool } from '../../shared/db/index.ts';

export interface PipelineStatus {
  slot: { name: string; exists: boolean; active: boolean; lagBytes: number | null };
  consumer: { group: string; lagMessages: number | null };
  refreshQueue: { name: string; waiting: number; active: number; failed: number; oldestWaitingAgeSeconds: number };
  tables: Array<{ table: string; head: number; visible: number | null; materialized: number | null; pages: number | null; segments: number | null }>;
}

interface TableVersions { name: string; head: number; materialized: number | null; pages: number | null; segments: number | null }

// serves: delta_commit primary key (table_id, version) for max(version), table_state, file_page_state and file_arrow_segment_state primary keys
const tableVersionsSql = `
  SELECT t.name, (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head,
         (SELECT mv_version FROM deltameta.table_state s WHERE s.table_id = t.table_id) AS materialized,
         (SELECT version FROM deltameta.file_page_state p WHERE p.table_id = t.table_id) AS pages,
         (SELECT version FROM deltameta.file_arrow_segment_state a WHERE a.table_id = t.table_id) AS segments
    FROM deltameta.delta_table t ORDER BY t.name`;

export async function pipelineStatus(config: Config): Promise<PipelineStatus> {
  const pool = createPool(config.postgresUrl, { max: 1, applicationName: 'deltameta-status' });
  const redis = createRedis(config, 'deltameta-status');
  const queue = refreshQueue(config, 'deltameta-status-queue');
  const kafka = createKafka({ clientId: 'deltameta-status', brokers: config.kafkaBrokers, retry: { retries: 1 } });
  const admin = kafka.admin();
  try {
    const slot = await slotLag(pool, config.pipeline.slotName);
    let lagMessages: number | null = null;
    try {
      await admin.connect();
      lagMessages = await consumerLagMessages(admin, config.pipeline.consumerGroup, config.pipeline.commitsTopic);
    } catch {
      lagMessages = null;
    }
    const depth = await queueDepth(queue);
    // Before `migrate` there are no tables to report.
    const { rows: tables } = await pool.query<TableVersions>(tableVersionsSql).catch(() => ({ rows: [] as TableVersions[] }));
    const heads = new HeadPointers(redis, config.pipeline.redisPrefix);
    const tableRows = await Promise.all(tables.map(async (row) => ({
      table: row.name, head: row.head, visible: (await heads.get(row.name))?.version ?? null, materialized: row.materialized, pages: row.pages, segments: row.segments,
    })));
    return {
      slot: { name: config.pipeline.slotName, exists: slot !== undefined, active: slot?.active ?? false, lagBytes: slot?.lagBytes ?? null },
      consumer: { group: config.pipeline.consumerGroup, lagMessages },
      refreshQueue: {
        name: config.pipeline.refreshQueue, waiting: depth.counts.waiting, active: depth.counts.active, failed: depth.counts.failed,
        oldestWaitingAgeSeconds: depth.oldestWaitingAgeSeconds,
      },
      tables: tableRows,
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
    await queue.close();
    redis.disconnect();
    await pool.end();
  }
}

export function formatPipelineStatus(status: PipelineStatus): string {
  const lines = [
    `replication slot ${status.slot.name}: ${status.slot.exists ? `${status.slot.active ? 'active' : 'inactive'}, lag ${status.slot.lagBytes ?? '?'} bytes` : 'not created yet'}`,
    `consumer group ${status.consumer.group}: lag ${status.consumer.lagMessages ?? '?'} messages`,
    `refresh queue ${status.refreshQueue.name}: ${status.refreshQueue.waiting} waiting (oldest ${status.refreshQueue.oldestWaitingAgeSeconds.toFixed(1)} s), ${status.refreshQueue.active} active, ${status.refreshQueue.failed} failed`,
  ];
  const staleVisible = status.tables.filter((table) => table.visible !== table.head).length;
  const staleMaterialized = status.tables.filter((table) => table.materialized !== table.head).length;
  const stalePages = status.tables.filter((table) => table.pages !== table.head).length;
  lines.push(`tables: ${status.tables.length}; head pointer behind the log: ${staleVisible}; materialized state behind: ${staleMaterialized}; file pages behind: ${stalePages}`);
  const worst = [...status.tables].sort((a, b) => (b.head - (b.materialized ?? -1)) - (a.head - (a.materialized ?? -1))).slice(0, 10);
  if (worst.length > 0) {
    // Arrow segments: '-' for a table without (under DELTAMETA_ARROW_SEGMENTS_MIN_FILES files, or off).
    lines.push('', 'table                            head   visible  materialized  file pages  arrow segments');
    for (const table of worst) {
      lines.push(`${table.table.padEnd(32)} ${String(table.head).padStart(5)}  ${String(table.visible ?? '-').padStart(7)}  ${String(table.materialized ?? '-').padStart(12)}  ${String(table.pages ?? '-').padStart(10)}  ${String(table.segments ?? '-').padStart(14)}`);
    }
  }
  return lines.join('\n');
}
