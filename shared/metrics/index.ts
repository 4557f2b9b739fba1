/**
 * Every metric deltameta exposes, by its stable name (docs/design.md section 4):
 * prefix `deltameta_`, base units, `_total` on counters, no per-table
 * labels. One registry per service process; each service asks for the
 * group it owns.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };

/** Latency buckets from 0.5 ms to 30 s: commit→visible targets are milliseconds, refreshes of big tables seconds. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'deltameta_process_' });
  return registry;
}

export function cdcMetrics(registry: Registry) {
  return {
    replicationLagBytes: new Gauge({
      name: 'deltameta_cdc_replication_lag_bytes', help: 'WAL bytes between the server\'s position and the slot\'s confirmed flush position', registers: [registry],
    }),
    eventsTotal: new Counter({ name: 'deltameta_cdc_events_total', help: 'Commit events published to Kafka', registers: [registry] }),
    droppedTableRowsTotal: new Counter({
      name: 'deltameta_cdc_dropped_table_rows_total', help: 'delta_commit rows not published because their table was dropped before the CDC read them', registers: [registry],
    }),
    dropMessagesRefusedTotal: new Counter({
      name: 'deltameta_cdc_drop_messages_refused_total',
      help: 'Drop messages in the WAL whose table still exists (not emitted by deltameta drop): not published',
      registers: [registry],
    }),
    dropEventsTotal: new Counter({ name: 'deltameta_cdc_drop_events_total', help: 'Table drop events published to Kafka', registers: [registry] }),
    slotsRecreatedTotal: new Counter({
      name: 'deltameta_cdc_slots_recreated_total',
      help: 'Replication slots found gone (dropped) or invalidated (max_slot_wal_keep_size) and created again; what they missed is published from deltameta.cdc_published',
      registers: [registry],
    }),
    gapEventsTotal: new Counter({
      name: 'deltameta_cdc_gap_events_total', help: 'Events published from the log at a stream start because the slot would not deliver them (a lost slot, an unrecorded tail)', registers: [registry],
    }),
    publishDurationSeconds: new Histogram({
      name: 'deltameta_cdc_publish_duration_seconds', help: 'Time of one Kafka send (a batch of events), until acknowledged', buckets: latencyBuckets, registers: [registry],
    }),
  };
}

export function invalidatorMetrics(registry: Registry) {
  return {
    consumerLagMessages: new Gauge({ name: 'deltameta_kafka_consumer_lag_messages', help: 'Messages on the commits topic not yet processed by the group', registers: [registry] }),
    commitToVisibleSeconds: new Histogram({
      name: 'deltameta_commit_to_visible_seconds', help: 'Commit to head pointer moved in Redis', buckets: latencyBuckets, registers: [registry],
    }),
    deadLetteredTotal: new Counter({ name: 'deltameta_invalidator_dead_lettered_total', help: 'Events that could not be parsed, sent to the dead-letter topic', registers: [registry] }),
    headMovesTotal: new Counter({ name: 'deltameta_invalidator_head_moves_total', help: 'Events that moved a head pointer forward', registers: [registry] }),
    staleEventsTotal: new Counter({ name: 'deltameta_invalidator_stale_events_total', help: 'Events at or behind the head pointer (duplicates, replays)', registers: [registry] }),
    tablesDroppedTotal: new Counter({ name: 'deltameta_invalidator_tables_dropped_total', help: 'Drop events applied (head pointer deleted)', registers: [registry] }),
  };
}

export function queueMetrics(registry: Registry) {
  return {
    jobs: new Gauge({ name: 'deltameta_queue_jobs', help: 'BullMQ jobs by queue and state', labelNames: ['queue', 'state'] as const, registers: [registry] }),
    oldestWaitingAgeSeconds: new Gauge({
      name: 'deltameta_queue_oldest_waiting_age_seconds', help: 'Age of the oldest waiting job', labelNames: ['queue'] as const, registers: [registry],
    }),
  };
}

export function refresherMetrics(registry: Registry) {
  return {
    refreshDurationSeconds: new Histogram({
      name: 'deltameta_refresh_duration_seconds', help: 'One refresh transaction that applied versions (of one table, or of many sharing it)', buckets: latencyBuckets, registers: [registry],
    }),
    refreshVersionsAppliedTotal: new Counter({ name: 'deltameta_refresh_versions_applied_total', help: 'Versions applied to materialized state', registers: [registry] }),
    mvStalenessVersions: new Gauge({ name: 'deltameta_mv_staleness_versions', help: 'Max over tables of head version minus materialized watermark', registers: [registry] }),
    commitToRefreshedSeconds: new Histogram({
      name: 'deltameta_commit_to_refreshed_seconds', help: 'Commit to materialized state caught up', buckets: latencyBuckets, registers: [registry],
    }),
    filePagesDurationSeconds: new Histogram({
      name: 'deltameta_file_pages_duration_seconds', help: 'One file-pages maintenance pass of one table (after its refresh)', buckets: latencyBuckets, registers: [registry],
    }),
    filePagesWrittenTotal: new Counter({ name: 'deltameta_file_pages_written_total', help: 'Compressed file pages written (new page versions)', registers: [registry] }),
    filePagesBehindVersions: new Gauge({
      name: 'deltameta_file_pages_behind_versions', help: 'Max over tables of the materialized watermark minus the version the file pages answer (pages are coalesced per table)', registers: [registry],
    }),
    refreshQuarantinedTables: new Gauge({
      name: 'deltameta_refresh_quarantined_tables', help: 'Tables whose last refresh in this process failed (retried with backoff until one succeeds): alert when above 0', registers: [registry],
    }),
    refreshFailuresTotal: new Counter({ name: 'deltameta_refresh_failures_total', help: 'Refresh attempts of a table that failed', registers: [registry] }),
  };
}

export type CdcMetrics = ReturnType<typeof cdcMetrics>;
export type InvalidatorMetrics = ReturnType<typeof invalidatorMetrics>;
export type QueueMetrics = ReturnType<typeof queueMetrics>;
export type RefresherMetrics = ReturnType<typeof refresherMetrics>;
export { readerMetrics, type ReaderMetrics } from './reader.ts';
