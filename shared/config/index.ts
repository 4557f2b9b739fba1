/**
 * Configuration is read from DELTAMETA_* environment variables once per
 * process (call `loadConfig()` in a main, pass the result down), validated,
 * and fails fast naming the variable that is wrong. Numbers carry their unit
 * in their name. Defaults live here and nowhere else.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { onOff, readVariable, type Env } from './read.ts';

/** The checkout this code runs from: where `sql/`, `infra/` and the default stack folder are. */
export const projectRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface StackPorts {
  readonly postgresPort: number;
  readonly redisPort: number;
  /** The cache's own Redis instance (the reader's L2, warmed summaries). Default 56380. */
  readonly cacheRedisPort: number;
  readonly kafkaPort: number;
  readonly kafkaControllerPort: number;
}

/** The commit-event pipeline: names of the things the services share, and their tuning. */
export interface PipelineConfig {
  /** Kafka topic of deltameta.commit.v1 events (public contract). Default `deltameta.commits`. */
  readonly commitsTopic: string;
  /** Where events that cannot be parsed go. Default `deltameta.commits.dlq`. */
  readonly deadLetterTopic: string;
  /** Partitions of the commits topic when the CDC service creates it. Default 8. */
  readonly commitsTopicPartitions: number;
  /** Logical replication slot of the CDC service. Default `deltameta_cdc`. */
  readonly slotName: string;
  /** Publication on delta_commit. Default `deltameta_commits`. */
  readonly publicationName: string;
  /** Kafka consumer group of the invalidator. Default `deltameta-invalidator`. */
  readonly consumerGroup: string;
  /** BullMQ queue of refresh jobs. Default `deltameta-refresh`. */
  readonly refreshQueue: string;
  /** BullMQ queue of scheduled maintenance (materialized views, retention). Default `deltameta-maintenance`. */
  readonly maintenanceQueue: string;
  /** Prefix of every Redis key and channel deltameta owns. Default `deltameta:`. */
  readonly redisPrefix: string;
  /** Events per Kafka send when the CDC is under load. Default 500. */
  readonly cdcBatchMaxEvents: number;
  /** How long the CDC waits for more events before a send (kafkajs does no lingering of its own). Default 2 ms. */
  readonly cdcLingerMs: number;
  /** Longest pause between reconnect attempts (exponential backoff). Default 10 s. */
  readonly reconnectMaxBackoffMs: number;
  /** The invalidator's fetch wait (kafkajs waits up to 5 s by default). Default 10 ms. */
  readonly kafkaMaxWaitMs: number;
  /** Versions applied per refresh transaction. Default 500. */
  readonly refreshBatchMaxVersions: number;
  /**
   * Refresh jobs in progress at once (different tables; one table is
   * serialized). Their refreshes share transactions, so this is also the
   * most tables one transaction serves. Default 64.
   */
  readonly refreshConcurrency: number;
  /** Refresh transactions at once in one refresher (each serving many tables). Default 2. */
  readonly refreshTransactions: number;
  /** REFRESH MATERIALIZED VIEW CONCURRENTLY every this often. Default 30 s. */
  readonly mvRefreshIntervalMs: number;
  /** Removed files older than this leave file_index (time travel before it falls back to the log). Default 7 days. */
  readonly fileIndexRetentionMs: number;
  /** How often the refresher applies that retention. Default 1 h. */
  readonly retentionIntervalMs: number;
  /** At shutdown, a refresh still running after this is handed back to the next refresher (rolled back, redone). Default 10 s. */
  readonly refreshHandBackAfterMs: number;
  /** Tables warmed in Redis after a refresh: the most recently read ones, at most this many. Default 100. */
  readonly warmHotTables: number;
  /** The refresher keeps each table's file list as compressed pages after a refresh (sql/000005). DELTAMETA_FILE_PAGES=on|off, default on. */
  readonly filePages: boolean;
  /**
   * A table's file-pages pass starts this long after the refresh that asked
   * for it; the refreshes meanwhile join that pass (one running, one waiting
   * per table). Default 500 ms.
   */
  readonly filePagesDelayMs: number;
  /**
   * After a table's pages pass, its Arrow segments (sql/000010: the whole
   * list in Arrow as a few large batches) are brought to the pages' version,
   * this long after the pass that asked (passes meanwhile join it): a burst
   * of commits to a large table re-coalesces its segments once, not per
   * pass; readers stream the pages' batches for versions the segments do
   * not answer. DELTAMETA_ARROW_SEGMENTS_DELAY_MS, default 1000; DELTAMETA_ARROW_SEGMENTS=on|off, default on.
   */
  readonly arrowSegmentsDelayMs: number;
  readonly arrowSegments: boolean;
  /** Tables with fewer live files keep no Arrow segments (their pages' batches are few). DELTAMETA_ARROW_SEGMENTS_MIN_FILES, default 10,000. */
  readonly arrowSegmentsMinFiles: number;
  /** File-pages passes running at once in one refresher, over all tables. Default 1. */
  readonly filePagesConcurrency: number;
}

export interface AdminPorts {
  readonly cdc: number;
  readonly invalidator: number;
  readonly refresher: number;
  readonly reader: number;
  /** services/follower (issue 13) */
  readonly follower: number;
  /** services/publisher: owned tables' _delta_log files */
  readonly publisher: number;
  /** services/committer: the HTTP commit API */
  readonly committer: number;
}

export interface Config {
  /** Connection string of the metadata database. Default: the local stack's. */
  readonly postgresUrl: string;
  /** Redis URL of the pipeline (BullMQ, head pointers, pub/sub, hot tables): noeviction + AOF. Default: the local stack's. */
  readonly redisUrl: string;
  /**
   * Redis URL of the cache (the reader's L2 and the summaries the refresher
   * warms for it): a separate instance, because maxmemory and its eviction
   * policy are per instance, and BullMQ's locks carry TTLs, so even a
   * volatile-* policy sharing the pipeline's instance could evict them.
   * Default: the local stack's cache instance.
   */
  readonly cacheRedisUrl: string;
  /** maxmemory of the cache instance `stack up` starts (allkeys-lru), in Redis' notation. Default `256mb`. */
  readonly cacheRedisMaxMemory: string;
  /**
   * Kafka bootstrap brokers. Default: the local stack's, every node of it
   * (`stack up --kafka-brokers 3` records the cluster in <stackDir>/kafka/cluster.json),
   * so a client started while one node is down still finds the others.
   */
  readonly kafkaBrokers: readonly string[];
  /** Where `stack up` keeps data, logs and pid files. Default: `<checkout>/.stack` (git-ignored). */
  readonly stackDir: string;
  /** Where downloaded Kafka jars are cached, shared by all checkouts. Default: `~/.cache/deltameta`. */
  readonly cacheDir: string;
  readonly stack: StackPorts;
  readonly pipeline: PipelineConfig;
  /** /metrics, /healthz, /readyz of each service (docs/design.md). */
  readonly adminPorts: AdminPorts;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Upper bound for any one service of the stack to become healthy. Default 120 s (Kafka's JVM is the slow one). */
  readonly stackStartTimeoutMs: number;
  /** A service's graceful stop (SIGTERM) that takes longer exits at once; what was in flight is redelivered. Default 30 s. */
  readonly shutdownGraceMs: number;
}

const defaults = {
  postgresPort: 55432,
  redisPort: 56379,
  cacheRedisPort: 56380,
  kafkaPort: 59092,
  kafkaControllerPort: 59093,
} as const;

/** Defaults that library functions also use when called without configuration (tests, the CLI's verify, benchmarks). */
export const pipelineDefaults = {
  refreshBatchMaxVersions: 500,
} as const;

const read = readVariable;

const port = z.coerce.number().int().min(1, 'must be a port number').max(65535, 'must be a port number');
/** An admin port: 0 lets the OS pick a free one (the service logs which). */
const adminPort = z.coerce.number().int().min(0, 'must be a port number or 0').max(65535, 'must be a port number or 0');
const positiveMs = z.coerce.number().int().positive('must be a positive number of milliseconds');
const postgresUrlSchema = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');
const redisUrlSchema = z.string().refine((value) => /^rediss?:\/\//.test(value), 'must be a redis:// URL');
/** A size as redis.conf writes one: bytes, or a number with k, kb, m, mb, g or gb. */
const redisMemory = z.string().regex(/^[1-9][0-9]*(?:[kmg]b?)?$/i, 'must be a size such as 256mb, 1gb or 268435456');
const brokersSchema = z
  .string()
  .transform((value) => value.split(',').map((broker) => broker.trim()).filter(Boolean))
  .refine(
    (brokers) => brokers.length > 0 && brokers.every((broker) => /^[^:\s]+:\d+$/.test(broker)),
    'must be a comma-separated list of host:port',
  );
const positiveInt = z.coerce.number().int().positive('must be a positive integer');
const nonNegativeInt = z.coerce.number().int().min(0, 'must be zero or a positive integer');
const name = z.string().regex(/^[A-Za-z0-9._:-]+$/, 'must be letters, digits, ".", "_", ":" or "-"');
const slotName = z.string().regex(/^[a-z0-9_]{1,63}$/, 'must be lower-case letters, digits and "_" (a replication slot name)');

const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function loadConfig(env: Env = process.env): Config {
  const stack: StackPorts = {
    postgresPort: read(env, 'DELTAMETA_PG_PORT', port, defaults.postgresPort),
    redisPort: read(env, 'DELTAMETA_REDIS_PORT', port, defaults.redisPort),
    cacheRedisPort: read(env, 'DELTAMETA_CACHE_REDIS_PORT', port, defaults.cacheRedisPort),
    kafkaPort: read(env, 'DELTAMETA_KAFKA_PORT', port, defaults.kafkaPort),
    kafkaControllerPort: read(env, 'DELTAMETA_KAFKA_CONTROLLER_PORT', port, defaults.kafkaControllerPort),
  };
  const home = env['HOME'] ?? '/tmp';
  const stackDir = path.resolve(read(env, 'DELTAMETA_STACK_DIR', z.string(), path.join(projectRoot, '.stack')));
  return {
    postgresUrl: read(
      env,
      'DELTAMETA_PG_URL',
      postgresUrlSchema,
      `postgres://deltameta:deltameta@127.0.0.1:${stack.postgresPort}/deltameta`,
    ),
    redisUrl: read(env, 'DELTAMETA_REDIS_URL', redisUrlSchema, `redis://127.0.0.1:${stack.redisPort}`),
    cacheRedisUrl: read(env, 'DELTAMETA_CACHE_REDIS_URL', redisUrlSchema, `redis://127.0.0.1:${stack.cacheRedisPort}`),
    cacheRedisMaxMemory: read(env, 'DELTAMETA_CACHE_REDIS_MAXMEMORY', redisMemory, '256mb'),
    kafkaBrokers: read(env, 'DELTAMETA_KAFKA_BROKERS', brokersSchema, localKafkaBrokers(stackDir, stack.kafkaPort)),
    stackDir,
    cacheDir: path.resolve(read(env, 'DELTAMETA_CACHE_DIR', z.string(), path.join(home, '.cache', 'deltameta'))),
    stack,
    pipeline: {
      commitsTopic: read(env, 'DELTAMETA_COMMITS_TOPIC', name, 'deltameta.commits'),
      deadLetterTopic: read(env, 'DELTAMETA_DEAD_LETTER_TOPIC', name, 'deltameta.commits.dlq'),
      commitsTopicPartitions: read(env, 'DELTAMETA_COMMITS_TOPIC_PARTITIONS', positiveInt, 8),
      slotName: read(env, 'DELTAMETA_SLOT_NAME', slotName, 'deltameta_cdc'),
      publicationName: read(env, 'DELTAMETA_PUBLICATION_NAME', slotName, 'deltameta_commits'),
      consumerGroup: read(env, 'DELTAMETA_CONSUMER_GROUP', name, 'deltameta-invalidator'),
      refreshQueue: read(env, 'DELTAMETA_REFRESH_QUEUE', name, 'deltameta-refresh'),
      maintenanceQueue: read(env, 'DELTAMETA_MAINTENANCE_QUEUE', name, 'deltameta-maintenance'),
      redisPrefix: read(env, 'DELTAMETA_REDIS_PREFIX', name, 'deltameta:'),
      cdcBatchMaxEvents: read(env, 'DELTAMETA_CDC_BATCH_MAX_EVENTS', positiveInt, 500),
      cdcLingerMs: read(env, 'DELTAMETA_CDC_LINGER_MS', nonNegativeInt, 2),
      reconnectMaxBackoffMs: read(env, 'DELTAMETA_RECONNECT_MAX_BACKOFF_MS', positiveInt, 10_000),
      kafkaMaxWaitMs: read(env, 'DELTAMETA_KAFKA_MAX_WAIT_MS', positiveInt, 10),
      refreshBatchMaxVersions: read(env, 'DELTAMETA_REFRESH_BATCH_MAX_VERSIONS', positiveInt, pipelineDefaults.refreshBatchMaxVersions),
      refreshConcurrency: read(env, 'DELTAMETA_REFRESH_CONCURRENCY', positiveInt, 64),
      refreshTransactions: read(env, 'DELTAMETA_REFRESH_TRANSACTIONS', positiveInt, 2),
      mvRefreshIntervalMs: read(env, 'DELTAMETA_MV_REFRESH_INTERVAL_MS', positiveInt, 30_000),
      fileIndexRetentionMs: read(env, 'DELTAMETA_FILE_INDEX_RETENTION_MS', positiveInt, 7 * 24 * 3600 * 1000),
      retentionIntervalMs: read(env, 'DELTAMETA_RETENTION_INTERVAL_MS', positiveInt, 3_600_000),
      refreshHandBackAfterMs: read(env, 'DELTAMETA_REFRESH_HAND_BACK_AFTER_MS', positiveInt, 10_000),
      warmHotTables: read(env, 'DELTAMETA_WARM_HOT_TABLES', nonNegativeInt, 100),
      filePages: read(env, 'DELTAMETA_FILE_PAGES', onOff, true),
      filePagesDelayMs: read(env, 'DELTAMETA_FILE_PAGES_DELAY_MS', nonNegativeInt, 500),
      filePagesConcurrency: read(env, 'DELTAMETA_FILE_PAGES_CONCURRENCY', positiveInt, 1),
      arrowSegments: read(env, 'DELTAMETA_ARROW_SEGMENTS', onOff, true),
      arrowSegmentsDelayMs: read(env, 'DELTAMETA_ARROW_SEGMENTS_DELAY_MS', nonNegativeInt, 1000),
      arrowSegmentsMinFiles: read(env, 'DELTAMETA_ARROW_SEGMENTS_MIN_FILES', nonNegativeInt, 10_000),
    },
    adminPorts: {
      cdc: read(env, 'DELTAMETA_CDC_ADMIN_PORT', adminPort, 9401),
      invalidator: read(env, 'DELTAMETA_INVALIDATOR_ADMIN_PORT', adminPort, 9402),
      refresher: read(env, 'DELTAMETA_REFRESHER_ADMIN_PORT', adminPort, 9403),
      reader: read(env, 'DELTAMETA_READER_ADMIN_PORT', adminPort, 9404),
      follower: read(env, 'DELTAMETA_FOLLOWER_ADMIN_PORT', adminPort, 9405),
      publisher: read(env, 'DELTAMETA_PUBLISHER_ADMIN_PORT', adminPort, 9406),
      committer: read(env, 'DELTAMETA_COMMITTER_ADMIN_PORT', adminPort, 9407),
    },
    logLevel: read(env, 'DELTAMETA_LOG_LEVEL', logLevelSchema, 'info'),
    stackStartTimeoutMs: read(env, 'DELTAMETA_STACK_START_TIMEOUT_MS', positiveMs, 120_000),
    shutdownGraceMs: read(env, 'DELTAMETA_SHUTDOWN_GRACE_MS', positiveMs, 30_000),
  };
}

/**
 * The local stack's Kafka nodes: as many as <stackDir>/kafka/cluster.json
 * records (shared/stack/kafka-cluster.ts writes it), node i on
 * kafkaPort + 2(i-1); one when none is recorded.
 */
function localKafkaBrokers(stackDir: string, kafkaPort: number): string[] {
  let nodes = 1;
  try {
    const record = JSON.parse(readFileSync(path.join(stackDir, 'kafka', 'cluster.json'), 'utf8')) as { nodes?: unknown };
    if (Array.isArray(record.nodes) && record.nodes.length > 0) nodes = record.nodes.length;
  } catch {
    // No cluster recorded (or not readable: `stack up` says so): the single node.
  }
  return Array.from({ length: nodes }, (_, index) => `127.0.0.1:${kafkaPort + 2 * index}`);
}

/** The same URL pointed at another database of the same server (test databases, the template). */
export function withDatabase(postgresUrl: string, database: string): string {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
export { loadReaderConfig, type ReaderConfig } from './reader.ts';
// For a service's own settings beside loadConfig (services/<name>/config.ts), read the same way.
export { onOff, readVariable, type Env } from './read.ts';
export { localLoginUrl, type LocalServiceLogin } from './local-logins.ts';
