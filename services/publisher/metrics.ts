/**
 * The publisher's metrics (docs/publisher.md). As every deltameta metric,
 * no per-table label (docs/design.md, cardinality): the lag is the largest
 * over published tables; which table lags or stopped is in
 * table_publication and `deltameta status`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function publisherMetrics(registry: Registry) {
  return {
    lagVersions: new Gauge({
      name: 'deltameta_publish_lag_versions', help: 'Max over published tables of PostgreSQL head version minus published version', registers: [registry],
    }),
    versionsTotal: new Counter({
      name: 'deltameta_publish_versions_total', help: 'Versions published as _delta_log commit files (written, or found already there byte-identical)', registers: [registry],
    }),
    durationSeconds: new Histogram({
      name: 'deltameta_publish_duration_seconds', help: 'One version published: its commit file (and checkpoint) written and durable, its progress recorded',
      buckets: durationBuckets, registers: [registry],
    }),
    stoppedTables: new Gauge({
      name: 'deltameta_publish_stopped_tables', help: 'Published tables whose publishing stopped (a different file already at a version): alert on > 0', registers: [registry],
    }),
    checkpointsTotal: new Counter({ name: 'deltameta_publish_checkpoints_total', help: 'Parquet checkpoints written', registers: [registry] }),
  };
}

export type PublisherMetrics = ReturnType<typeof publisherMetrics>;
