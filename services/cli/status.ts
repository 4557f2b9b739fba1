/**
 * `deltameta status`: the pipeline at a glance: replication slot lag,
 * consumer lag, queue depth and age, staleness of head pointers, of the
 * materialized state and of the file pages; per table its kind (issue 13):
 * how far the follower got with a followed table (and what it could not
 * do), how far the publisher got with a published one (or why it stopped).
 */
import { createKafka, createRedis } from '../../shared/clients/index.ts';
import type { Config } from '../../shared/config/index.ts';
import { consumerGroupLags, groupsReadingTopic, HeadPointers, queueDepth, redisKeys, refreshQueue, slotLag } from '../../shared/contracts/index.ts';
import { createPool } from '../../shared/db/index.ts';

export interface PipelineStatus {
  slot: { name: string; exists: boolean; active: boolean; lagBytes: number | null };
  /** the invalidator's group */
  consumer: { group: string; lagMessages: number | null };
  /** every group with offsets on the commits topic (the invalidator's, the publisher's, subscribers'); empty when Kafka did not answer */
  consumers: Array<{ group: string; lagMessages: number }>;
  refreshQueue: {
    name: string; waiting: number; active: number; failed: number; oldestWaitingAgeSeconds: number;
    /** tables whose refresh failed and waits for its backoff (quarantined; services/refresher/quarantine.ts) */
    quarantined: number;
    /** the first 20 of them, oldest first */
    retrying: Array<{ table: string; attempts: number; error: string | null; retryInSeconds: number }>;
  };
  tables: TableStatus[];
}

export interface TableStatus {
  table: string;
  kind: 'owned' | 'followed';
  location: string | null;
  head: number;
  visible: number | null;
  materialized: number | null;
  pages: number | null;
  segments: number | null;
  /** followed: the follower's progress; null for an owned table */
  follow: { version: number | null; holder: string | null; lastLagSeconds: number | null; missing: [number, number] | null; error: string | null } | null;
  /** owned with a location published by services/publisher; null otherwise */
  publish: { version: number; lagVersions: number; stopped: string | null } | null;
  /** the readers' shadow checks against the table's files (services/reader/shadow.ts); null before the first */
  shadow: { checked: number; mismatches: number; lastMismatch: string | null } | null;
}

interface TableVersions {
  name: string; kind: 'owned' | 'followed'; location: string | null; head: number; materialized: number | null; pages: number | null; segments: number | null;
  followed_version: number | null; lease_holder: string | null; follow_lag_seconds: number | null; missing_from: number | null; missing_to: number | null; follow_error: string | null;
  published_version: number | null; stopped_reason: string | null;
}

// serves: delta_commit primary key (table_id, version) for max(version); table_state, file_page_state,
// file_arrow_segment_state, table_follow and table_publication primary keys.
// follow_lag_seconds: how long the last imported version's commit file waited for its import.
const tableVersionsSql = `
  SELECT t.name, t.kind, t.location, (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)::int AS head,
         (SELECT mv_version FROM deltameta.table_state s WHERE s.table_id = t.table_id)::int AS materialized,
         (SELECT version FROM deltameta.file_page_state p WHERE p.table_id = t.table_id)::int AS pages,
         (SELECT version FROM deltameta.file_arrow_segment_state a WHERE a.table_id = t.table_id)::int AS segments,
         f.followed_version::int, f.lease_holder, extract(epoch FROM f.imported_at - f.file_time)::float8 AS follow_lag_seconds,
         f.missing_from::int, f.missing_to::int, f.error AS follow_error,
         p.published_version::int, p.stopped_reason
    FROM deltameta.delta_table t
    LEFT JOIN deltameta.table_follow f ON f.table_id = t.table_id
    LEFT JOIN deltameta.table_publication p ON p.table_id = t.table_id
   ORDER BY t.name`;

type ShadowRecord = Record<string, string>;

const maxRetryingShown = 20;

function tableStatus(row: TableVersions, visible: number | null, shadow: ShadowRecord): TableStatus {
  return {
    table: row.name, kind: row.kind, location: row.location, head: row.head, visible, materialized: row.materialized, pages: row.pages, segments: row.segments,
    follow: row.kind === 'followed'
      ? {
        version: row.followed_version, holder: row.lease_holder, lastLagSeconds: row.follow_lag_seconds,
        missing: row.missing_from !== null && row.missing_to !== null ? [row.missing_from, row.missing_to] : null, error: row.follow_error,
      }
      : null,
    publish: row.published_version !== null ? { version: row.published_version, lagVersions: row.head - row.published_version, stopped: row.stopped_reason } : null,
    shadow: shadow['checked'] === undefined ? null : { checked: Number(shadow['checked']), mismatches: Number(shadow['mismatches'] ?? 0), lastMismatch: shadow['lastMismatch'] ?? null },
  };
}

export async function pipelineStatus(config: Config): Promise<PipelineStatus> {
  const pool = createPool(config.postgresUrl, { max: 1, applicationName: 'deltameta-status' });
  const redis = createRedis(config, 'deltameta-status');
  const queue = refreshQueue(config, 'deltameta-status-queue');
  const kafka = createKafka({ clientId: 'deltameta-status', brokers: config.kafkaBrokers, retry: { retries: 1 } });
  const admin = kafka.admin();
  try {
    const slot = await slotLag(pool, config.pipeline.slotName);
    let lags = new Map<string, number>();
    let kafkaAnswered = false;
    try {
      await admin.connect();
      const topic = config.pipeline.commitsTopic;
      lags = await consumerGroupLags(admin, topic, await groupsReadingTopic(admin, topic, [config.pipeline.consumerGroup]));
      kafkaAnswered = true;
    } catch {
      // Kafka down: the lag is unknown ('?'), not 0.
    }
    const depth = await queueDepth(queue);
    // A refresh job waits delayed only for a retry after a failure: the quarantined tables, oldest first.
    const delayed = await queue.getJobs(['delayed'], 0, maxRetryingShown - 1, true);
    // Before `migrate` there are no tables to report.
    const { rows: tables } = await pool.query<TableVersions>(tableVersionsSql).catch(() => ({ rows: [] as TableVersions[] }));
    const heads = new HeadPointers(redis, config.pipeline.redisPrefix);
    const keys = redisKeys(config.pipeline.redisPrefix);
    const tableRows = await Promise.all(tables.map(async (row) => tableStatus(row, (await heads.get(row.name))?.version ?? null, await redis.hgetall(keys.shadow(row.name)))));
    return {
      slot: { name: config.pipeline.slotName, exists: slot !== undefined, active: slot?.active ?? false, lagBytes: slot?.lagBytes ?? null },
      consumer: { group: config.pipeline.consumerGroup, lagMessages: kafkaAnswered ? lags.get(config.pipeline.consumerGroup) ?? 0 : null },
      consumers: [...lags].map(([group, lagMessages]) => ({ group, lagMessages })).sort((a, b) => a.group.localeCompare(b.group)),
      refreshQueue: {
        name: config.pipeline.refreshQueue, waiting: depth.counts.waiting, active: depth.counts.active, failed: depth.counts.failed,
        oldestWaitingAgeSeconds: depth.oldestWaitingAgeSeconds,
        quarantined: depth.counts.delayed,
        retrying: delayed.map((job) => ({
          table: job.data.table, attempts: job.attemptsMade, error: job.failedReason || null,
          retryInSeconds: Math.max(0, job.timestamp + job.delay - Date.now()) / 1000,
        })),
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
    ...status.consumers.filter((entry) => entry.group !== status.consumer.group).map((entry) => `consumer group ${entry.group} (subscriber): lag ${entry.lagMessages} messages`),
    `refresh queue ${status.refreshQueue.name}: ${status.refreshQueue.waiting} waiting (oldest ${status.refreshQueue.oldestWaitingAgeSeconds.toFixed(1)} s), ${status.refreshQueue.active} active, ${status.refreshQueue.failed} failed`,
    ...status.refreshQueue.retrying.map((entry) => `${entry.table}: refresh failing (quarantined), ${entry.attempts} attempts, next in ${entry.retryInSeconds.toFixed(1)} s: ${entry.error ?? 'no reason recorded'}`),
  ];
  const staleVisible = status.tables.filter((table) => table.visible !== table.head).length;
  const staleMaterialized = status.tables.filter((table) => table.materialized !== table.head).length;
  const stalePages = status.tables.filter((table) => table.pages !== table.head).length;
  lines.push(`tables: ${status.tables.length}; head pointer behind the log: ${staleVisible}; materialized state behind: ${staleMaterialized}; file pages behind: ${stalePages}`);
  const followed = status.tables.filter((table) => table.follow !== null);
  const published = status.tables.filter((table) => table.publish !== null);
  if (followed.length > 0 || published.length > 0) {
    lines.push(`followed tables: ${followed.length}; behind their files' last import: ${followed.filter((table) => table.follow?.version !== table.head).length}; with versions lost to cleanup: ${followed.filter((table) => table.follow?.missing).length}; failing: ${followed.filter((table) => table.follow?.error).length}`);
    lines.push(`published tables: ${published.length}; behind: ${published.filter((table) => (table.publish?.lagVersions ?? 0) > 0).length}; stopped: ${published.filter((table) => table.publish?.stopped).length}`);
  }
  const shadowed = status.tables.filter((table) => table.shadow !== null);
  if (shadowed.length > 0) {
    const checks = shadowed.reduce((sum, table) => sum + (table.shadow?.checked ?? 0), 0);
    const mismatches = shadowed.reduce((sum, table) => sum + (table.shadow?.mismatches ?? 0), 0);
    lines.push(`shadow checks against the tables' files: ${checks} over ${shadowed.length} tables; mismatches: ${mismatches}`);
  }
  const worst = [...status.tables].sort((a, b) => (b.head - (b.materialized ?? -1)) - (a.head - (a.materialized ?? -1))).slice(0, 10);
  if (worst.length > 0) {
    // Arrow segments: '-' for a table without (under DELTAMETA_ARROW_SEGMENTS_MIN_FILES files, or off).
    lines.push('', 'table                            head   visible  materialized  file pages  arrow segments  kind');
    for (const table of worst) {
      lines.push(`${table.table.padEnd(32)} ${String(table.head).padStart(5)}  ${String(table.visible ?? '-').padStart(7)}  ${String(table.materialized ?? '-').padStart(12)}  ${String(table.pages ?? '-').padStart(10)}  ${String(table.segments ?? '-').padStart(14)}  ${kindText(table)}`);
    }
  }
  for (const table of status.tables) {
    if (table.follow?.error) lines.push(`${table.table}: follower failing: ${table.follow.error}`);
    if (table.follow?.missing) lines.push(`${table.table}: versions ${table.follow.missing[0]}..${table.follow.missing[1]} were cleaned up from ${table.location} before they were followed`);
    if (table.publish?.stopped) lines.push(`${table.table}: publishing to ${table.location} stopped: ${table.publish.stopped}`);
    if (table.shadow?.lastMismatch) lines.push(`${table.table}: ${table.shadow.mismatches} shadow mismatches; the last: ${table.shadow.lastMismatch}`);
  }
  return lines.join('\n');
}

/** The kind column: "owned", "owned, published v12 (lag 2)", "followed v12 (holder, last lag 0.1 s)". */
function kindText(table: TableStatus): string {
  if (table.follow) {
    const lag = table.follow.lastLagSeconds === null ? '' : `, last import ${table.follow.lastLagSeconds.toFixed(2)} s after its file`;
    return `followed v${table.follow.version ?? '-'} (${table.follow.holder ?? 'no follower'}${lag})`;
  }
  if (table.publish) return `owned, published v${table.publish.version} (lag ${table.publish.lagVersions}${table.publish.stopped ? ', STOPPED' : ''})`;
  return 'owned';
}
