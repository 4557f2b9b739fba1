/**
 * A default import (newest checkpoint plus its JSON tail) returns with the
 * table materialized, no refresher running: table_state at the head, and
 * file_index, partition_summary and table_state exactly what a build from
 * log_start_version (rebuildTable) writes, for a table whose tail removes
 * checkpoint files, re-adds them, replaces a file's deletion vector and is
 * partitioned. delta-rs lists the same files. A failed import leaves no row
 * anywhere, materialized or not.
 */
import { expect } from 'chai';
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, generateTable, replay, type AddAction } from '../../shared/delta/index.ts';
import { importMaterialized, rebuildTable, verifyTable } from '../../shared/materialized/index.ts';
import { deltaRsState, deltaRsWriteDeletionVectorFiles } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

/** Everything the materialized state holds for a table, in a fixed order (refreshed_at aside: a time, not state). */
async function materialized(pool: Pool, tableId: number): Promise<{ files: unknown[]; partitions: unknown[]; state: unknown[] }> {
  const files = await pool.query(
    `SELECT added_version, removed_version, size, num_records, path, dv_id, partition_values, partition_key, stats, add_line
       FROM deltameta.file_index WHERE table_id = $1 ORDER BY path, dv_id, added_version`, [tableId]);
  const partitions = await pool.query(
    'SELECT partition_key, num_files, size_bytes, num_records FROM deltameta.partition_summary WHERE table_id = $1 ORDER BY partition_key', [tableId]);
  const state = await pool.query(
    `SELECT mv_version, file_index_min_version, metadata, protocol, num_files, size_bytes, num_records, last_commit_at, last_timestamp_ms
       FROM deltameta.table_state WHERE table_id = $1`, [tableId]);
  return { files: files.rows, partitions: partitions.rows, state: state.rows };
}

function commitLine(actions: readonly object[]): string {
  return `${[{ commitInfo: { operation: 'WRITE', timestamp: 1_800_000_000_000 } }, ...actions].map((action) => JSON.stringify(action)).join('\n')}\n`;
}

/**
 * Three commits after the generated log: a checkpoint file removed then
 * added again, a new file added, removed and added again, and a file's
 * deletion vector replaced by another (a new key; the old one removed).
 */
async function writeTail(dir: string): Promise<{ head: number }> {
  const state = await replay(dir);
  const live = [...state.files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  const plain = live.find((add) => !add.deletionVector) as AddAction;
  const withDv = live.find((add) => add.deletionVector?.storageType === 'u');
  expect(plain, 'a live file without a deletion vector').to.not.equal(undefined);
  expect(withDv, 'a live file with a deletion vector').to.not.equal(undefined);
  const dv = withDv as AddAction;
  const fresh: AddAction = { ...plain, path: `${path.dirname(plain.path)}/tail-new.parquet`, modificationTime: 1_800_000_000_000 };
  // Another DV file (a new key): the z85 UUID's last digit lowered, which never overflows its group.
  const old = dv.deletionVector as NonNullable<AddAction['deletionVector']>;
  const replacedDv = { ...old, pathOrInlineDv: `${old.pathOrInlineDv.slice(0, -1)}${old.pathOrInlineDv.endsWith('0') ? '1' : '0'}`, cardinality: 1 };
  const removeOf = (add: AddAction): object => ({
    remove: { path: add.path, deletionTimestamp: 1_800_000_000_000, dataChange: true, ...(add.deletionVector ? { deletionVector: add.deletionVector } : {}) },
  });
  const head = state.version + 3;
  const logDir = path.join(dir, '_delta_log');
  writeFileSync(path.join(logDir, commitFileName(state.version + 1)), commitLine([removeOf(plain), { add: fresh }]));
  writeFileSync(path.join(logDir, commitFileName(state.version + 2)), commitLine([
    { add: { ...plain, modificationTime: 1_800_000_000_001 } }, removeOf(fresh), removeOf(dv), { add: { ...dv, deletionVector: replacedDv } },
  ]));
  writeFileSync(path.join(logDir, commitFileName(head)), commitLine([{ add: { ...fresh, size: fresh.size + 1 } }]));
  return { head };
}

describeWithEnv('import: materialized when it returns', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  before(() => {
    pool = env.pool(4);
  });
  after(async () => {
    dirs.removeAll();
    await pool.end();
  });

  it('a checkpoint and a tail with removes, re-adds, deletion vectors and partitions: the state a build writes, at the head', async function () {
    this.timeout(180_000);
    const dir = dirs.make('tail');
    const generated = await generateTable(dir, { files: 600, commits: 25, partitions: 4, checkpointInterval: 10, checkpointPartRows: 250, seed: 12 });
    expect(generated.checkpoints).to.include(20);
    const { head } = await writeTail(dir);

    const result = await importMaterialized(pool, dir, 'tail');
    expect(result.fromVersion).to.equal(20);
    expect(result.toVersion).to.equal(head);
    const imported = await materialized(pool, result.tableId);
    expect((imported.state[0] as { mv_version: number }).mv_version).to.equal(head);
    expect((imported.state[0] as { file_index_min_version: number }).file_index_min_version).to.equal(20);
    // Intervals, not just the live set: the re-added file has two rows, the file added in the tail two.
    expect(imported.files.filter((row) => (row as { removed_version: number | null }).removed_version !== null).length).to.be.greaterThanOrEqual(3);
    const verified = await verifyTable(pool, 'tail');
    expect(verified.problems).to.deep.equal([]);
    expect(verified.ok).to.equal(true);
    // The heap in runs of path order (the checkpoint's chunk, then the tail's rows), not in checkpoint
    // order: the whole list and the pages build read file_index_live in path order (issue 12).
    const heap = (await pool.query<{ path: string; dv_id: string }>(
      'SELECT path, dv_id FROM deltameta.file_index WHERE table_id = $1 ORDER BY ctid', [result.tableId])).rows;
    const descents = heap.filter((row, index) => {
      const before = heap[index - 1];
      return before !== undefined && (row.path < before.path || (row.path === before.path && row.dv_id < before.dv_id));
    }).length;
    expect(descents, 'places where the heap goes back in path order').to.be.at.most(1);

    await rebuildTable(pool, 'tail');
    const rebuilt = await materialized(pool, result.tableId);
    expect(imported.state).to.deep.equal(rebuilt.state);
    expect(imported.partitions).to.deep.equal(rebuilt.partitions);
    expect(imported.files.length).to.equal(rebuilt.files.length);
    expect(imported.files).to.deep.equal(rebuilt.files);

    // delta-rs reads the same live files (it reads each deletion vector's file: write them first).
    await deltaRsWriteDeletionVectorFiles(dir);
    const reference = await deltaRsState(dir);
    expect(reference.version).to.equal(head);
    const ours = (await pool.query<{ path: string; size: string; dv: boolean }>(
      `SELECT path, size, dv_id <> '' AS dv FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL`, [result.tableId],
    )).rows.map((row) => ({ path: row.path, size: Number(row.size), dv: row.dv })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    expect(ours).to.deep.equal(reference.files.map((file) => ({ path: file.path, size: file.size, dv: file.deletionVector !== null })));
  });

  it('an import from version 0 (no checkpoint) is built too', async () => {
    const dir = dirs.make('nocheckpoint');
    await generateTable(dir, { files: 50, commits: 6, partitions: 2, checkpointInterval: 0, seed: 3 });
    const result = await importMaterialized(pool, dir, 'nocheckpoint');
    const imported = await materialized(pool, result.tableId);
    expect((imported.state[0] as { mv_version: number }).mv_version).to.equal(result.toVersion);
    expect((await verifyTable(pool, 'nocheckpoint')).ok).to.equal(true);
    await rebuildTable(pool, 'nocheckpoint');
    expect(await materialized(pool, result.tableId)).to.deep.equal(imported);
  });

  it('an unreadable newest checkpoint: materialized from the older base the import falls back to', async () => {
    const dir = dirs.make('fallback');
    await generateTable(dir, { files: 200, commits: 23, partitions: 2, checkpointInterval: 10, seed: 6 });
    const logDir = path.join(dir, '_delta_log');
    const damaged = readdirSync(logDir).filter((name) => name.startsWith(`${String(20).padStart(20, '0')}.checkpoint`));
    expect(damaged.length).to.be.greaterThan(0);
    for (const name of damaged) writeFileSync(path.join(logDir, name), 'not parquet');
    const result = await importMaterialized(pool, dir, 'fallback', { onWarning: () => undefined });
    expect(result.fromVersion).to.equal(10);
    const imported = await materialized(pool, result.tableId);
    expect((imported.state[0] as { mv_version: number }).mv_version).to.equal(23);
    expect((await verifyTable(pool, 'fallback')).ok).to.equal(true);
    await rebuildTable(pool, 'fallback');
    expect(await materialized(pool, result.tableId)).to.deep.equal(imported);
  });

  it('--history is left to the refresher: no state yet', async () => {
    const dir = dirs.make('history');
    await generateTable(dir, { files: 50, commits: 15, partitions: 2, checkpointInterval: 10, seed: 4 });
    const result = await importMaterialized(pool, dir, 'history', { history: true });
    expect(await materialized(pool, result.tableId)).to.deep.equal({ files: [], partitions: [], state: [] });
  });

  it('a bad commit in the tail fails the import and leaves nothing, materialized rows included', async () => {
    const dir = dirs.make('bad');
    await generateTable(dir, { files: 200, commits: 13, partitions: 2, checkpointInterval: 10, seed: 5 });
    appendFileSync(path.join(dir, '_delta_log', commitFileName(13)), '{"add": {"path": 7}}\n');
    const counts = async (): Promise<number[]> => Promise.all(
      ['delta_table', 'delta_commit', 'delta_add', 'file_index', 'partition_summary', 'table_state'].map(async (table) =>
        Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM deltameta.${table}`)).rows[0]?.n)),
    );
    const before = await counts();
    const error = await importMaterialized(pool, dir, 'bad').then(() => undefined, (caught: unknown) => caught);
    expect((error as { code?: string } | undefined)?.code, String(error)).to.equal('BAD_INPUT');
    expect(await counts()).to.deep.equal(before);
  });
});
