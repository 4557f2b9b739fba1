/**
 * What the connected role may change in the deltameta schema: superuser,
 * CREATE on the schema, and INSERT/UPDATE/DELETE/TRUNCATE on any of its
 * tables (partitions included: their owner can reach them directly). The
 * services that must hold exactly a given set of rights check it at start
 * (the reader: none; the committer: the log tables' only).
 */
import type { Pool } from './pool.ts';

const privilegesSql = `
SELECT current_user AS role,
       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS superuser,
       has_schema_privilege('deltameta', 'CREATE') AS schema_create,
       ARRAY(
         SELECT format('%s on %I.%I', privilege, n.nspname, c.relname)
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS privilege
          WHERE n.nspname = 'deltameta' AND c.relkind IN ('r', 'p', 'm')
            AND has_table_privilege(c.oid, privilege)
          ORDER BY c.relname, privilege
       ) AS table_writes`;

export interface RoleWrites {
  readonly role: string;
  /** 'superuser' and 'CREATE on schema deltameta' when they hold */
  readonly roleRights: readonly string[];
  /** e.g. 'INSERT on deltameta.delta_commit' */
  readonly tableWrites: readonly string[];
}

/** undefined when PostgreSQL answers no row (it always does for a connected role) */
export async function roleWrites(pool: Pool): Promise<RoleWrites | undefined> {
  const { rows } = await pool.query<{ role: string; superuser: boolean; schema_create: boolean; table_writes: string[] }>(privilegesSql);
  const row = rows[0];
  if (!row) return undefined;
  return {
    role: row.role,
    roleRights: [...(row.superuser ? ['superuser'] : []), ...(row.schema_create ? ['CREATE on schema deltameta'] : [])],
    tableWrites: row.table_writes,
  };
}
