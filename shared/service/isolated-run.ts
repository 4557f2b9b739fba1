/**
 * The environment of an isolated run of the pipeline: its own replication
 * slot, publication, topics, consumer group, queues and Redis prefix, and
 * admin ports picked by the OS, so a test suite, the demo or a benchmark
 * never collides with a `deltameta up` (or with each other) on the same stack.
 */
import { localLoginUrl, type PipelineConfig } from '../config/index.ts';

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
