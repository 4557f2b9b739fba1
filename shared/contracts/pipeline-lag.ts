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
  const lags = await consumerGroupLags(admin, topic, [groupId]);
  return lags.get(groupId) ?? 0;
}

/**
 * Each group's messages of `topic` not committed yet, summed over partitions,
 * from one read of the topic's latest offsets. A partition the group never
 * committed on (offset -1) counts whole.
 */
export async function consumerGroupLags(admin: Admin, topic: string, groups: Iterable<string>): Promise<Map<string, number>> {
  const latest = await admin.fetchTopicOffsets(topic);
  const lags = new Map<string, number>();
  await Promise.all([...groups].map(async (groupId) => {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const done = new Map((committed?.partitions ?? []).map((partition) => [partition.partition, Number(partition.offset)]));
    lags.set(groupId, latest.reduce((sum, partition) => sum + Math.max(0, Number(partition.high) - Math.max(0, done.get(partition.partition) ?? 0)), 0));
  }));
  return lags;
}

/**
 * The consumer groups with an offset committed on `topic` (the invalidator's,
 * the publisher's, any subscriber's), and always those of `always`. Groups are
 * asked 16 at a time: a broker with thousands of groups is not flooded.
 */
export async function groupsReadingTopic(admin: Admin, topic: string, always: Iterable<string> = []): Promise<Set<string>> {
  const { groups } = await admin.listGroups();
  const found = new Set<string>(always);
  for (let i = 0; i < groups.length; i += 16) {
    await Promise.all(groups.slice(i, i + 16).map(async ({ groupId }) => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      if ((offsets?.partitions ?? []).some((partition) => Number(partition.offset) >= 0)) found.add(groupId);
    }));
  }
  return found;
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
