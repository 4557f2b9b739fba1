/**
 * New file_index rows go in with COPY (text format): one round trip for a
 * commit's rows, and the bulk path of a build (a million rows) with no
 * statement per row.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { PoolClient } from '../db/index.ts';
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

/** Joins lines into ~1 MB chunks: one write per line is slow, one string for a million lines too big. */
function* chunked(lines: readonly string[]): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

export async function copyFileIndexRows(client: PoolClient, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const stream = client.query(copyFrom(`COPY deltameta.file_index (${fileIndexColumns.join(', ')}) FROM STDIN`));
  await pipeline(Readable.from(chunked(lines)), stream);
}
