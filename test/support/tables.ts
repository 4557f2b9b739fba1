/** Helpers for tests of the Delta log: temporary folders, collecting snapshots from both paths. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { replay } from '../../shared/delta/index.ts';
import { commit, findTable, snapshotLines, type CommitRequest, type CommitResult } from '../../shared/log-store/index.ts';

export class TempDirs {
  private readonly made: string[] = [];

  make(label: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), `deltameta-${label}-`));
    this.made.push(dir);
    return dir;
  }

  removeAll(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export async function replayLines(dir: string, options: { version?: number; timestampMs?: number } = {}): Promise<string[]> {
  return (await replay(dir, options)).liveLines();
}

export async function snapshotOf(pool: Pool, table: string, options: { version?: number; timestampMs?: number } = {}): Promise<{ version: number; lines: string[] }> {
  const snapshot = await snapshotLines(pool, table, options);
  const lines: string[] = [];
  for await (const line of snapshot.lines) lines.push(line);
  return { version: snapshot.version, lines };
}

export function pathsOf(lines: readonly string[]): string[] {
  return lines.map((line) => (JSON.parse(line) as { add: { path: string } }).add.path).sort();
}

/**
 * A commit decided on the table's latest version, as a writer that just read it would make
 * (a commit that removes files must say which version it read).
 */
export async function commitOnHead(pool: Pool, request: Omit<CommitRequest, 'readVersion'>): Promise<CommitResult> {
  const table = await findTable(pool, request.table);
  return commit(pool, { ...request, readVersion: table?.headVersion ?? -1 });
}
