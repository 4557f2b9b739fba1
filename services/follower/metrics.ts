/**
 * The follower's metrics (prefix `deltameta_follow_`), on the registry of
 * createRegistry('follower'). The gauges are computed when scraped from the
 * follower's state (`observe`), so they are exact at that moment.
 *
 * - `deltameta_follow_lag_seconds` (gauge): the largest over the tables this
 *   instance holds of: now minus the modification time of the oldest commit file
 *   the follower has seen in the table's `_delta_log` whose version PostgreSQL
 *   does not hold yet (the next version after PostgreSQL's head); 0 when
 *   every commit file seen is imported. So it is how long the oldest
 *   unimported version has been waiting, measured from when its writer
 *   finished it — it keeps growing while a table is stuck (an import
 *   failing, versions missing), however many newer commits arrive. A commit
 *   file is seen within one poll interval, or at once with inotify. No
 *   per-table label (docs/design.md: no per-table labels, for cardinality):
 *   which table lags is in `deltameta status` (table_follow).
 * - `deltameta_follow_imports_total{outcome}` (counter): import attempts, by
 *   outcome: `imported` (versions written), `nothing_new`, `failed` (logged,
 *   recorded in table_follow.error, retried after a backoff), `missing`
 *   (versions lost to log cleanup: see below), `handed_over` (the table
 *   became owned: let go), `dropped` (the table is gone: let go).
 * - `deltameta_follow_import_duration_seconds` (histogram): one import call
 *   (listing, identity checks, COPY, commit), whatever its outcome.
 * - `deltameta_follow_tables` (gauge): tables this instance holds the lease of.
 * - `deltameta_follow_missing_versions` (gauge): versions reported missing
 *   over the held tables (table_follow.missing_from..missing_to): the files
 *   lost them to log cleanup before they were followed.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the gauges are read from when scraped. */
export interface FollowState {
  /** per held table, its lag in seconds at `nowMs` */
  lagSeconds(nowMs: number): ReadonlyMap<string, number>;
  heldTables(): number;
  missingVersions(): number;
}

export const importOutcomes = ['imported', 'nothing_new', 'failed', 'missing', 'handed_over', 'dropped'] as const;
export type ImportOutcome = (typeof importOutcomes)[number];

/** 1 ms to 60 s: a sync of one version takes milliseconds, a burst after a stop seconds. */
const importBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface FollowerMetrics {
  readonly importsTotal: Counter<'outcome'>;
  readonly importDurationSeconds: Histogram;
  /** Tells the gauges where to read the follower's state. */
  observe(state: FollowState): void;
}

export function followerMetrics(registry: Registry): FollowerMetrics {
  let state: FollowState | undefined;
  new Gauge({
    name: 'deltameta_follow_lag_seconds',
    help: 'Over the held tables, the longest: now minus the mtime of the oldest commit file seen whose version PostgreSQL does not hold yet; 0 when caught up',
    registers: [registry],
    collect() {
      this.set(Math.max(0, ...(state?.lagSeconds(Date.now()) ?? new Map<string, number>()).values()));
    },
  });
  new Gauge({
    name: 'deltameta_follow_tables', help: 'Followed tables whose lease this instance holds', registers: [registry],
    collect() {
      this.set(state?.heldTables() ?? 0);
    },
  });
  new Gauge({
    name: 'deltameta_follow_missing_versions', help: 'Versions the files lost to log cleanup before they were followed, over the held tables', registers: [registry],
    collect() {
      this.set(state?.missingVersions() ?? 0);
    },
  });
  const importsTotal = new Counter({ name: 'deltameta_follow_imports_total', help: 'Import attempts of followed tables, by outcome', labelNames: ['outcome'] as const, registers: [registry] });
  for (const outcome of importOutcomes) importsTotal.inc({ outcome }, 0);
  return {
    importsTotal,
    importDurationSeconds: new Histogram({
      name: 'deltameta_follow_import_duration_seconds', help: 'One import of a followed table (listing, identity checks, COPY, commit)', buckets: importBuckets, registers: [registry],
    }),
    observe(next) {
      state = next;
    },
  };
}
