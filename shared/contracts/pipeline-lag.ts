/**
 * How far behind each stage is, measured the same way by the service that
 * exports the gauge and by `deltameta status`.
 */
import type { Admin } from 'kafkajs';
import type { Pool } from 'pg';
import type { Queue } from 'bullmq';

/** serves: pg_replication_slots (a handful of rows) */
const slotLagSql = `
  SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag_bytes
    FROM pg_replication_slots WHERE slot_name = $1`;

export interface SlotLag {
  readonly active: boolean;
  /** WAL bytes between the server's position and the slot's confirmed flush position; null while the slot is being created */
  readonly lagBytes: number | null;
}

/** The slot's lag, or undefined when there is no such slot. */
export async function slotLag(pool: Pool, slotName: string): Promise<SlotLag | undefined> {
  const { rows } = await pool.query<{ active: boolean; lag_bytes: string | null }>(slotLagSql, [slotName]);
  const row = rows[0];
  if (!row) return undefined;
  return { active: row.active, lagBytes: row.lag_bytes === null ? null : Math.max(0, Number(row.lag_bytes)) };
}

/** Messages of `topic` the consumer group has not committed yet, over all partitions. */
export async function consumerLagMessages(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [committed, latest] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
  const done = new Map((committed[0]?.partitions ?? []).map((partition) => [partition.partition, Number(partition.offset)]));
  // A partition the group never committed on reports offset -1: everything up to high is behind.
  return latest.reduce((sum, partition) => sum + Math.max(0, Number(partition.high) - Math.max(0, done.get(partition.partition) ?? 0)), 0);
}

export interface QueueDepth {
  readonly counts: Readonly<Record<'waiting' | 'active' | 'delayed' | 'failed' | 'prioritized', number>>;
  /** age of the oldest waiting job; 0 when none waits */
  readonly oldestWaitingAgeSeconds: number;
}

export async function queueDepth(queue: Queue): Promise<QueueDepth> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
  const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
  return {
    counts: {
      waiting: counts['waiting'] ?? 0, active: counts['active'] ?? 0, delayed: counts['delayed'] ?? 0, failed: counts['failed'] ?? 0, prioritized: counts['prioritized'] ?? 0,
    },
    oldestWaitingAgeSeconds: oldest ? Math.max(0, Date.now() - oldest.timestamp) / 1000 : 0,
  };
}
