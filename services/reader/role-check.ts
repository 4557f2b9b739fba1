/**
 * The reader connects with a role that can only read (docs/security.md,
 * "Roles"): a session setting (default_transaction_read_only) is a second
 * line, not the first — any session can turn it off again. At start the
 * reader asks PostgreSQL what its role may do and refuses to serve with a
 * role that can change the schema's tables, unless the operator says so.
 */
import { ConfigError } from '../../shared/errors/index.ts';
import type { Pool } from '../../shared/db/index.ts';

/**
 * What the connected role may change in the deltameta schema: superuser,
 * CREATE on the schema, ownership or INSERT/UPDATE/DELETE/TRUNCATE on any of
 * its tables (partitions included: their owner can reach them directly).
 */
const writablePrivilegesSql = `
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
          LIMIT 4
       ) AS table_writes`;

interface WritablePrivileges {
  role: string;
  superuser: boolean;
  schema_create: boolean;
  table_writes: string[];
}

/** Throws a ConfigError naming the role and what it can write, unless `allowWritable`. */
export async function checkReadOnlyRole(pool: Pool, allowWritable: boolean): Promise<void> {
  if (allowWritable) return;
  const { rows } = await pool.query<WritablePrivileges>(writablePrivilegesSql);
  const row = rows[0];
  if (!row) return;
  const writes = [
    ...(row.superuser ? ['superuser'] : []),
    ...(row.schema_create ? ['CREATE on schema deltameta'] : []),
    ...row.table_writes,
  ];
  if (writes.length === 0) return;
  throw new ConfigError(
    'DELTAMETA_READER_PG_URL',
    `connects as role "${row.role}", which can write (${writes.join(', ')}${row.table_writes.length === 4 ? ', …' : ''}): ` +
      'give the reader a login role in deltameta_read (docs/security.md, "Roles"), ' +
      'or set DELTAMETA_READER_ALLOW_WRITABLE_ROLE=true to run with this one',
  );
}
