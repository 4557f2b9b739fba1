/**
 * `deltameta status`: the pipeline at a glance: replication slot lag,
 * consumer lag, queue depth and age, staleness of head pointers, of the
 * materialized state and of the file pages.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../../shared/config/index.ts';
import { createPool } from '../../shared/db/index.ts';
import { HeadPointers } from '../../shared/heads/index.ts';
import { refreshQueue } from '../../shared/queues/index.ts';
import { createRedis } from '../../shared/service/index.ts';

export interface PipelineStatus {
  slot: { name: string; exists: boolean; active: boolean; lagBytes: number | null };
  consumer: { group: string; lagMessages: number | null };
  refreshQueue: { name: string; waiting: number; active: number; failed: number; oldestWaitingAgeSeconds: number };
  tables: Array<{ table: string; head: number; visible: number | null; materialized: number | null; pages: number | null }>;
}

export async function pipelineStatus(config: Config): Promise<PipelineStatus> {
  const pool = createPool(config.postgresUrl, { max: 1, applicationName: 'deltameta-status' });
  const redis = createRedis(config, 'deltameta-status');
  const queue = refreshQueue(config, 'deltameta-status-queue');
  const kafka = new Kafka({ clientId: 'deltameta-status', brokers: [...config.kafkaBrokers], logLevel: logLevel.NOTHING, retry: { retries: 1 } });
  const admin = kafka.admin();
  try {
    const { rows: slots } = await pool.query<{ active: boolean; lag: string | null }>(
      `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1`,
      [config.pipeline.slotName],
    );
    let lagMessages: number | null = null;
    try {
      await admin.connect();
      const [committed, latest] = await Promise.all([
        admin.fetchOffsets({ groupId: config.pipeline.consumerGroup, topics: [config.pipeline.commitsTopic] }),
        admin.fetchTopicOffsets(config.pipeline.commitsTopic),
      ]);
      const done = new Map((committed[0]?.partitions ?? []).map((partition) => [partition.partition, Number(partition.offset)]));
      lagMessages = latest.reduce((sum, partition) => sum + Math.max(0, Number(partition.high) - Math.max(0, done.get(partition.partition) ?? 0)), 0);
    } catch {
      lagMessages = null;
    }
    const counts = await queue.getJobCounts('waiting', 'active', 'failed');
    const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
    const { rows: tables } = await pool.query<{ name: string; head: number; materialized: number | null; pages: number | null }>(
      `SELECT t.name, (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head,
              (SELECT mv_version FROM deltameta.table_state s WHERE s.table_id = t.table_id) AS materialized,
              (SELECT version FROM deltameta.file_page_state p WHERE p.table_id = t.table_id) AS pages
         FROM deltameta.delta_table t ORDER BY t.name`,
    ).catch(() => ({ rows: [] as Array<{ name: string; head: number; materialized: number | null; pages: number | null }> }));
    const heads = new HeadPointers(redis, config.pipeline.redisPrefix);
    const tableRows = await Promise.all(tables.map(async (row) => ({
      table: row.name, head: row.head, visible: (await heads.get(row.name))?.version ?? null, materialized: row.materialized, pages: row.pages,
    })));
    return {
      slot: { name: config.pipeline.slotName, exists: slots.length > 0, active: slots[0]?.active ?? false, lagBytes: slots[0]?.lag ? Number(slots[0].lag) : null },
      consumer: { group: config.pipeline.consumerGroup, lagMessages },
      refreshQueue: {
        name: config.pipeline.refreshQueue, waiting: counts['waiting'] ?? 0, active: counts['active'] ?? 0, failed: counts['failed'] ?? 0,
        oldestWaitingAgeSeconds: oldest ? (Date.now() - oldest.timestamp) / 1000 : 0,
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
    lines.push('', 'table                            head   visible  materialized  file pages');
    for (const table of worst) {
      lines.push(`${table.table.padEnd(32)} ${String(table.head).padStart(5)}  ${String(table.visible ?? '-').padStart(7)}  ${String(table.materialized ?? '-').padStart(12)}  ${String(table.pages ?? '-').padStart(10)}`);
    }
  }
  return lines.join('\n');
}
