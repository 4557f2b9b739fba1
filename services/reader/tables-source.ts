/** The table names GET /v1/tables lists: committed tables the caller's grant covers, in name order, a keyset page at a time. */
import type { Pool } from '../../shared/db/index.ts';

// serves: delta_table name unique index (keyset paging in name order); delta_commit primary key for each head
const listedTableNamesSql = `
  SELECT t.name FROM deltameta.delta_table t
   WHERE t.name COLLATE "C" > $1
     AND ($2::text[] IS NULL OR EXISTS (SELECT FROM unnest($2::text[]) p WHERE starts_with(t.name, p)))
     AND EXISTS (SELECT FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)
   ORDER BY t.name COLLATE "C" LIMIT $3`;

/**
 * Up to `limit` names after `after` (code point order); `prefixes`: only
 * names starting with one of them, null for all.
 */
export async function listedTableNames(pool: Pool, after: string, prefixes: readonly string[] | null, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(listedTableNamesSql, [after, prefixes, limit]);
  return rows.map((row) => row.name);
}
