/**
 * New file_index rows go in with COPY (text format): one round trip for a
 * commit's rows, and the bulk path of a build (a million rows) with no
 * statement per row.
 */
import { copyLines, type PoolClient } from '../db/index.ts';
import type { AddColumns, FileIndexRow } from './file-row.ts';

const fileIndexColumns = [
  'table_id', 'added_version', 'removed_version', 'size', 'num_records', 'path', 'dv_id', 'partition_values', 'stats', 'add_line',
] as const;

const specialCharacters = /[\\\n\r\t]/;

/** Any text: backslash, newline, carriage return and tab are escaped. */
function textCell(value: string): string {
  if (!specialCharacters.test(value)) return value;
  return value.replace(/[\\\n\r\t]/g, (char) => (char === '\\' ? '\\\\' : char === '\n' ? '\\n' : char === '\r' ? '\\r' : '\\t'));
}

/** JSON.stringify output: never a raw control character, so only backslashes need doubling. */
function jsonCell(value: string): string {
  return value.includes('\\') ? value.replaceAll('\\', '\\\\') : value;
}

export function copyLine(tableId: number, row: FileIndexRow): string {
  return rowLine(tableId, row.addedVersion, row.removedVersion, row.path, row.dvId, row, jsonCell(row.addLine));
}

/**
 * The line of a live row added at `addedVersion`, its add line already a
 * cell (backslashes doubled): an import's base checkpoint shares the add's
 * JSON text between its delta_add row and this one.
 */
export function liveCopyLine(tableId: number, addedVersion: number, path: string, dvId: string, columns: AddColumns, addLineCell: string): string {
  return rowLine(tableId, addedVersion, null, path, dvId, columns, addLineCell);
}

function rowLine(
  tableId: number, addedVersion: number, removedVersion: number | null, path: string, dvId: string, columns: AddColumns, addLineCell: string,
): string {
  // join, not a template: one flat string (a template makes a rope, flattened later at a higher cost).
  return [
    tableId, addedVersion, removedVersion ?? '\\N', columns.size, columns.numRecords ?? '\\N', textCell(path), textCell(dvId),
    jsonCell(columns.partitionValues), columns.stats === null ? '\\N' : textCell(columns.stats), `${addLineCell}\n`,
  ].join('\t');
}

export async function copyFileIndexRows(client: PoolClient, lines: readonly string[]): Promise<void> {
  await copyLines(client, 'deltameta.file_index', fileIndexColumns, lines);
}
