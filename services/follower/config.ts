/**
 * The follower's own settings (DELTAMETA_FOLLOWER_*), read once beside
 * loadConfig() and validated the same way (a bad value names its variable):
 *
 * - DELTAMETA_FOLLOWER_PG_URL: its PostgreSQL login. Default: the local
 *   stack's follower login (deltameta_follower, a member of deltameta_follow)
 *   on DELTAMETA_PG_URL's host and database.
 * - DELTAMETA_FOLLOWER_POLL_MS: how often each followed table's next commit
 *   file is looked for (one stat), with inotify or without. Default 1000.
 * - DELTAMETA_FOLLOWER_INOTIFY=on|off: watch each `_delta_log` with fs.watch
 *   (inotify on Linux) where the filesystem supports it. Default on.
 * - DELTAMETA_FOLLOWER_LEASE_TTL_MS: how long a table's lease lasts without
 *   renewal: a follower that died holds its tables this long. Default 15000.
 * - DELTAMETA_FOLLOWER_SCAN_INTERVAL_MS: how often leases are renewed and new
 *   followed tables (and expired leases) looked for; never more than a third
 *   of the lease's time. Default 5000.
 * - DELTAMETA_FOLLOWER_MAX_TABLES: the most tables one instance holds (the
 *   rest are left to other instances). Default 1000.
 * - DELTAMETA_FOLLOWER_MAX_BACKOFF_MS: the longest wait before retrying a
 *   failed import of a table (doubling from 100 ms). Default 30000.
 * - DELTAMETA_FOLLOWER_INSTANCE_ID: the name written as lease_holder. Default
 *   `<hostname>:<pid>:<random>`, unique per process (two instances must never
 *   share one).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { localLoginUrl, onOff, readVariable, type Config, type Env } from '../../shared/config/index.ts';
import { ConfigError } from '../../shared/errors/index.ts';

export interface FollowerConfig {
  readonly postgresUrl: string;
  readonly pollMs: number;
  readonly inotify: boolean;
  readonly leaseTtlMs: number;
  readonly scanIntervalMs: number;
  readonly maxTables: number;
  readonly maxBackoffMs: number;
  readonly instanceId: string;
}

const positiveMs = z.coerce.number().int().positive('must be a positive number of milliseconds');
const positiveInt = z.coerce.number().int().positive('must be a positive integer');
const postgresUrl = z.string().refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');
const instanceId = z.string().regex(/^[A-Za-z0-9._:@-]{1,200}$/, 'must be 1 to 200 letters, digits, ".", "_", ":", "@" or "-"');

export function loadFollowerConfig(config: Config, env: Env = process.env): FollowerConfig {
  const read = readVariable;
  const leaseTtlMs = read(env, 'DELTAMETA_FOLLOWER_LEASE_TTL_MS', positiveMs, 15_000);
  if (leaseTtlMs < 300) throw new ConfigError('DELTAMETA_FOLLOWER_LEASE_TTL_MS', `must be at least 300 ms (got ${leaseTtlMs})`);
  return {
    postgresUrl: read(env, 'DELTAMETA_FOLLOWER_PG_URL', postgresUrl, localLoginUrl(config.postgresUrl, 'follower')),
    pollMs: read(env, 'DELTAMETA_FOLLOWER_POLL_MS', positiveMs, 1000),
    inotify: read(env, 'DELTAMETA_FOLLOWER_INOTIFY', onOff, true),
    leaseTtlMs,
    scanIntervalMs: read(env, 'DELTAMETA_FOLLOWER_SCAN_INTERVAL_MS', positiveMs, 5000),
    maxTables: read(env, 'DELTAMETA_FOLLOWER_MAX_TABLES', positiveInt, 1000),
    maxBackoffMs: read(env, 'DELTAMETA_FOLLOWER_MAX_BACKOFF_MS', positiveMs, 30_000),
    instanceId: read(env, 'DELTAMETA_FOLLOWER_INSTANCE_ID', instanceId, defaultInstanceId()),
  };
}

/** Unique per process: a restarted follower is a new holder (its old leases expire or are taken over). */
export function defaultInstanceId(): string {
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100)}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** How often the leases are renewed and the tables scanned: the scan interval, at most a third of the lease. */
export function leaseTickMs(config: Pick<FollowerConfig, 'leaseTtlMs' | 'scanIntervalMs'>): number {
  return Math.max(100, Math.min(config.scanIntervalMs, Math.floor(config.leaseTtlMs / 3)));
}
