/**
 * dropTable: a table's log rows, materialized state and file pages go in
 * one PostgreSQL transaction, which also emits the transactional logical
 * decoding message the CDC turns into a `deltameta.drop.v1` event (after
 * every commit event of the table: same WAL, same order). What Redis holds
 * for the table (head pointer, summaries) is the caller's to delete after
 * the commit; the invalidator deletes the head pointer again on the event.
 *
 * Runs as the schema's owner: no service role may delete log rows
 * (docs/security.md, "Roles").
 */
import { inTransaction, type Pool, type PoolClient } from '../db/index.ts';
import { DeltametaError, NotFoundError } from '../errors/index.ts';
import { lockFilePages, lockImport, lockTableState, tableDropMessagePrefix } from '../contracts/index.ts';
import { checkTableName } from './tables.ts';

export interface DropOptions {
  /** Wait for a running refresh, file-pages pass or import of the table instead of refusing. */
  readonly force?: boolean;
  /** How long to wait for those locks before refusing, without force. Default 200 ms. */
  readonly lockWaitMs?: number;
}

export interface DropResult {
  readonly table: string;
  readonly tableId: number;
  /** rows deleted, by table of the schema */
  readonly rowsDeleted: Readonly<Record<string, number>>;
}

/**
 * Thrown when a table is not dropped because something is working on it (a
 * refresh, a file-pages pass, an import) and `force` was not given.
 */
export class DropRefusedError extends DeltametaError {
  readonly table: string;
  constructor(table: string, reason: string) {
    super('BAD_INPUT', `not dropping ${table}: ${reason}; retry later, or pass --force to wait for it`);
    this.table = table;
  }
}

/** SQLSTATE lock_not_available: lock_timeout ran out. */
const lockNotAvailable = '55P03';

// serves: delta_table name unique index
const tableIdSql = (lock: '' | 'FOR UPDATE'): string => `SELECT table_id FROM deltameta.delta_table WHERE name = $1 ${lock}`;

/**
 * Every table of the schema that holds rows per table_id, children before
 * delta_table (whose delete cascades to delta_commit, table_state,
 * partition_summary and file_page_state anyway). Each delete is served by
 * the table's primary key or (table_id, …) index; the hash-partitioned ones
 * prune to one partition. test/integration/drop-table.test.ts checks that
 * no table of the schema keeps a row of a dropped table.
 */
const perTableTables = [
  'file_page', 'file_page_state', 'file_index', 'partition_summary', 'table_state',
  'delta_add', 'delta_remove', 'delta_cdc', 'delta_metadata', 'delta_protocol', 'delta_txn', 'delta_domain_metadata', 'delta_commit',
  // what the CDC recorded as published for it (services/cdc/slot-gap.ts)
  'cdc_published',
] as const;

const deleteRowsSql = (table: (typeof perTableTables)[number]): string => `DELETE FROM deltameta.${table} WHERE table_id = $1`;

// serves: delta_table primary key
const deleteTableSql = 'DELETE FROM deltameta.delta_table WHERE table_id = $1';

/** Transactional: decoded only if the drop commits, in commit order with the table's commits. */
const emitDropMessageSql = 'SELECT pg_logical_emit_message(true, $1, $2)';

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

async function tableIdOf(client: PoolClient, table: string, lock: '' | 'FOR UPDATE'): Promise<number> {
  const { rows } = await client.query<{ table_id: number }>(tableIdSql(lock), [table]);
  const tableId = rows[0]?.table_id;
  if (tableId === undefined) throw new NotFoundError(`table ${table} does not exist`);
  return tableId;
}

/** The locks of everything that writes the table, in the order of shared/contracts/locks.ts; without force, a holder is a refusal. */
async function lockWriters(client: PoolClient, table: string, tableId: number, options: DropOptions): Promise<void> {
  if (!options.force) await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(options.lockWaitMs ?? 200))}`);
  try {
    await lockImport(client, table);
    await lockTableState(client, tableId);
    await lockFilePages(client, tableId);
  } catch (error) {
    if (sqlState(error) === lockNotAvailable) throw new DropRefusedError(table, 'a refresh, file-pages pass or import of it is running');
    throw error;
  }
  if (!options.force) await client.query('SET LOCAL lock_timeout = 0');
}

export async function dropTable(pool: Pool, table: string, options: DropOptions = {}): Promise<DropResult> {
  checkTableName(table);
  return inTransaction(pool, async (client) => {
    const tableId = await tableIdOf(client, table, '');
    // The advisory locks before the row lock, as an import takes them (a row lock first could deadlock with one).
    await lockWriters(client, table, tableId, options);
    // Commits of the table wait for the row lock, then find no table. Recreated meanwhile under the name: not this table.
    if ((await tableIdOf(client, table, 'FOR UPDATE')) !== tableId) throw new DropRefusedError(table, 'it was dropped and created again meanwhile');
    const rowsDeleted: Record<string, number> = {};
    for (const child of perTableTables) {
      const deleted = await client.query(deleteRowsSql(child), [tableId]);
      rowsDeleted[child] = deleted.rowCount ?? 0;
    }
    await client.query(deleteTableSql, [tableId]);
    await client.query(emitDropMessageSql, [tableDropMessagePrefix, JSON.stringify({ table, tableId })]);
    return { table, tableId, rowsDeleted };
  });
}
