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

export function refreshJobOptions(table: string): JobsOptions {
  return {
    // One waiting or running job per table: later events for it are dropped
    // until the running job removes the key (see services/refresher).
    deduplication: { id: refreshDeduplicationId(table) },
    attempts: 10,
    backoff: { type: 'exponential', delay: 200 },
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
