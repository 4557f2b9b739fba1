/**
 * Changes to the sharing configuration, for the `deltameta sharing` CLI (as
 * the owner, DELTAMETA_PG_URL). Each change is one transaction: input that
 * is wrong (BadRequestError, naming what) leaves everything as it was.
 */
import { unlink } from 'node:fs/promises';
import { inTransaction, type Pool, type PoolClient } from '../db/index.ts';
import { BadRequestError } from '../errors/index.ts';
import { checkSharingName, isSharingName, parseTableSelector, sharingNameRule, type TableSelector } from './names.ts';
import { generateToken, hashToken, profileFor, writeProfileFile } from './tokens.ts';

export interface ShareTablesResult {
  /** entries added, as given (`name`, or `prefix*`) with the name they are shared as */
  readonly added: readonly string[];
  /** entries that were already there */
  readonly existing: readonly string[];
  /** entries that match no deltameta table now (accepted: a table may come later) */
  readonly unmatched: readonly string[];
}

async function shareIdOf(client: PoolClient, share: string): Promise<string | undefined> {
  const { rows } = await client.query<{ share_id: string }>('SELECT share_id FROM deltameta.sharing_share WHERE name = $1', [share]);
  return rows[0]?.share_id;
}

async function matchesSomeTable(client: PoolClient, selector: TableSelector): Promise<boolean> {
  const { rowCount } = selector.kind === 'table'
    ? await client.query('SELECT 1 FROM deltameta.delta_table WHERE name = $1', [selector.name])
    : await client.query('SELECT 1 FROM deltameta.delta_table WHERE starts_with(name, $1) LIMIT 1', [selector.prefix]);
  return (rowCount ?? 0) > 0;
}

/** Adds tables (or prefixes) to `share`'s `schema`, creating both when missing. `sharedAs` names a single table. */
export async function shareTables(pool: Pool, share: string, schema: string, tables: readonly string[], sharedAs?: string): Promise<ShareTablesResult> {
  checkSharingName('share', share);
  checkSharingName('schema', schema);
  if (tables.length === 0) throw new BadRequestError('name at least one table or prefix to share');
  const selectors = tables.map(parseTableSelector);
  if (sharedAs !== undefined) {
    checkSharingName('--as', sharedAs);
    if (selectors.length !== 1 || selectors[0]?.kind !== 'table') throw new BadRequestError('--as names one table: give exactly one table, not a prefix');
  }
  return inTransaction(pool, async (client) => {
    await client.query('INSERT INTO deltameta.sharing_share (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [share]);
    const shareId = await shareIdOf(client, share);
    await client.query('INSERT INTO deltameta.sharing_schema (share_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [shareId, schema]);
    const added: string[] = [];
    const existing: string[] = [];
    const unmatched: string[] = [];
    for (const [index, selector] of selectors.entries()) {
      const given = tables[index] ?? '';
      if (!(await matchesSomeTable(client, selector))) unmatched.push(given);
      if (selector.kind === 'prefix') {
        const { rowCount } = await client.query(
          `INSERT INTO deltameta.sharing_table (share_id, schema_name, table_prefix) VALUES ($1, $2, $3)
           ON CONFLICT (share_id, schema_name, table_prefix) DO NOTHING`, [shareId, schema, selector.prefix]);
        (rowCount === 1 ? added : existing).push(given);
        continue;
      }
      const as = sharedAs ?? selector.name;
      if (!isSharingName(as)) {
        throw new BadRequestError(`table ${JSON.stringify(selector.name)} cannot be shared under its own name (shared names are ${sharingNameRule}): give --as <name>`);
      }
      const { rows } = await client.query<{ table_name: string }>(
        'SELECT table_name FROM deltameta.sharing_table WHERE share_id = $1 AND schema_name = $2 AND shared_as = $3', [shareId, schema, as]);
      const current = rows[0]?.table_name;
      if (current === selector.name) {
        existing.push(given);
        continue;
      }
      if (current !== undefined) throw new BadRequestError(`${share}.${schema} already shares table ${JSON.stringify(current)} as ${as}: unshare it first, or give another --as`);
      await client.query('INSERT INTO deltameta.sharing_table (share_id, schema_name, table_name, shared_as) VALUES ($1, $2, $3, $4)', [shareId, schema, selector.name, as]);
      added.push(as === selector.name ? given : `${given} as ${as}`);
    }
    return { added, existing, unmatched };
  });
}

/** Removes one entry: a shared name (or the deltameta table shared under it), or a `prefix*`. */
export async function unshareTable(pool: Pool, share: string, schema: string, table: string): Promise<void> {
  checkSharingName('share', share);
  checkSharingName('schema', schema);
  const selector = parseTableSelector(table);
  await inTransaction(pool, async (client) => {
    const shareId = await shareIdOf(client, share);
    if (shareId === undefined) throw new BadRequestError(`no share named ${share}`);
    const { rowCount } = selector.kind === 'prefix'
      ? await client.query('DELETE FROM deltameta.sharing_table WHERE share_id = $1 AND schema_name = $2 AND table_prefix = $3', [shareId, schema, selector.prefix])
      : await client.query('DELETE FROM deltameta.sharing_table WHERE share_id = $1 AND schema_name = $2 AND (shared_as = $3 OR table_name = $3)', [shareId, schema, selector.name]);
    if ((rowCount ?? 0) === 0) throw new BadRequestError(`${share}.${schema} has no table or prefix ${JSON.stringify(table)} (see deltameta sharing list)`);
  });
}

export interface RecipientRequest {
  readonly name: string;
  readonly shares: readonly string[];
  readonly endpoint: string;
  readonly profileFile: string;
  readonly expiresAt: Date | null;
}

/**
 * Creates the recipient with a new token, its grants, and its profile file,
 * which is written before the transaction commits (and removed if the commit
 * fails): there is never a recipient whose token nobody has. A revoked
 * recipient's name is issued again; a live one is refused.
 */
export async function createRecipient(pool: Pool, request: RecipientRequest): Promise<{ recipientId: string }> {
  checkSharingName('recipient', request.name);
  if (request.shares.length === 0) throw new BadRequestError('--share names no share');
  for (const share of request.shares) checkSharingName('share', share);
  const token = generateToken();
  let written = false;
  try {
    return await inTransaction(pool, async (client) => {
      const { rows: found } = await client.query<{ share_id: string; name: string }>(
        'SELECT share_id, name FROM deltameta.sharing_share WHERE name = ANY($1)', [request.shares]);
      const missing = request.shares.filter((share) => !found.some((row) => row.name === share));
      if (missing.length > 0) throw new BadRequestError(`no share named ${missing.join(', ')} (create it with deltameta sharing share)`);
      const { rows: current } = await client.query<{ revoked: boolean }>('SELECT revoked FROM deltameta.sharing_recipient WHERE name = $1 FOR UPDATE', [request.name]);
      if (current[0] && !current[0].revoked) throw new BadRequestError(`recipient ${request.name} exists: revoke it first (deltameta sharing revoke ${request.name}) to issue a new token`);
      if (current[0]) await client.query('DELETE FROM deltameta.sharing_recipient WHERE name = $1', [request.name]);
      const { rows } = await client.query<{ recipient_id: string }>(
        'INSERT INTO deltameta.sharing_recipient (name, token_sha256, expires_at) VALUES ($1, $2, $3) RETURNING recipient_id',
        [request.name, hashToken(token), request.expiresAt]);
      const recipientId = rows[0]?.recipient_id ?? '';
      await client.query('INSERT INTO deltameta.sharing_grant (recipient_id, share_id) SELECT $1, unnest($2::uuid[])', [recipientId, found.map((row) => row.share_id)]);
      try {
        await writeProfileFile(request.profileFile, profileFor(request.endpoint, token, request.expiresAt));
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code === 'EEXIST' ? 'it exists (a profile is never overwritten)' : (error as Error).message;
        throw new BadRequestError(`cannot write the profile ${request.profileFile}: ${reason}`);
      }
      written = true;
      return { recipientId };
    });
  } catch (error) {
    if (written) await unlink(request.profileFile).catch(() => undefined);
    throw error;
  }
}

/** Revokes the recipient's token (the reader refuses it once its configuration cache reloads); false if it already was. */
export async function revokeRecipient(pool: Pool, name: string): Promise<boolean> {
  checkSharingName('recipient', name);
  const { rows } = await pool.query<{ was_revoked: boolean }>(
    `UPDATE deltameta.sharing_recipient r SET revoked = true, revoked_at = coalesce(r.revoked_at, now())
       FROM deltameta.sharing_recipient old WHERE old.recipient_id = r.recipient_id AND r.name = $1
     RETURNING old.revoked AS was_revoked`, [name]);
  if (rows.length === 0) throw new BadRequestError(`no recipient named ${name}`);
  return rows[0]?.was_revoked !== true;
}
