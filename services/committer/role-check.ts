/**
 * The committer connects with a role that can write the log tables and
 * nothing else (docs/security.md, "Roles": deltameta_write). At start it asks
 * PostgreSQL what its role may change in the deltameta schema and refuses
 * to serve with one that can write anything beyond the log — materialized
 * state, follow or publication state, the schema itself — or that cannot
 * write the log at all. The reader's check (services/reader/role-check.ts)
 * for a role that must only read; this one for a role that must only commit.
 */
import { ConfigError } from '../../shared/errors/index.ts';
import { roleWrites, type Pool } from '../../shared/db/index.ts';

/** What a commit writes (sql/000006_roles.sql): rows of the log tables, and the table row it locks (FOR UPDATE needs UPDATE). */
const logTables = [
  'delta_table', 'delta_commit', 'delta_add', 'delta_remove', 'delta_cdc', 'delta_metadata', 'delta_protocol', 'delta_txn', 'delta_domain_metadata',
];
const allowed = new Set([...logTables.map((table) => `INSERT on deltameta.${table}`), 'UPDATE on deltameta.delta_table']);

/** Throws a ConfigError naming the role and what it may write beyond the log tables (or which log table it cannot write). */
export async function checkCommitterRole(pool: Pool): Promise<void> {
  const row = await roleWrites(pool);
  if (!row) throw new ConfigError('DELTAMETA_COMMITTER_PG_URL', 'cannot read the role\'s privileges');
  const beyond = [...row.roleRights, ...row.tableWrites.filter((write) => !allowed.has(write))];
  if (beyond.length > 0) {
    throw new ConfigError(
      'DELTAMETA_COMMITTER_PG_URL',
      `connects as role "${row.role}", which can write beyond the log tables (${beyond.slice(0, 4).join(', ')}${beyond.length > 4 ? ', …' : ''}): `
        + 'give the committer a login role in deltameta_write only (docs/security.md, "Roles")',
    );
  }
  const held = new Set(row.tableWrites);
  const missing = [...allowed].filter((write) => !held.has(write));
  if (missing.length > 0) {
    throw new ConfigError(
      'DELTAMETA_COMMITTER_PG_URL',
      `connects as role "${row.role}", which cannot commit (no ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}): make it a member of deltameta_write`,
    );
  }
}
