/**
 * The invalidator's own settings (DELTAMETA_* variables, validated once):
 * - DELTAMETA_INVALIDATOR_CONSUME: `on` (default) consumes the commits topic
 *   (head pointers, refresh jobs); `off` runs only the pipeline watch
 *   (pipeline-watch.ts): a process that keeps the lag gauges visible while
 *   every consuming invalidator, the CDC or the refresher is down.
 * - DELTAMETA_INVALIDATOR_WATCH_INTERVAL_MS: how often the watch measures the
 *   lag of every consumer group on the commits topic, the refresh queue and
 *   the replication slot. Default 5000.
 * - DELTAMETA_INVALIDATOR_GROUPS_RELIST_MS: how often the watch lists the
 *   broker's consumer groups again to find new subscribers of the topic.
 *   Default 30000.
 */
import { z } from 'zod';
import { onOff, readVariable, type Env } from '../../shared/config/index.ts';

export interface InvalidatorConfig {
  readonly consume: boolean;
  readonly watchIntervalMs: number;
  readonly groupsRelistMs: number;
}

const positiveInt = z.coerce.number().int().positive('must be a positive integer');

export function loadInvalidatorConfig(env: Env = process.env): InvalidatorConfig {
  return {
    consume: readVariable(env, 'DELTAMETA_INVALIDATOR_CONSUME', onOff, true),
    watchIntervalMs: readVariable(env, 'DELTAMETA_INVALIDATOR_WATCH_INTERVAL_MS', positiveInt, 5000),
    groupsRelistMs: readVariable(env, 'DELTAMETA_INVALIDATOR_GROUPS_RELIST_MS', positiveInt, 30_000),
  };
}
