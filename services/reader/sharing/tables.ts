/**
 * The tables a share's entries name, resolved when a request lists them: a
 * named entry is listed while its deltameta table exists; a prefix entry
 * lists every deltameta table whose name starts with it now (a table created
 * later appears without a configuration change), each under its own name —
 * skipped when that name is not a valid shared name (shared/sharing names),
 * or when an earlier entry of the schema already shares that name (named
 * entries first).
 */
import type { Pool } from '../../../shared/db/index.ts';
import { isSharingName, tableIdFor, type SharingShare, type SharingTableEntry } from '../../../shared/sharing/index.ts';

export interface SharedTable {
  readonly share: string;
  readonly shareId: string;
  readonly schema: string;
  /** its name in the share */
  readonly name: string;
  /** the protocol's table id: stable, unique within the share */
  readonly id: string;
  /** the deltameta table it is */
  readonly table: string;
  readonly tableId: number;
}

/** The share's tables (of `entries`: one schema's or all), ordered by schema then name. */
export async function resolveSharedTables(pool: Pool, share: SharingShare, entries: readonly SharingTableEntry[]): Promise<SharedTable[]> {
  if (entries.length === 0) return [];
  const names = entries.flatMap((entry) => (entry.tableName === null ? [] : [entry.tableName]));
  const prefixes = entries.flatMap((entry) => (entry.prefix === null ? [] : [entry.prefix]));
  const { rows } = await pool.query<{ table_id: string; name: string }>(
    `SELECT table_id, name FROM deltameta.delta_table
      WHERE name = ANY($1::text[]) OR EXISTS (SELECT FROM unnest($2::text[]) AS p(prefix) WHERE starts_with(name, p.prefix))
      ORDER BY name`,
    [names, prefixes],
  );
  const tableIds = new Map(rows.map((row) => [row.name, Number(row.table_id)]));
  const taken = new Set<string>();
  const shared: SharedTable[] = [];
  const add = (entry: SharingTableEntry, name: string, table: string, id: string): void => {
    const key = `${entry.schema}\u0000${name}`;
    const tableId = tableIds.get(table);
    if (taken.has(key) || tableId === undefined) return;
    taken.add(key);
    shared.push({ share: share.name, shareId: share.id, schema: entry.schema, name, id, table, tableId });
  };
  for (const entry of entries) {
    if (entry.tableName !== null && entry.sharedAs !== null) add(entry, entry.sharedAs, entry.tableName, entry.entryId);
  }
  for (const entry of entries) {
    const prefix = entry.prefix;
    if (prefix === null) continue;
    for (const row of rows) {
      if (row.name.startsWith(prefix) && isSharingName(row.name)) add(entry, row.name, row.name, tableIdFor(entry.entryId, row.table_id));
    }
  }
  return shared.sort((a, b) => compareKeys([a.schema, a.name], [b.schema, b.name]));
}

/** Orders keys (tuples of names) by code unit, element by element: the order pages follow. */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const x = a[index] ?? '';
    const y = b[index] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
