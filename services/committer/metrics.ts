/**
 * The committer's metrics (docs/design.md, "Metric names"): one histogram
 * of commit latency and one counter of requests, both by outcome. No
 * per-table labels (cardinality).
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * committed: a new version; already_committed: the idempotency key (commitInfo.txnId) had one;
 * conflict: 409 (a conflict, or a followed table); refused: any other 4xx (bad input, unknown
 * table, token, size); error: 5xx (PostgreSQL unavailable, a bug).
 */
export const commitOutcomes = ['committed', 'already_committed', 'conflict', 'refused', 'error'] as const;
export type CommitOutcome = (typeof commitOutcomes)[number];

/** From 1 ms to 30 s: a commit is a few round trips; a large one or a hot table's queue takes seconds. */
const commitBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function committerMetrics(registry: Registry) {
  const metrics = {
    commitDurationSeconds: new Histogram({
      name: 'deltameta_commit_duration_seconds',
      help: 'One POST /v1/tables/{name}/commits, from its arrival to its answer, by outcome',
      labelNames: ['outcome'] as const,
      buckets: commitBuckets,
      registers: [registry],
    }),
    commitRequestsTotal: new Counter({
      name: 'deltameta_commit_requests_total', help: 'Commit requests answered, by outcome', labelNames: ['outcome'] as const, registers: [registry],
    }),
  };
  // Every outcome is exported from the start (a rate over a series that appears late is wrong).
  for (const outcome of commitOutcomes) metrics.commitRequestsTotal.inc({ outcome }, 0);
  return metrics;
}

export type CommitterMetrics = ReturnType<typeof committerMetrics>;
