/**
 * The committer's configuration (services/committer), read and validated
 * once per process beside loadConfig. Every option names its variable and
 * default; numbers carry their unit in the name.
 */
import { z } from 'zod';
import { localLoginUrl, onOff, readVariable, type Env } from '../../shared/config/index.ts';
import { ConfigError } from '../../shared/errors/index.ts';

export interface CommitterConfig {
  /** HTTP port of the commit API. DELTAMETA_COMMITTER_PORT, default 8081; 0 lets the OS pick (tests). */
  readonly port: number;
  /** Interface to listen on. DELTAMETA_COMMITTER_HOST, default 127.0.0.1. */
  readonly host: string;
  /**
   * Connection string of the committer's pool: a login role in
   * `deltameta_write` only (the log tables; checked at start, role-check.ts).
   * DELTAMETA_COMMITTER_PG_URL, default DELTAMETA_PG_URL as the local stack's
   * committer login (deltameta_committer).
   */
  readonly postgresUrl: string;
  /** Pool size: at most this many commits run at once (one connection each). DELTAMETA_COMMITTER_PG_POOL_MAX, default 16. */
  readonly poolMax: number;
  /** Longest wait for a pooled connection before the request fails with 503. DELTAMETA_COMMITTER_PG_ACQUIRE_TIMEOUT_MS, default 10000. */
  readonly pgAcquireTimeoutMs: number;
  /** statement_timeout of the committer's sessions. DELTAMETA_COMMITTER_PG_STATEMENT_TIMEOUT_MS, default 30000. */
  readonly pgStatementTimeoutMs: number;
  /** idle_in_transaction_session_timeout of the committer's sessions. DELTAMETA_COMMITTER_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS, default 60000. */
  readonly pgIdleInTransactionTimeoutMs: number;
  /** Largest request body, in bytes (413 beyond). DELTAMETA_COMMITTER_MAX_BODY_BYTES, default 64 MiB. */
  readonly maxBodyBytes: number;
  /** Most actions (non-blank lines) in one commit (413 beyond). DELTAMETA_COMMITTER_MAX_LINES, default 1000000. */
  readonly maxLines: number;
  /** A client gets this long to send its whole request (headers and body). DELTAMETA_COMMITTER_REQUEST_TIMEOUT_MS, default 120000. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. DELTAMETA_COMMITTER_KEEP_ALIVE_TIMEOUT_MS, default 5000. */
  readonly keepAliveTimeoutMs: number;
  /** Lost races against compatible winners before a commit gives up (409). DELTAMETA_COMMITTER_MAX_ATTEMPTS, default 100. */
  readonly maxAttempts: number;
  /** Operator file of write tokens (JSON: [{name, sha256, tablePrefixes}]). DELTAMETA_COMMITTER_TOKENS_FILE, default none. */
  readonly tokensFile: string | undefined;
  /**
   * Commits without a token. Without a tokens file the committer only
   * listens on loopback unless this is on. DELTAMETA_COMMITTER_ALLOW_ANONYMOUS=on|off, default off.
   */
  readonly allowAnonymous: boolean;
  /** The tokens file is re-read (besides on change and SIGHUP) when its stat changes, checked this often. DELTAMETA_COMMITTER_TOKENS_RELOAD_INTERVAL_MS, default 5000. */
  readonly tokensReloadIntervalMs: number;
}

const read = readVariable;
const port = z.coerce.number().int().min(0, 'must be a port number or 0').max(65535, 'must be a port number or 0');
const positiveInt = z.coerce.number().int().positive('must be a positive integer');
const postgresUrl = z.string().refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');
/** Hosts whose listener only this machine can reach. */
const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);

/** `basePostgresUrl`: DELTAMETA_PG_URL (loadConfig().postgresUrl), whose host and database the default login uses. */
export function loadCommitterConfig(basePostgresUrl: string, env: Env = process.env): CommitterConfig {
  const tokensFile = read<string | undefined>(env, 'DELTAMETA_COMMITTER_TOKENS_FILE', z.string(), undefined);
  const host = read(env, 'DELTAMETA_COMMITTER_HOST', z.string(), '127.0.0.1');
  const allowAnonymous = read(env, 'DELTAMETA_COMMITTER_ALLOW_ANONYMOUS', onOff, false);
  if (tokensFile === undefined && !allowAnonymous && !loopbackHosts.has(host)) {
    throw new ConfigError(
      'DELTAMETA_COMMITTER_HOST',
      `${host} is beyond loopback, where anyone could commit to every table without a token: set DELTAMETA_COMMITTER_TOKENS_FILE, or DELTAMETA_COMMITTER_ALLOW_ANONYMOUS=on to mean it`,
    );
  }
  return {
    port: read(env, 'DELTAMETA_COMMITTER_PORT', port, 8081),
    host,
    postgresUrl: read(env, 'DELTAMETA_COMMITTER_PG_URL', postgresUrl, localLoginUrl(basePostgresUrl, 'committer')),
    poolMax: read(env, 'DELTAMETA_COMMITTER_PG_POOL_MAX', positiveInt, 16),
    pgAcquireTimeoutMs: read(env, 'DELTAMETA_COMMITTER_PG_ACQUIRE_TIMEOUT_MS', positiveInt, 10_000),
    pgStatementTimeoutMs: read(env, 'DELTAMETA_COMMITTER_PG_STATEMENT_TIMEOUT_MS', positiveInt, 30_000),
    pgIdleInTransactionTimeoutMs: read(env, 'DELTAMETA_COMMITTER_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS', positiveInt, 60_000),
    maxBodyBytes: read(env, 'DELTAMETA_COMMITTER_MAX_BODY_BYTES', positiveInt, 64 * 1024 * 1024),
    maxLines: read(env, 'DELTAMETA_COMMITTER_MAX_LINES', positiveInt, 1_000_000),
    requestTimeoutMs: read(env, 'DELTAMETA_COMMITTER_REQUEST_TIMEOUT_MS', positiveInt, 120_000),
    keepAliveTimeoutMs: read(env, 'DELTAMETA_COMMITTER_KEEP_ALIVE_TIMEOUT_MS', positiveInt, 5_000),
    maxAttempts: read(env, 'DELTAMETA_COMMITTER_MAX_ATTEMPTS', positiveInt, 100),
    tokensFile,
    allowAnonymous,
    tokensReloadIntervalMs: read(env, 'DELTAMETA_COMMITTER_TOKENS_RELOAD_INTERVAL_MS', positiveInt, 5000),
  };
}
