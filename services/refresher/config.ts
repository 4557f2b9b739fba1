/**
 * The refresher's own settings (the pipeline's are in shared/config):
 * - DELTAMETA_REFRESH_LOCK_MS (default 10000): how long a refresh job's
 *   BullMQ lock lasts without renewal (renewed every half of it while the
 *   job runs). A refresher that dies mid-job (SIGKILL, a lost machine)
 *   holds its jobs' tables until the lock expires and the next stalled-jobs
 *   check (every half of it) hands them to another refresher: BullMQ's
 *   default 30 s lock and 30 s check made that up to a minute (measured by
 *   the chaos suite: 60.9 s). Safe to shorten: a refresh that loses its
 *   lock while still running (an event loop blocked longer than the lock)
 *   and runs twice is serialized by the table's advisory lock and idempotent.
 */
import { readVariable } from '../../shared/config/index.ts';
import { z } from 'zod';

export interface RefresherSettings {
  readonly lockMs: number;
}

export function refresherSettings(env: NodeJS.ProcessEnv = process.env): RefresherSettings {
  return { lockMs: readVariable(env, 'DELTAMETA_REFRESH_LOCK_MS', z.coerce.number().int().min(2000, 'must be at least 2000 (ms)'), 10_000) };
}

/** The BullMQ worker options that follow from the lock. */
export function stalledJobOptions(settings: RefresherSettings): { lockDuration: number; stalledInterval: number; maxStalledCount: number } {
  // A job found stalled 3 times (its refresher killed 3 times running it) fails rather than loop forever: the catch-up sweep asks again.
  return { lockDuration: settings.lockMs, stalledInterval: Math.round(settings.lockMs / 2), maxStalledCount: 3 };
}
