/** The reader's metric group (docs/design.md section 4 names), in a file of its own: it is the largest group. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Request latencies: a hot answer is well under a millisecond, a cold 1M-file list takes seconds. */
const httpBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function readerMetrics(registry: Registry) {
  return {
    cacheRequestsTotal: new Counter({
      name: 'deltameta_cache_requests_total', help: 'Lookups per cache level (l1, l2, l3, l4) and result (hit, miss)', labelNames: ['level', 'result'] as const, registers: [registry],
    }),
    cacheBytes: new Gauge({ name: 'deltameta_cache_bytes', help: 'Bytes held by a cache level of this process', labelNames: ['level'] as const, registers: [registry] }),
    cacheEvictionsTotal: new Counter({
      name: 'deltameta_cache_evictions_total', help: 'Entries evicted from a cache level to stay within its budget', labelNames: ['level'] as const, registers: [registry],
    }),
    httpRequestDurationSeconds: new Histogram({
      name: 'deltameta_http_request_duration_seconds', help: 'HTTP request duration by route and status', labelNames: ['route', 'status'] as const, buckets: httpBuckets, registers: [registry],
    }),
    // Shadow verification (services/reader/shadow.ts): sampled answers of followed and published tables re-derived from their files.
    shadowChecksTotal: new Counter({
      name: 'deltameta_shadow_checks_total', help: 'Shadow checks by outcome (match, mismatch, skipped, error)', labelNames: ['outcome'] as const, registers: [registry],
    }),
    shadowMismatchesTotal: new Counter({
      name: 'deltameta_shadow_mismatches_total', help: 'Answers whose version re-derived from the table\'s _delta_log files differed from deltameta\'s', registers: [registry],
    }),
  };
}

export type ReaderMetrics = ReturnType<typeof readerMetrics>;
