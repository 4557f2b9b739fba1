/**
 * The table names GET /v1/tables lists: committed tables the caller's scopes
 * cover (whole name segments, shared/access table-scope.ts), in name order, a keyset page
 * at a time. The segment rule is applied in SQL so a page is full whatever
 * share of the names a scope's plain prefix also matches.
 */
import type { Pool } from '../../shared/db/index.ts';

// serves: delta_table name unique index (keyset paging in name order); delta_commit primary key for each head
const coveredTableNamesSql = `
  SELECT t.name FROM deltameta.delta_table t
   WHERE t.name COLLATE "C" > $1
     AND ($2::text[] IS NULL OR EXISTS (
           SELECT FROM unnest($2::text[]) p
            WHERE starts_with(t.name, p)
              AND (length(t.name) = length(p) OR right(p, 1) IN ('.', '_', '-', ':') OR substr(t.name, length(p) + 1, 1) IN ('.', '_', '-', ':'))))
     AND EXISTS (SELECT FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)
   ORDER BY t.name COLLATE "C" LIMIT $3`;

/** Up to `limit` names after `after` (code point order) that `scopes` cover; null scopes: every table, [] none. */
export async function coveredTableNames(pool: Pool, after: string, scopes: readonly string[] | null, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(coveredTableNamesSql, [after, scopes, limit]);
  return rows.map((row) => row.name);
}
