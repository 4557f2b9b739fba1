/**
 * The reader connects with a role that can only read (docs/security.md,
 * "Roles"): a session setting (default_transaction_read_only) is a second
 * line, not the first — any session can turn it off again. At start the
 * reader asks PostgreSQL what its role may do and refuses to serve with a
 * role that can change the schema's tables, unless the operator says so.
 */
import { ConfigError } from '../../shared/errors/index.ts';
import { roleWrites, type Pool } from '../../shared/db/index.ts';

/** Throws a ConfigError naming the role and what it can write, unless `allowWritable`. */
export async function checkReadOnlyRole(pool: Pool, allowWritable: boolean): Promise<void> {
  if (allowWritable) return;
  const row = await roleWrites(pool);
  if (!row) return;
  const writes = [...row.roleRights, ...row.tableWrites.slice(0, 4)];
  if (writes.length === 0) return;
  throw new ConfigError(
    'DELTAMETA_READER_PG_URL',
    `connects as role "${row.role}", which can write (${writes.join(', ')}${row.tableWrites.length > 4 ? ', …' : ''}): ` +
      'give the reader a login role in deltameta_read (docs/security.md, "Roles"), ' +
      'or set DELTAMETA_READER_ALLOW_WRITABLE_ROLE=true to run with this one',
  );
}
