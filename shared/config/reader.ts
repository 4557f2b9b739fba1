/**
 * The reader's configuration (services/reader), read and validated once per
 * process beside loadConfig. Every option names its variable and default;
 * numbers carry their unit in the name.
 */
import { z } from 'zod';
import { ConfigError } from '../errors/index.ts';
import { onOff, readVariable, type Env } from './read.ts';

export interface ReaderConfig {
  /** HTTP port of the /v1 API. DELTAMETA_READER_PORT, default 8080; 0 lets the OS pick (tests). */
  readonly port: number;
  /** Interface to listen on. DELTAMETA_READER_HOST, default 127.0.0.1. */
  readonly host: string;
  /**
   * Connection string of the reader's pool: a login role that is a member of
   * `deltameta_read` (sql/000004_reader_role.sql). DELTAMETA_READER_PG_URL,
   * default DELTAMETA_PG_URL. The pool also opens every session read-only.
   */
  readonly postgresUrl: string | undefined;
  /** Pool size. DELTAMETA_READER_PG_POOL_MAX, default 16. */
  readonly poolMax: number;
  /** L1, the in-process LRU of response bodies. DELTAMETA_READER_L1=on|off, default on. */
  readonly l1Enabled: boolean;
  /** L1's budget in bytes (bodies as kept, compressed where large, plus keys). DELTAMETA_READER_L1_MAX_BYTES, default 256 MiB. */
  readonly l1MaxBytes: number;
  /**
   * A whole Arrow list streamed from the Arrow segments (its size known
   * before it is sent) of at most this many bytes is also kept in L1 for
   * the next request; 0 keeps none. DELTAMETA_READER_L1_KEEP_STREAMED_MAX_BYTES,
   * default 128 MiB (~1.5M files); within L1's budget either way.
   */
  readonly l1KeepStreamedMaxBytes: number;
  /** L2, Redis. DELTAMETA_READER_L2=on|off, default on. */
  readonly l2Enabled: boolean;
  /** TTL of L2 entries: they never go stale, the TTL only bounds Redis memory. DELTAMETA_READER_L2_TTL_SECONDS, default 86400. */
  readonly l2TtlSeconds: number;
  /** Bodies above this are kept in Redis as pages of this size. DELTAMETA_READER_L2_PAGE_BYTES, default 4 MiB. */
  readonly l2PageBytes: number;
  /** Largest body kept in L2 at all: a quarter of the cache instance's default 256 MB, so one entry cannot push out everything else (bigger answers are streamed anyway). DELTAMETA_READER_L2_MAX_ENTRY_BYTES, default 64 MiB. */
  readonly l2MaxEntryBytes: number;
  /** L3, the materialized state (file_index, table_state). DELTAMETA_READER_L3=on|off, default on. Off: everything is answered from the log tables (L4). */
  readonly l3Enabled: boolean;
  /**
   * Whole-table file lists from the refresher's compressed file pages (when
   * they answer the version) instead of file_index rows. Part of L3.
   * DELTAMETA_READER_FILE_PAGES=on|off, default on.
   */
  readonly filePagesEnabled: boolean;
  /**
   * Whole file lists in Arrow from the Arrow segments (sql/000010) when they
   * answer the version, else from the file pages' batches. Part of L3.
   * DELTAMETA_READER_ARROW_SEGMENTS=on|off, default on.
   */
  readonly arrowSegmentsEnabled: boolean;
  /**
   * A whole list from file pages whose compressed size exceeds this is
   * streamed page by page from one snapshot and not kept in L1/L2: the
   * reader's memory stays bounded whatever the table's size.
   * DELTAMETA_READER_STREAM_ABOVE_BYTES, default 64 MiB (~1.1M files).
   */
  readonly streamAboveBytes: number;
  /**
   * A version beyond the materialized watermark is the state there plus the log tail, merged in memory; a tail of more actions than
   * this (a table far behind: quarantined, or the refresher stopped) is answered from the log tables instead, streamed.
   * DELTAMETA_READER_MAX_TAIL_ACTIONS, default 100000.
   */
  readonly maxTailActions: number;
  /** Bodies of at least this size are kept gzip-compressed. DELTAMETA_READER_COMPRESS_MIN_BYTES, default 8192. */
  readonly compressMinBytes: number;
  /** A head pointer not confirmed by an announcement for this long is re-read from Redis. DELTAMETA_READER_HEAD_SAFETY_TTL_MS, default 1000. */
  readonly headSafetyTtlMs: number;
  /** How long a minVersion request waits for the pipeline before reading the head from PostgreSQL. DELTAMETA_READER_MIN_VERSION_WAIT_MS, default 250. */
  readonly minVersionWaitMs: number;
  /** Operator file of bearer tokens (JSON: [{name, sha256, tablePrefixes}]). DELTAMETA_READER_TOKENS_FILE, default none. */
  readonly tokensFile: string | undefined;
  /** Bearer-token access control. DELTAMETA_READER_AUTH=on|off, default on exactly when a tokens file is configured. */
  readonly authEnabled: boolean;
  /** Hot-table reads are recorded in Redis at most this often per table. DELTAMETA_READER_HOT_RECORD_INTERVAL_MS, default 1000. */
  readonly hotRecordIntervalMs: number;
  /**
   * Reads without a token on a host beyond loopback. Without it the reader
   * refuses to start there with access control off. DELTAMETA_READER_ALLOW_ANONYMOUS=true|false, default false.
   */
  readonly allowAnonymous: boolean;
  /**
   * Serve with a PostgreSQL role that can write the schema's tables. Without it the reader refuses to start with one
   * (services/reader/role-check.ts): its role must only read. DELTAMETA_READER_ALLOW_WRITABLE_ROLE=true|false, default false.
   */
  readonly allowWritableRole: boolean;
  /** The tokens file is re-read (besides on change and SIGHUP) when its stat changes, checked this often. DELTAMETA_READER_TOKENS_RELOAD_INTERVAL_MS, default 5000. */
  readonly tokensReloadIntervalMs: number;
  /**
   * Key of the page tokens' HMAC (at least 32 characters). DELTAMETA_READER_TOKEN_KEY, default a random
   * key per process: several readers behind a balancer or sharing L2 need the same key.
   */
  readonly pageTokenKey: string | undefined;
  /** Commits per /commits page: `limit` defaults to min(1000, this) and may not exceed it. DELTAMETA_READER_COMMITS_MAX_LIMIT, default 10000. */
  readonly commitsMaxLimit: number;
  /** Longest wait for a pooled PostgreSQL connection before the request fails. DELTAMETA_READER_PG_ACQUIRE_TIMEOUT_MS, default 5000. */
  readonly pgAcquireTimeoutMs: number;
  /** statement_timeout of the reader's sessions. DELTAMETA_READER_PG_STATEMENT_TIMEOUT_MS, default 30000. */
  readonly pgStatementTimeoutMs: number;
  /** idle_in_transaction_session_timeout of the reader's sessions (above the stream send bound: a stream's snapshot idles between FETCHes). DELTAMETA_READER_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS, default 180000. */
  readonly pgIdleInTransactionTimeoutMs: number;
  /** Connections of the streams' own pool: at most this many lists stream at once. DELTAMETA_READER_STREAM_CONNECTIONS, default 4. */
  readonly streamConnections: number;
  /** A streamed list not sent within this is cut off and its snapshot ended. DELTAMETA_READER_STREAM_SEND_TIMEOUT_MS, default 120000. */
  readonly streamSendTimeoutMs: number;
  /** Most partition/stats filters in one request (400 beyond). DELTAMETA_READER_MAX_FILTERS, default 32. */
  readonly maxFilters: number;
  /** Longest query string, in bytes (400 beyond). DELTAMETA_READER_MAX_QUERY_BYTES, default 8192. */
  readonly maxQueryBytes: number;
  /**
   * Most bytes (as Redis allocates them: keys, bodies, pages) this reader's L2 writes may take while they
   * live (TTL + 1 min): a budget, not a count of query strings; beyond it answers are served but not kept
   * in L2 (services/reader/l2-write-budget.ts). DELTAMETA_READER_L2_WRITE_BUDGET_BYTES, default 128 MiB.
   */
  readonly l2WriteBudgetBytes: number;
  /**
   * Shadow verification (services/reader/shadow.ts): the share of answers of followed and published tables whose
   * version is re-derived from the table's _delta_log files and compared, 0 (off) to 1. DELTAMETA_READER_SHADOW_SAMPLE,
   * default 0.01.
   */
  readonly shadowSample: number;
  /** A version with more live files is not shadow-checked (its replay costs seconds of a core). DELTAMETA_READER_SHADOW_MAX_FILES, default 200000. */
  readonly shadowMaxFiles: number;
  /** Sampled checks waiting at most; more are dropped. DELTAMETA_READER_SHADOW_QUEUE, default 4. */
  readonly shadowQueue: number;
  /** Delta Sharing (services/reader/sharing, docs/delta-sharing.md) served beside /v1. DELTAMETA_READER_SHARING=on|off, default on. */
  readonly sharingEnabled: boolean;
  /** Where the Delta Sharing endpoints live: a path starting with '/', no trailing '/'. DELTAMETA_READER_SHARING_PREFIX, default /delta-sharing. */
  readonly sharingPrefix: string;
  /** The sharing configuration (shares, recipients) is re-read from PostgreSQL when older than this. DELTAMETA_READER_SHARING_RELOAD_MS, default 2000. */
  readonly sharingReloadMs: number;
  /** How long a signed Delta Sharing file URL lives. DELTAMETA_READER_SHARING_URL_TTL_MS, default 900000 (15 minutes). */
  readonly sharingUrlTtlMs: number;
  /**
   * HMAC key of the signed file URLs (at least 32 bytes). DELTAMETA_READER_SHARING_URL_KEY, default a random key per
   * process: readers behind one balancer need the same key (services/reader/sharing/file-urls.ts).
   */
  readonly sharingUrlKey: string | undefined;
  /**
   * The URL recipients reach the sharing prefix at, for the file URLs (`https://host/delta-sharing`).
   * DELTAMETA_READER_SHARING_PUBLIC_URL, default: the request's own scheme, Host and prefix.
   */
  readonly sharingPublicUrl: string | undefined;
  /** Files per query or changes response at most; a request asking for more (or none) gets pages (maxFiles). DELTAMETA_READER_SHARING_MAX_FILES, default 100000. */
  readonly sharingMaxFiles: number;
  /**
   * Files at most in a query or changes answer kept whole in L1/L2 (judged before it is made by the page size, the
   * table's file count or the range's actions; a big table's answer narrowed by limitHint or predicate hints is kept
   * when it comes out within this many files' worth of bytes, 1 KiB each). Bigger answers are streamed.
   * DELTAMETA_READER_SHARING_KEEP_MAX_FILES, default 20000.
   */
  readonly sharingKeepMaxFiles: number;
}

const read = readVariable;

const port = z.coerce.number().int().min(0, 'must be a port number or 0').max(65535, 'must be a port number or 0');
const positiveInt = z.coerce.number().int().positive('must be a positive integer');
const nonNegativeInt = z.coerce.number().int().min(0, 'must be zero or a positive integer');
const trueFalse = z.enum(['true', 'false'], { message: 'must be "true" or "false"' }).transform((value) => value === 'true');
/** Hosts whose listener only this machine can reach. */
const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);
const sharingPrefix = z.string().regex(/^(\/[A-Za-z0-9._~-]+)+$/, "must be a path like /delta-sharing: segments of letters, digits, '.', '_', '~', '-', no trailing '/'").refine((value) => value !== '/v1' && !value.startsWith('/v1/'), 'must not be under /v1');
const postgresUrl = z.string().refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');

export function loadReaderConfig(env: Env = process.env): ReaderConfig {
  const tokensFile = read<string | undefined>(env, 'DELTAMETA_READER_TOKENS_FILE', z.string(), undefined);
  const authEnabled = read(env, 'DELTAMETA_READER_AUTH', onOff, tokensFile !== undefined);
  if (authEnabled && tokensFile === undefined) {
    throw new ConfigError('DELTAMETA_READER_AUTH', 'is on but DELTAMETA_READER_TOKENS_FILE names no tokens file');
  }
  const host = read(env, 'DELTAMETA_READER_HOST', z.string(), '127.0.0.1');
  const allowAnonymous = read(env, 'DELTAMETA_READER_ALLOW_ANONYMOUS', trueFalse, false);
  const allowWritableRole = read(env, 'DELTAMETA_READER_ALLOW_WRITABLE_ROLE', trueFalse, false);
  if (!authEnabled && !allowAnonymous && !loopbackHosts.has(host)) {
    throw new ConfigError('DELTAMETA_READER_HOST', `${host} is beyond loopback, where every table would be readable without a token: set DELTAMETA_READER_TOKENS_FILE, or DELTAMETA_READER_ALLOW_ANONYMOUS=true to mean it`);
  }
  return {
    port: read(env, 'DELTAMETA_READER_PORT', port, 8080),
    host,
    postgresUrl: read<string | undefined>(env, 'DELTAMETA_READER_PG_URL', postgresUrl, undefined),
    poolMax: read(env, 'DELTAMETA_READER_PG_POOL_MAX', positiveInt, 16),
    l1Enabled: read(env, 'DELTAMETA_READER_L1', onOff, true),
    l1MaxBytes: read(env, 'DELTAMETA_READER_L1_MAX_BYTES', positiveInt, 256 * 1024 * 1024),
    l1KeepStreamedMaxBytes: read(env, 'DELTAMETA_READER_L1_KEEP_STREAMED_MAX_BYTES', nonNegativeInt, 128 * 1024 * 1024),
    l2Enabled: read(env, 'DELTAMETA_READER_L2', onOff, true),
    l2TtlSeconds: read(env, 'DELTAMETA_READER_L2_TTL_SECONDS', positiveInt, 86_400),
    l2PageBytes: read(env, 'DELTAMETA_READER_L2_PAGE_BYTES', positiveInt, 4 * 1024 * 1024),
    l2MaxEntryBytes: read(env, 'DELTAMETA_READER_L2_MAX_ENTRY_BYTES', positiveInt, 64 * 1024 * 1024),
    l3Enabled: read(env, 'DELTAMETA_READER_L3', onOff, true),
    filePagesEnabled: read(env, 'DELTAMETA_READER_FILE_PAGES', onOff, true),
    arrowSegmentsEnabled: read(env, 'DELTAMETA_READER_ARROW_SEGMENTS', onOff, true),
    compressMinBytes: read(env, 'DELTAMETA_READER_COMPRESS_MIN_BYTES', nonNegativeInt, 8192),
    streamAboveBytes: read(env, 'DELTAMETA_READER_STREAM_ABOVE_BYTES', nonNegativeInt, 64 * 1024 * 1024),
    maxTailActions: read(env, 'DELTAMETA_READER_MAX_TAIL_ACTIONS', positiveInt, 100_000),
    headSafetyTtlMs: read(env, 'DELTAMETA_READER_HEAD_SAFETY_TTL_MS', positiveInt, 1000),
    minVersionWaitMs: read(env, 'DELTAMETA_READER_MIN_VERSION_WAIT_MS', nonNegativeInt, 250),
    tokensFile,
    authEnabled,
    hotRecordIntervalMs: read(env, 'DELTAMETA_READER_HOT_RECORD_INTERVAL_MS', nonNegativeInt, 1000),
    allowAnonymous,
    allowWritableRole,
    tokensReloadIntervalMs: read(env, 'DELTAMETA_READER_TOKENS_RELOAD_INTERVAL_MS', positiveInt, 5000),
    pageTokenKey: read<string | undefined>(env, 'DELTAMETA_READER_TOKEN_KEY', z.string().min(32, 'must be at least 32 characters'), undefined),
    commitsMaxLimit: read(env, 'DELTAMETA_READER_COMMITS_MAX_LIMIT', positiveInt, 10_000),
    pgAcquireTimeoutMs: read(env, 'DELTAMETA_READER_PG_ACQUIRE_TIMEOUT_MS', positiveInt, 5000),
    pgStatementTimeoutMs: read(env, 'DELTAMETA_READER_PG_STATEMENT_TIMEOUT_MS', positiveInt, 30_000),
    pgIdleInTransactionTimeoutMs: read(env, 'DELTAMETA_READER_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS', positiveInt, 180_000),
    streamConnections: read(env, 'DELTAMETA_READER_STREAM_CONNECTIONS', positiveInt, 4),
    shadowSample: read(env, 'DELTAMETA_READER_SHADOW_SAMPLE', z.coerce.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1'), 0.01),
    shadowMaxFiles: read(env, 'DELTAMETA_READER_SHADOW_MAX_FILES', positiveInt, 200_000),
    shadowQueue: read(env, 'DELTAMETA_READER_SHADOW_QUEUE', positiveInt, 4),
    streamSendTimeoutMs: read(env, 'DELTAMETA_READER_STREAM_SEND_TIMEOUT_MS', positiveInt, 120_000),
    maxFilters: read(env, 'DELTAMETA_READER_MAX_FILTERS', positiveInt, 32),
    maxQueryBytes: read(env, 'DELTAMETA_READER_MAX_QUERY_BYTES', positiveInt, 8192),
    l2WriteBudgetBytes: read(env, 'DELTAMETA_READER_L2_WRITE_BUDGET_BYTES', positiveInt, 128 * 1024 * 1024),
    sharingEnabled: read(env, 'DELTAMETA_READER_SHARING', onOff, true),
    sharingPrefix: read(env, 'DELTAMETA_READER_SHARING_PREFIX', sharingPrefix, '/delta-sharing'),
    sharingReloadMs: read(env, 'DELTAMETA_READER_SHARING_RELOAD_MS', positiveInt, 2000),
    sharingUrlTtlMs: read(env, 'DELTAMETA_READER_SHARING_URL_TTL_MS', positiveInt, 900_000),
    sharingUrlKey: read<string | undefined>(env, 'DELTAMETA_READER_SHARING_URL_KEY', z.string().refine((text) => Buffer.byteLength(text, 'utf8') >= 32, 'must be at least 32 bytes'), undefined),
    sharingPublicUrl: read<string | undefined>(env, 'DELTAMETA_READER_SHARING_PUBLIC_URL', z.string().url('must be a URL like https://host/delta-sharing'), undefined),
    sharingMaxFiles: read(env, 'DELTAMETA_READER_SHARING_MAX_FILES', positiveInt, 100_000),
    sharingKeepMaxFiles: read(env, 'DELTAMETA_READER_SHARING_KEEP_MAX_FILES', positiveInt, 20_000),
  };
}
