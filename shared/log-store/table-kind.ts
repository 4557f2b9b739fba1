/**
 * Followed and owned tables (sql/000011_table_kinds.sql). An import says what
 * it does to the kind:
 * - `register` (`deltameta follow <dir> --table T`): a new table is created
 *   followed from the folder; an owned table imported from that folder
 *   becomes followed, once its files hold every version PostgreSQL has.
 * - `sync` (services/follower): the table must still be followed; one
 *   handed over meanwhile is refused (NotFollowedError), so a follower that
 *   lost the race never writes a version after the handover.
 * Either records the follow's progress in table_follow. Without `follow`,
 * an import leaves the kind alone (a hand-run import of a followed table is
 * the follower's sync, by hand).
 */
import { realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { PoolClient } from '../db/index.ts';
import type { LogListing } from '../delta/index.ts';
import { BadRequestError } from '../errors/index.ts';
import type { TableRow } from './tables.ts';

export type FollowMode = 'register' | 'sync';

/** A follower's sync of a table that is no longer followed (handed over, or never was). */
export class NotFollowedError extends BadRequestError {
  readonly table: string;
  constructor(table: string) {
    super(`${table}: the table is owned (PostgreSQL is its authority), not followed: nothing is imported into it from files`);
    this.table = table;
  }
}

/** Before a sync of `existing`: refuses what the mode does not allow. */
export function checkKindBeforeSync(existing: TableRow, mode: FollowMode | undefined): void {
  if (mode === 'sync' && existing.kind !== 'followed') throw new NotFollowedError(existing.name);
}

// serves: table_follow primary key
const recordFollowSql = `
  INSERT INTO deltameta.table_follow AS f (table_id, followed_version, file_time, imported_at)
  VALUES ($1, $2, to_timestamp($3::double precision / 1000), now())
  ON CONFLICT (table_id) DO UPDATE SET
    followed_version = excluded.followed_version,
    file_time = COALESCE(excluded.file_time, f.file_time),
    imported_at = excluded.imported_at, error = NULL, error_at = NULL`;

/**
 * After the import of `tableId` (head now `head`): the kind the mode gives
 * it and the follow's progress. `previous` is the table before a sync
 * (undefined when the import created it, already with the mode's kind).
 */
export async function recordKindAfterImport(
  client: PoolClient, tableId: number, previous: TableRow | undefined, head: number, listing: LogListing, mode: FollowMode | undefined,
): Promise<void> {
  if (mode === undefined && previous?.kind !== 'followed') return;
  if (mode === 'register' && previous && previous.kind === 'owned') {
    if (head > listing.latestVersion) {
      throw new BadRequestError(`${previous.name}: PostgreSQL holds versions up to ${head} but ${listing.tableDir} only up to ${listing.latestVersion}: the table has commits its files lack, so they cannot be its authority`);
    }
    await client.query("UPDATE deltameta.delta_table SET kind = 'followed', location = $2 WHERE table_id = $1", [tableId, realpathSync(listing.tableDir)]);
  }
  const commitFile = listing.commits.get(head);
  const fileTimeMs = commitFile === undefined ? null : await stat(commitFile).then((info) => info.mtimeMs, () => null);
  await client.query(recordFollowSql, [tableId, head, fileTimeMs]);
}
