/**
 * Before a sync import appends to a table, the folder must be the one the
 * table came from: otherwise the new versions of another table (another
 * folder, or the same name reused for a different table) would be appended
 * onto this one's history, and every reader would serve the mix.
 *
 * Checked: the location the table was imported from (when stored), the
 * metadata id in effect at the stored head, the stored head version itself
 * against its commit file (action counts, commitInfo position, the first and
 * last stored action byte for byte), and every earlier stored version whose
 * commit file the folder still has (action counts and the commitInfo: a
 * rewritten commit carries another one). A version the folder no longer has
 * (log cleanup) is not a divergence.
 */
import { realpathSync } from 'node:fs';
import type { PoolClient } from '../db/index.ts';
import { CheckpointUnreadableError, readCheckpoint, readJsonActions, type Action, type InputLimits, type LocatedAction, type LogListing } from '../delta/index.ts';
import { BadRequestError } from '../errors/index.ts';
import type { TableRow } from './tables.ts';

// serves: delta_commit primary key (table_id, version)
const storedVersionSql = `
  SELECT num_actions, num_adds, num_removes, commit_info_ordinal, is_checkpoint
    FROM deltameta.delta_commit WHERE table_id = $1 AND version = $2`;

// serves: the primary keys (table_id, version, ordinal) of each action table: two index probes per table
const storedEdgeActionsSql = `
  WITH version_actions AS (
    SELECT ordinal, action FROM deltameta.delta_add WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, action FROM deltameta.delta_remove WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, action FROM deltameta.delta_cdc WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, action FROM deltameta.delta_metadata WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, action FROM deltameta.delta_protocol WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, action FROM deltameta.delta_txn WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, action FROM deltameta.delta_domain_metadata WHERE table_id = $1 AND version = $2
  )
  (SELECT ordinal, action FROM version_actions ORDER BY ordinal LIMIT 1)
  UNION ALL
  (SELECT ordinal, action FROM version_actions ORDER BY ordinal DESC LIMIT 1)`;

// serves: delta_metadata primary key (latest at or before a version)
const storedMetadataIdSql = `
  SELECT metadata_id FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1`;

// serves: delta_commit primary key (table_id, version), one range scan
const storedHistorySql = `
  SELECT version, num_actions, num_adds, num_removes, commit_info, commit_info_ordinal
    FROM deltameta.delta_commit
   WHERE table_id = $1 AND version >= $2 AND version < $3 AND NOT is_checkpoint
   ORDER BY version`;

function diverges(table: TableRow, dir: string, version: number, what: string): never {
  throw new BadRequestError(
    `${table.name}: the history in ${dir} diverges from the stored one at version ${version} (${what}); nothing was written — import it under a new name`,
  );
}

function refuse(table: TableRow, dir: string, why: string): never {
  throw new BadRequestError(`${table.name}: ${dir} is not the table this name was imported from (${why}); nothing was written — import it under a new name`);
}

/** The action's stored text: what RowBatch writes in the `action` column. */
function storedText(action: Action): string | undefined {
  switch (action.kind) {
    case 'add': return JSON.stringify(action.add);
    case 'remove': return JSON.stringify(action.remove);
    case 'cdc': return JSON.stringify(action.cdc);
    case 'metaData': return JSON.stringify(action.metaData);
    case 'protocol': return JSON.stringify(action.protocol);
    case 'txn': return JSON.stringify(action.txn);
    case 'domainMetadata': return JSON.stringify(action.domainMetadata);
    default: return undefined;
  }
}

/**
 * `historyCheckedUpTo`: stored versions up to it were checked against this
 * folder by an earlier sync of the caller (the follower, syncing every new
 * version): only later ones are read again. The head is always checked.
 */
export async function checkSameTable(client: PoolClient, table: TableRow, listing: LogListing, limits: InputLimits, historyCheckedUpTo = -1): Promise<void> {
  const dir = listing.tableDir;
  if (table.location !== null && realpathSync(dir) !== table.location) refuse(table, dir, `it was imported from ${table.location}`);
  const head = table.headVersion;
  const { rows: stored } = await client.query<{
    num_actions: number; num_adds: number; num_removes: number; commit_info_ordinal: number | null; is_checkpoint: boolean;
  }>(storedVersionSql, [table.tableId, head]);
  const headFile = listing.commits.get(head);
  let headActions: LocatedAction[] | undefined;
  if (stored[0] && !stored[0].is_checkpoint) {
    if (!headFile) refuse(table, dir, `it has no commit file for the stored version ${head}`);
    headActions = await readJsonActions(headFile, limits);
  }
  const { rows: metadataRows } = await client.query<{ metadata_id: string }>(storedMetadataIdSql, [table.tableId, head]);
  const storedId = metadataRows[0]?.metadata_id;
  const folderId = await folderMetadataId(listing, head, headActions, limits);
  if (storedId !== undefined && folderId !== undefined && storedId !== folderId) {
    refuse(table, dir, `its metadata id at version ${head} is ${folderId}, the stored table's is ${storedId}`);
  }
  if (storedId !== undefined && folderId === undefined) refuse(table, dir, `no metadata at version ${head} can be found in it`);
  if (stored[0] && headActions) await checkStoredVersion(client, table, dir, headActions, stored[0]);
  await checkStoredHistory(client, table, listing, limits, historyCheckedUpTo);
}

/** What a commit file holds, in the terms delta_commit stores it. */
interface VersionShape {
  readonly actions: number;
  readonly adds: number;
  readonly removes: number;
  readonly commitInfoOrdinal: number | null;
  readonly commitInfo: unknown;
}

function shapeOf(actions: readonly LocatedAction[]): VersionShape {
  let counted = 0;
  let adds = 0;
  let removes = 0;
  let commitInfoOrdinal: number | null = null;
  let commitInfo: unknown = null;
  actions.forEach(({ action }, ordinal) => {
    if (action.kind === 'commitInfo') {
      commitInfoOrdinal = ordinal;
      commitInfo = action.commitInfo;
    } else if (action.kind !== 'checkpointMetadata' && action.kind !== 'sidecar') counted++;
    if (action.kind === 'add') adds++;
    if (action.kind === 'remove') removes++;
  });
  return { actions: counted, adds, removes, commitInfoOrdinal, commitInfo };
}

/** JSON with object keys sorted: jsonb keeps no key order, so the stored commitInfo is compared by value. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Every stored version below the head that the folder still has a commit
 * file for must be that commit: same action counts, same commitInfo
 * position and value. Reads each such file once (one at a time).
 */
async function checkStoredHistory(client: PoolClient, table: TableRow, listing: LogListing, limits: InputLimits, checkedUpTo: number): Promise<void> {
  const dir = listing.tableDir;
  const { rows } = await client.query<{
    version: number; num_actions: number; num_adds: number; num_removes: number; commit_info: unknown; commit_info_ordinal: number | null;
  }>(storedHistorySql, [table.tableId, Math.max(table.logStartVersion, checkedUpTo + 1), table.headVersion]);
  for (const row of rows) {
    const file = listing.commits.get(row.version);
    if (!file) continue;
    const shape = shapeOf(await readJsonActions(file, limits));
    if (shape.actions !== row.num_actions || shape.adds !== row.num_adds || shape.removes !== row.num_removes) {
      diverges(table, dir, row.version, `its commit has ${shape.actions} actions (${shape.adds} adds, ${shape.removes} removes), the stored version ${row.num_actions} (${row.num_adds}, ${row.num_removes})`);
    }
    if (shape.commitInfoOrdinal !== row.commit_info_ordinal || canonicalJson(shape.commitInfo) !== canonicalJson(row.commit_info)) {
      diverges(table, dir, row.version, `its commit's commitInfo differs from the stored one: ${canonicalJson(shape.commitInfo).slice(0, 200)} vs ${canonicalJson(row.commit_info).slice(0, 200)}`);
    }
  }
}

async function checkStoredVersion(
  client: PoolClient, table: TableRow, dir: string, actions: readonly LocatedAction[],
  stored: { num_actions: number; num_adds: number; num_removes: number; commit_info_ordinal: number | null },
): Promise<void> {
  const version = table.headVersion;
  const shape = shapeOf(actions);
  if (shape.actions !== stored.num_actions || shape.adds !== stored.num_adds || shape.removes !== stored.num_removes || shape.commitInfoOrdinal !== stored.commit_info_ordinal) {
    refuse(table, dir, `its version ${version} has ${shape.actions} actions (${shape.adds} adds, ${shape.removes} removes), the stored one ${stored.num_actions} (${stored.num_adds}, ${stored.num_removes})`);
  }
  const { rows } = await client.query<{ ordinal: number; action: string }>(storedEdgeActionsSql, [table.tableId, version]);
  for (const row of rows) {
    const fileAction = actions[row.ordinal]?.action;
    if (!fileAction || storedText(fileAction) !== row.action) refuse(table, dir, `action ${row.ordinal + 1} of its version ${version} differs from the stored one`);
  }
}

/**
 * The folder's metadata id at a version: the newest metaData in the
 * commit files walking back from it, else the one in the newest readable
 * checkpoint at or before it (read until its metaData row); a damaged
 * checkpoint is passed over for the commits and checkpoints below it, as
 * import and replay pass over it.
 */
async function folderMetadataId(listing: LogListing, version: number, headActions: readonly LocatedAction[] | undefined, limits: InputLimits): Promise<string | undefined> {
  let at = version;
  for (const checkpoint of [...listing.checkpoints.filter((candidate) => candidate.version <= version), undefined]) {
    const floor = checkpoint?.version ?? -1;
    for (; at > floor; at--) {
      const file = listing.commits.get(at);
      if (!file) break;
      const actions = at === version && headActions ? headActions : await readJsonActions(file, limits);
      const metadata = [...actions].reverse().find(({ action }) => action.kind === 'metaData')?.action;
      if (metadata?.kind === 'metaData') return metadata.metaData.id;
    }
    if (!checkpoint) return undefined;
    at = floor;
    try {
      for await (const { action } of readCheckpoint(listing, checkpoint, limits)) {
        if (action.kind === 'metaData') return action.metaData.id;
      }
    } catch (error) {
      // A damaged checkpoint says nothing about identity: look past it.
      if (!(error instanceof CheckpointUnreadableError)) throw error;
    }
  }
  return undefined;
}
