/**
 * The AddActionsLayout in force at a version: from the metaData at or
 * before it, read in the caller's snapshot. The metaData action is kept as
 * parsed once per stored text for every request after (keyed by the text,
 * not by table id and version: ids repeat across databases, as in a test
 * process that serves many).
 */
import type { PoolClient } from '../db/index.ts';
import type { MetadataAction } from '../delta/index.ts';
import { addActionsLayout, type AddActionsLayout } from './add-actions-layout.ts';

/** serves: delta_metadata primary key (table_id, version): one backward probe */
const metadataAtSql = 'SELECT version, action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1';

const parsed = new Map<string, MetadataAction>();

/** The layout with the metaData action it comes from (as stored: what the encoding worker is sent). */
export interface VersionLayout {
  readonly layout: AddActionsLayout;
  readonly metadata: string;
}

/** undefined when the table has no metaData at or before the version */
export async function layoutAt(client: PoolClient, tableId: number, version: number): Promise<AddActionsLayout | undefined> {
  return (await versionLayoutAt(client, tableId, version))?.layout;
}

export async function versionLayoutAt(client: PoolClient, tableId: number, version: number): Promise<VersionLayout | undefined> {
  const { rows } = await client.query<{ version: string | number; action: string }>(metadataAtSql, [tableId, version]);
  const row = rows[0];
  if (!row) return undefined;
  const key = row.action;
  let metadata = parsed.get(key);
  if (!metadata) {
    metadata = JSON.parse(row.action) as MetadataAction;
    if (parsed.size > 1000) parsed.clear();
    parsed.set(key, metadata);
  }
  return { layout: addActionsLayout(metadata), metadata: row.action };
}
