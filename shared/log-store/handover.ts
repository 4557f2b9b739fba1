/**
 * `deltameta handover --table T --to owned` (sql/000011_table_kinds.sql):
 * turns a followed table into an owned one, published where it
 * was followed, at the version its files hold: one transaction that syncs
 * the files' last versions (the same import path, under the same lock the
 * follower's imports take), then changes the kind and records the files'
 * head as already published. Versions a file writer adds after that would
 * collide with the publisher's, which stops for the table and says so:
 * file writers stop before a handover (docs/delta-log.md).
 */
import { lockImport } from '../contracts/index.ts';
import { inTransaction, type Pool } from '../db/index.ts';
import { NotFoundError } from '../errors/index.ts';
import { importInTransaction } from './import.ts';
import { NotFollowedError } from './table-kind.ts';
import { checkTableName, findTable } from './tables.ts';

export interface HandoverResult {
  readonly tableId: number;
  /** the version the files held, now published */
  readonly version: number;
  /** versions the last sync brought in */
  readonly synced: number;
  readonly location: string;
}

/** `deltameta handover --table T --to owned`. */
export async function handoverToOwned(pool: Pool, table: string): Promise<HandoverResult> {
  checkTableName(table);
  return inTransaction(pool, async (client) => {
    // The import lock before the table's row, in the order every import takes them (shared/contracts locks.ts).
    await lockImport(client, table);
    const found = await findTable(client, table, { forUpdate: true });
    if (!found) throw new NotFoundError(`table ${JSON.stringify(table)} does not exist`);
    if (found.kind !== 'followed' || found.location === null) throw new NotFollowedError(table);
    const location = found.location;
    const synced = await importInTransaction(client, location, table, { follow: 'sync' });
    const version = Math.max(synced.toVersion, found.headVersion);
    await client.query("UPDATE deltameta.delta_table SET kind = 'owned' WHERE table_id = $1", [found.tableId]);
    await client.query('DELETE FROM deltameta.table_follow WHERE table_id = $1', [found.tableId]);
    await client.query(
      `INSERT INTO deltameta.table_publication (table_id, published_version, published_at) VALUES ($1, $2, now())
       ON CONFLICT (table_id) DO UPDATE SET published_version = excluded.published_version, published_at = now(), stopped_reason = NULL, stopped_at = NULL`,
      [found.tableId, version],
    );
    return { tableId: found.tableId, version, synced: Math.max(0, synced.toVersion - synced.fromVersion + 1), location };
  });
}
