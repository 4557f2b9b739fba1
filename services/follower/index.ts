export { Follower, type FollowerDeps } from './follower.ts';
export { defaultInstanceId, leaseTickMs, loadFollowerConfig, type FollowerConfig } from './config.ts';
export { followerMetrics, importOutcomes, type FollowerMetrics, type FollowState, type ImportOutcome } from './metrics.ts';
export type { ImportEvent, MissingVersions } from './table-follower.ts';
export type { HeldTable } from './lease.ts';
