/**
 * The file pages' maintainers (refreshFilePages, refreshArrowSegments) each
 * run as one REPEATABLE READ transaction under the table's session advisory
 * lock, taken before BEGIN: taken inside the transaction, the snapshot
 * would be the lock statement's own, from before the wait, and miss what
 * the previous holder committed.
 */
import { lockFilePagesSession, unlockFilePagesSession } from '../contracts/index.ts';
import { transactionOn, type Pool, type PoolClient } from '../db/index.ts';

export async function underPagesLock<R>(pool: Pool, tableId: number, work: (client: PoolClient) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  let reusable = false;
  try {
    await lockFilePagesSession(client, tableId);
    try {
      return await transactionOn(client, work, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
    } finally {
      reusable = await unlockFilePagesSession(client, tableId).then(() => true, () => false);
    }
  } finally {
    client.release(reusable ? undefined : true);
  }
}
