/**
 * The BullMQ queues of the pipeline, named from config, with their keys
 * under the deployment's Redis prefix. A refresh job names a table; jobs are
 * deduplicated per table so a burst of commits becomes one catch-up job.
 */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Config } from '../config/index.ts';
import { redisKeys } from './redis-keys.ts';

export interface RefreshJobData {
  readonly table: string;
  readonly tableId: number;
  /** the newest version known when the job was enqueued (the job refreshes to the newest committed) */
  readonly version: number;
  /** its commit timestamp, ISO 8601 */
  readonly committedAt: string;
}

export const refreshJobName = 'refresh';

/** One waiting or running refresh job per table (the refresher releases it before its final pass). */
export function refreshDeduplicationId(table: string): string {
  return `refresh:${table}`;
}

/** The scheduled jobs of the maintenance queue, by name. */
export const maintenanceJobs = { views: 'refresh-views', retention: 'file-index-retention', catchUp: 'catch-up' } as const;

/**
 * A failing refresh (a quarantined table) is retried for as long as it fails:
 * exponential from 200 ms, capped at a minute, with no last attempt. A last
 * attempt would release the job's deduplication key, and the next catch-up
 * would enqueue a fresh job whose backoff starts again at 200 ms; a delayed
 * retry keeps holding the key, so events and catch-ups add nothing meanwhile.
 * The retry delays are computed by the refresher's workers (refreshBackoffStrategy).
 */
export const refreshRetry = { type: 'deltameta-refresh', firstDelayMs: 200, maxDelayMs: 60_000, attempts: 1_000_000_000 } as const;

/** The delay before retry number `attemptsMade` (1 = after the first failure): 200 ms · 2^(n − 1), at most refreshRetry.maxDelayMs. */
export function refreshRetryDelayMs(attemptsMade: number): number {
  const exponent = Math.min(Math.max(0, attemptsMade - 1), 30);
  return Math.min(refreshRetry.maxDelayMs, refreshRetry.firstDelayMs * 2 ** exponent);
}

/** BullMQ's custom backoff strategy for refresh jobs (Worker settings.backoffStrategy). */
export function refreshBackoffStrategy(attemptsMade: number, type?: string): number {
  if (type !== refreshRetry.type) throw new Error(`refresh jobs use the "${refreshRetry.type}" backoff, not "${type}"`);
  return refreshRetryDelayMs(attemptsMade);
}

export function refreshJobOptions(table: string): JobsOptions {
  return {
    // One waiting or running job per table: later events for it are dropped
    // until the running job removes the key (see services/refresher).
    deduplication: { id: refreshDeduplicationId(table) },
    attempts: refreshRetry.attempts,
    backoff: { type: refreshRetry.type },
    removeOnComplete: true,
    removeOnFail: 1000,
  };
}

export function redisConnectionOptions(config: Config, connectionName: string): ConnectionOptions {
  const url = new URL(config.redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    connectionName,
    maxRetriesPerRequest: null,
  };
}

/** Where every BullMQ queue and worker of the deployment keeps its keys. */
export function bullOptions(config: Config, connectionName: string): { connection: ConnectionOptions; prefix: string } {
  return { connection: redisConnectionOptions(config, connectionName), prefix: redisKeys(config.pipeline.redisPrefix).bullPrefix };
}

export function refreshQueue(config: Config, connectionName: string): Queue<RefreshJobData> {
  return new Queue<RefreshJobData>(config.pipeline.refreshQueue, bullOptions(config, connectionName));
}

export function maintenanceQueue(config: Config, connectionName: string): Queue {
  return new Queue(config.pipeline.maintenanceQueue, bullOptions(config, connectionName));
}
