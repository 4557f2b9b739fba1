/**
 * The file pages' maintainers (refreshFilePages, refreshArrowSegments) each
 * run as one REPEATABLE READ transaction under the table's session advisory
 * lock, taken before BEGIN: taken inside the transaction, the snapshot
 * would be the lock statement's own, from before the wait, and miss what
 * the previous holder committed.
 */
import { lockFilePagesSession, unlockFilePagesSession } from '../contracts/index.ts';
import type { Pool, PoolClient } from '../db/index.ts';

export async function underPagesLock<R>(pool: Pool, tableId: number, work: (client: PoolClient) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  let reusable = false;
  try {
    await lockFilePagesSession(client, tableId);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      reusable = await unlockFilePagesSession(client, tableId).then(() => true, () => false);
    }
  } finally {
    client.release(reusable ? undefined : true);
  }
}
