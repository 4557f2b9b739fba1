/**
 * The environment of an isolated run of the pipeline: its own replication
 * slot, publication, topics, consumer group, queues and Redis prefix, and
 * admin ports picked by the OS, so a test suite, the demo or a benchmark
 * never collides with a `deltameta up` (or with each other) on the same stack.
 */
import { localLoginUrl, type PipelineConfig } from '../config/index.ts';
import type { Pool } from '../db/index.ts';

/** The names two runs on one stack must not share (the fields `loadConfig` reads them into). */
export type IsolatedPipelineNames = Pick<
  PipelineConfig,
  'slotName' | 'publicationName' | 'commitsTopic' | 'deadLetterTopic' | 'consumerGroup' | 'refreshQueue' | 'maintenanceQueue' | 'redisPrefix'
>;

/** Names derived from one run id (the demo's, a benchmark's); a slot or publication name allows only [a-z0-9_]. */
export function runPipelineNames(run: string): IsolatedPipelineNames {
  const slot = `run_${run}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return {
    slotName: slot,
    publicationName: slot,
    commitsTopic: `run-${run}-commits`,
    deadLetterTopic: `run-${run}-dlq`,
    consumerGroup: `run-${run}`,
    refreshQueue: `run-${run}-refresh`,
    maintenanceQueue: `run-${run}-maintenance`,
    redisPrefix: `run:${run}:`,
  };
}

/**
 * The environment the services of an isolated run are started with: the
 * caller's own environment, then the run's database and names, then
 * `overrides` (which win).
 */
export function isolatedEnvironment(
  postgresUrl: string,
  names: IsolatedPipelineNames,
  overrides: NodeJS.ProcessEnv = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...base,
    DELTAMETA_PG_URL: postgresUrl,
    // The reader reads the run's database as the local stack's read-only login (it refuses a role that can write).
    DELTAMETA_READER_PG_URL: localLoginUrl(postgresUrl, 'reader'),
    DELTAMETA_SLOT_NAME: names.slotName,
    DELTAMETA_PUBLICATION_NAME: names.publicationName,
    DELTAMETA_COMMITS_TOPIC: names.commitsTopic,
    DELTAMETA_DEAD_LETTER_TOPIC: names.deadLetterTopic,
    DELTAMETA_CONSUMER_GROUP: names.consumerGroup,
    // The publisher reads the run's topic in a group of its own (one group across topics would mix their offsets).
    DELTAMETA_PUBLISHER_GROUP: `${names.consumerGroup}-publisher`,
    DELTAMETA_REFRESH_QUEUE: names.refreshQueue,
    DELTAMETA_MAINTENANCE_QUEUE: names.maintenanceQueue,
    DELTAMETA_REDIS_PREFIX: names.redisPrefix,
    DELTAMETA_CDC_ADMIN_PORT: '0',
    DELTAMETA_INVALIDATOR_ADMIN_PORT: '0',
    DELTAMETA_REFRESHER_ADMIN_PORT: '0',
    DELTAMETA_READER_ADMIN_PORT: '0',
    DELTAMETA_READER_PORT: '0',
    DELTAMETA_FOLLOWER_ADMIN_PORT: '0',
    DELTAMETA_PUBLISHER_ADMIN_PORT: '0',
    DELTAMETA_COMMITTER_ADMIN_PORT: '0',
    DELTAMETA_COMMITTER_PORT: '0',
    DELTAMETA_LOG_LEVEL: 'info',
    ...overrides,
  };
}

/**
 * After an isolated run (the demo, a benchmark): its replication slot, which
 * would otherwise keep every later WAL segment on disk, and its publication.
 * Names from runPipelineNames are plain identifiers ([a-z0-9_]).
 */
export async function dropRunReplication(pool: Pool, names: IsolatedPipelineNames): Promise<void> {
  await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [names.slotName]);
  if (!/^[a-z0-9_]+$/.test(names.publicationName)) throw new Error(`not a plain publication name: ${names.publicationName}`);
  await pool.query(`DROP PUBLICATION IF EXISTS ${names.publicationName}`);
  // What the run's CDC recorded as published (services/cdc/slot-gap.ts) goes with its slot.
  await pool.query('DELETE FROM deltameta.cdc_published WHERE slot_name = $1', [names.slotName]);
}
