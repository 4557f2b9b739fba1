/**
 * The publisher's own settings (DELTAMETA_* variables, validated once):
 * - DELTAMETA_PUBLISHER_PG_URL: the login it connects with, which reads the
 *   log tables and keeps table_publication (deltameta_publish). Default: the
 *   local stack's `deltameta_log_publisher` login on DELTAMETA_PG_URL's database.
 * - DELTAMETA_PUBLISHER_GROUP: its Kafka consumer group on the commits
 *   topic. Default `deltameta-publisher`.
 * - DELTAMETA_PUBLISHER_SWEEP_INTERVAL_MS: how often every published table
 *   is checked for versions not yet written (a missed event, a crash
 *   mid-way). Default 5000.
 * - DELTAMETA_PUBLISHER_CONCURRENCY: tables published at once. Default 4.
 * - DELTAMETA_PUBLISHER_CHECKPOINT_INTERVAL: the checkpoint interval of a
 *   table whose metadata sets no `delta.checkpointInterval`. Default 10
 *   (Spark's; delta-rs's own default is 100); 0 writes no checkpoints
 *   beyond those a table's configuration asks for.
 */
import { z } from 'zod';
import { localLoginUrl, readVariable, type Config, type Env } from '../../shared/config/index.ts';

export interface PublisherConfig {
  readonly postgresUrl: string;
  readonly consumerGroup: string;
  readonly sweepIntervalMs: number;
  readonly concurrency: number;
  readonly defaultCheckpointInterval: number;
}

const postgresUrl = z.string().refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');
const groupName = z.string().regex(/^[A-Za-z0-9._:-]+$/, 'must be letters, digits, ".", "_", ":" or "-"');
const positiveInt = z.coerce.number().int().positive('must be a positive integer');
const nonNegativeInt = z.coerce.number().int().min(0, 'must be zero or a positive integer');

export function loadPublisherConfig(config: Config, env: Env = process.env): PublisherConfig {
  return {
    postgresUrl: readVariable(env, 'DELTAMETA_PUBLISHER_PG_URL', postgresUrl, localLoginUrl(config.postgresUrl, 'logPublisher')),
    consumerGroup: readVariable(env, 'DELTAMETA_PUBLISHER_GROUP', groupName, 'deltameta-publisher'),
    sweepIntervalMs: readVariable(env, 'DELTAMETA_PUBLISHER_SWEEP_INTERVAL_MS', positiveInt, 5000),
    concurrency: readVariable(env, 'DELTAMETA_PUBLISHER_CONCURRENCY', positiveInt, 4),
    defaultCheckpointInterval: readVariable(env, 'DELTAMETA_PUBLISHER_CHECKPOINT_INTERVAL', nonNegativeInt, 10),
  };
}
