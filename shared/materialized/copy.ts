/**
 * New file_index rows go in with COPY (text format): one round trip for a
 * commit's rows, and the bulk path of a build (a million rows) with no
 * statement per row.
 */
import { copyLines, type PoolClient } from '../db/index.ts';
import type { FileIndexRow } from './file-row.ts';

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
  return `${tableId}\t${row.addedVersion}\t${row.removedVersion ?? '\\N'}\t${row.size}\t${row.numRecords ?? '\\N'}\t${textCell(row.path)}\t${textCell(row.dvId)}\t${jsonCell(row.partitionValues)}\t${row.stats === null ? '\\N' : textCell(row.stats)}\t${jsonCell(row.addLine)}\n`;
}

export async function copyFileIndexRows(client: PoolClient, lines: readonly string[]): Promise<void> {
  await copyLines(client, 'deltameta.file_index', fileIndexColumns, lines);
}
