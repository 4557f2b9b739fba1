/**
 * One REPEATABLE READ, READ ONLY transaction per answer: the watermark, the
 * materialized rows and the log tail are read from one snapshot, so a
 * refresh or retention committing meanwhile changes nothing for this
 * answer. Decides the level that can answer a version:
 * - l3: file_index / table_state hold it ([file_index_min_version, mv_version]);
 * - l4 "tail": beyond the watermark: state at the watermark plus the log tail;
 * - l4 "log": below file_index_min_version, no materialized state, or L3 off:
 *   the log tables alone (the reference reconciliation).
 */
import type { Pool, PoolClient } from '../../shared/db/index.ts';
import { materializedRange, type MaterializedRange } from '../../shared/materialized/index.ts';

export interface TableRef {
  readonly tableId: number;
  readonly name: string;
  readonly logStartVersion: number;
}

export type Plan =
  | { readonly level: 'l3'; readonly range: MaterializedRange }
  | { readonly level: 'l4'; readonly source: 'tail'; readonly range: MaterializedRange }
  | { readonly level: 'l4'; readonly source: 'log' };

export function planFor(range: MaterializedRange | undefined, version: number, l3Enabled: boolean): Plan {
  if (!l3Enabled || !range || version < range.minVersion) return { level: 'l4', source: 'log' };
  if (version <= range.mvVersion) return { level: 'l3', range };
  return { level: 'l4', source: 'tail', range };
}

/** Every answer's transaction: one snapshot, and a bug cannot write. */
export const beginSnapshotSql = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

export async function inSnapshot<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let reusable = false;
  try {
    await client.query(beginSnapshotSql);
    const result = await work(client);
    await client.query('COMMIT');
    reusable = true;
    return result;
  } finally {
    if (!reusable) reusable = await client.query('ROLLBACK').then(() => true, () => false);
    client.release(reusable ? undefined : true);
  }
}

export async function planInSnapshot(client: PoolClient, table: TableRef, version: number, l3Enabled: boolean): Promise<Plan> {
  return planFor(l3Enabled ? await materializedRange(client, table.tableId) : undefined, version, l3Enabled);
}
