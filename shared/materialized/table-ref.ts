/**
 * Which table a call is about (by name or id). The per-table lock that
 * serializes everything writing its materialized state is in
 * shared/contracts/locks.ts, with every other advisory lock and their order.
 */
import type { Pool, PoolClient } from '../db/index.ts';
import { BadRequestError, NotFoundError } from '../errors/index.ts';
import { requireTable } from '../log-store/index.ts';

/** A table name, or its delta_table.table_id. */
export type TableRef = string | number;

export interface RefreshTarget {
  readonly tableId: number;
  readonly name: string;
  readonly logStartVersion: number;
}

export async function resolveTable(db: Pool | PoolClient, table: TableRef): Promise<RefreshTarget> {
  if (typeof table === 'string') {
    const row = await requireTable(db, table);
    return { tableId: row.tableId, name: row.name, logStartVersion: row.logStartVersion };
  }
  if (!Number.isSafeInteger(table) || table <= 0) throw new BadRequestError(`a table id must be a positive integer, got ${table}`);
  // serves: delta_table primary key
  const { rows } = await db.query<{ name: string; log_start_version: number }>(
    'SELECT name, log_start_version FROM deltameta.delta_table WHERE table_id = $1',
    [table],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`table id ${table} does not exist`);
  return { tableId: table, name: row.name, logStartVersion: row.log_start_version };
}

