/**
 * What PostgreSQL says about a replication slot this instance could not
 * stream from: held by another walsender (55006: stand by), gone (dropped
 * by an operator: create it again), or invalidated by
 * max_slot_wal_keep_size (the WAL it needed was removed while Kafka or the
 * CDC was away: drop it and create it again). A new slot starts at the
 * WAL's present; the commits in between are published from the log by
 * slot-gap.ts before the new slot streams, so nothing is lost.
 */
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { ensureSlot } from './setup.ts';

export type SlotLoss = 'missing' | 'invalidated';

/**
 * Whether `error` says the slot is gone or can no longer stream. PostgreSQL
 * 13-15 say an invalidated slot "cannot read from logical replication slot"
 * and only the detail says why ("This slot has been invalidated because it
 * exceeded the maximum reserved size."); 16+ say "can no longer get changes".
 */
export function slotLoss(error: unknown): SlotLoss | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const detail = typeof error === 'object' && error !== null && 'detail' in error && typeof error.detail === 'string' ? error.detail : '';
  if (/replication slot ".*" does not exist/.test(message)) return 'missing';
  if (/can no longer get changes from replication slot|has been invalidated/.test(`${message}\n${detail}`)) return 'invalidated';
  return undefined;
}

/** Creates the slot again (an invalidated one dropped first); its position. */
export async function replaceSlot(pool: Pool, slotName: string, loss: SlotLoss, logger: Logger): Promise<bigint> {
  logger.error({ slot: slotName, loss }, loss === 'missing' ? 'the replication slot is gone: creating it again' : 'the replication slot was invalidated: dropping and creating it again');
  if (loss === 'invalidated') await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slotName]);
  const slot = await ensureSlot(pool, slotName);
  return slot.position;
}
