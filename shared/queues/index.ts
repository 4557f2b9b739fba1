/**
 * The BullMQ queues of the pipeline, named from config, with their keys
 * under the deployment's Redis prefix. A refresh job names a table; jobs are
 * deduplicated per table so a burst of commits becomes one catch-up job.
 */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Config } from '../config/index.ts';

export interface RefreshJobData {
  readonly table: string;
  readonly tableId: number;
  /** the newest version known when the job was enqueued (the job refreshes to the newest committed) */
  readonly version: number;
  /** its commit timestamp, ISO 8601 */
  readonly committedAt: string;
}

export const refreshJobName = 'refresh';

export function bullPrefix(config: Config): string {
  return `${config.pipeline.redisPrefix}bull`;
}

export function refreshJobOptions(table: string): JobsOptions {
  return {
    // One waiting or running job per table: later events for it are dropped
    // until the running job removes the key (see services/refresher).
    deduplication: { id: `refresh:${table}` },
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

export function refreshQueue(config: Config, connectionName: string): Queue<RefreshJobData> {
  return new Queue<RefreshJobData>(config.pipeline.refreshQueue, {
    connection: redisConnectionOptions(config, connectionName),
    prefix: bullPrefix(config),
  });
}
