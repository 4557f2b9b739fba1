import type { Pool } from '../../shared/db/index.ts';

// serves: delta_table primary key
const tableNamesByIdSql = 'SELECT table_id, name FROM deltameta.delta_table WHERE table_id = ANY($1::bigint[])';

/**
 * Table names by table_id, for the event key. Names never change once a
 * table exists (delta_table.name is its identity), so a name is looked up
 * once per process and kept.
 */
export class TableNames {
  private readonly names = new Map<number, string>();

  constructor(private readonly pool: Pool) {}

  get(tableId: number): string | undefined {
    return this.names.get(tableId);
  }

  /**
   * The ids of `tableIds` that exist now, asked of PostgreSQL (not the kept
   * names: a dropped table's name stays known). A genuine drop message comes
   * from the transaction that deleted its table's row; one whose table still
   * exists was emitted by someone else (pg_logical_emit_message is open to
   * every role).
   */
  async existing(tableIds: readonly number[]): Promise<Set<number>> {
    if (tableIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ table_id: number }>(tableNamesByIdSql, [[...new Set(tableIds)]]);
    return new Set(rows.map((row) => Number(row.table_id)));
  }

  /** After a drop: a name kept for the id would publish the dropped table's commits still on their way. */
  forget(tableId: number): void {
    this.names.delete(tableId);
  }

  /** Makes sure every id that exists is known; ids still unknown afterwards are not in delta_table. */
  async load(tableIds: Iterable<number>): Promise<void> {
    const missing = [...new Set(tableIds)].filter((tableId) => !this.names.has(tableId));
    if (missing.length === 0) return;
    const { rows } = await this.pool.query<{ table_id: number; name: string }>(tableNamesByIdSql, [missing]);
    for (const row of rows) this.names.set(Number(row.table_id), row.name);
  }
}
