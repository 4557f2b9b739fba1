/** `deltameta snapshot`: the live add actions at a version, from PostgreSQL, byte for byte what `replay` prints. */
import type { Pool } from '../db/index.ts';
import { addLine, type AddAction } from '../delta/index.ts';
import { reconciledFiles } from './state.ts';
import { requireTable, resolveVersion } from './tables.ts';

export interface SnapshotOptions {
  readonly version?: number;
  readonly timestampMs?: number;
}

export interface SnapshotLines {
  readonly version: number;
  readonly lines: AsyncGenerator<string>;
}

/** Resolves the version first (errors surface before any output), then streams the lines. */
export async function snapshotLines(pool: Pool, tableName: string, options: SnapshotOptions = {}): Promise<SnapshotLines> {
  const table = await requireTable(pool, tableName);
  const version = await resolveVersion(pool, table, options);
  async function* lines(): AsyncGenerator<string> {
    const client = await pool.connect();
    let finished = false;
    try {
      await client.query('BEGIN READ ONLY');
      for await (const row of reconciledFiles(client, table.tableId, version, table.logStartVersion)) {
        yield addLine(JSON.parse(row.action) as AddAction);
      }
      await client.query('COMMIT');
      finished = true;
    } finally {
      // A consumer that stops early leaves a half-read stream in an open
      // transaction: that connection must not go back to the pool.
      client.release(finished ? undefined : true);
    }
  }
  return { version, lines: lines() };
}
