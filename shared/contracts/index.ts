/**
 * The contracts between deltameta's processes: every name two of them must
 * agree on is defined here once and imported, never retyped.
 * - events.ts: the public `deltameta.commit.v1` event; topics.ts: its topics
 * - redis-keys.ts: Redis keys and channels; head-pointers.ts: the forward-only head move
 * - queues.ts: BullMQ queues and the refresh job's shape
 * - locks.ts: PostgreSQL advisory-lock namespaces and their order
 * - pipeline-lag.ts: how lag is measured (a service's gauge and `deltameta status` alike)
 * Topic, queue, group, slot and prefix *names* are configuration (shared/config, one default each).
 */
export {
  commitEventSchema, commitEventSchemaName, dropEventSchema, dropEventSchemaName, encodeCommitEvent, encodeDropEvent, parseCommitEvent, parsePipelineEvent,
  PoisonEventError, tableDropMessagePrefix, type CommitEvent, type DropEvent, type PipelineEvent,
} from './events.ts';
export { ensureCommitTopics } from './topics.ts';
export { redisKeys, summaryTtlSeconds, type RedisKeys } from './redis-keys.ts';
export { HeadPointers, type DropAnnouncement, type Head, type HeadAnnouncement } from './head-pointers.ts';
export {
  bullOptions, maintenanceJobs, maintenanceQueue, redisConnectionOptions, refreshBackoffStrategy, refreshDeduplicationId, refreshJobName, refreshJobOptions, refreshQueue, refreshRetry, refreshRetryDelayMs, type RefreshJobData,
} from './queues.ts';
export {
  lockFilePages, lockFilePagesSession, lockImport, lockMigrations, lockNamespaces, lockTableState, unlockFilePagesSession, unlockMigrations,
} from './locks.ts';
export { consumerGroupLags, consumerLagMessages, groupsReadingTopic, queueDepth, slotLag, type QueueDepth, type SlotLag } from './pipeline-lag.ts';
