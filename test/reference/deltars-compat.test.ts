/**
 * Against delta-rs (Python `deltalake`), an independent implementation:
 * tables written by delta-rs (checkpoints, removes, a schema change) and by
 * the project's generator (with deletion vectors) import and replay to the
 * table delta-rs reports at every version, and tables deltameta exports open
 * in delta-rs as the same table. "The same table" is compared whole, as
 * comparable-state.ts lays it out: the version, the metadata (schema,
 * partition columns, configuration, id, name), the protocol, and every live
 * add action (path, typed partition values, size, modification time, stats,
 * and the rows its deletion vector deletes).
 */
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, replay } from '../../shared/delta/index.ts';
import { exportTable, importTable } from '../../shared/log-store/index.ts';
import {
  type ComparableState,
  deltaRsAllVersions,
  deltaRsWriteDeletionVectorFiles,
  deltaRsWriteSample,
  ensureDeltaRs,
  type WrittenDeletionVector,
} from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';
import { comparableState, expectSameTable } from './comparable-state.ts';
import { storedSnapshot } from './parity-state.ts';

/** What PostgreSQL holds for the table at `version`, with the deletion vectors written beside it read as rows. */
async function storedState(pool: Pool, tableName: string, version: number, written: readonly WrittenDeletionVector[] = []): Promise<ComparableState> {
  return comparableState(await storedSnapshot(pool, tableName, version), written);
}

/** What the project's file-based replay makes of the log at `version`. */
async function replayedState(tableDir: string, version: number, written: readonly WrittenDeletionVector[] = []): Promise<ComparableState> {
  const state = await replay(tableDir, { version });
  return comparableState({ version: state.version, metadata: state.metadata, protocol: state.protocol, adds: state.files.values() }, written);
}

describeWithEnv('delta-rs compatibility', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;

  before(async function () {
    this.timeout(600_000);
    await ensureDeltaRs();
    pool = env.pool(4);
  });

  after(async () => {
    await pool.end();
    dirs.removeAll();
  });

  it('imports and replays a table written by delta-rs to the table delta-rs reports at every version', async function () {
    this.timeout(300_000);
    const table = dirs.make('deltars');
    const { versions } = await deltaRsWriteSample(table, { seed: 99 });
    await importTable(pool, table, 'from_deltars', { history: true });
    const reference = await deltaRsAllVersions(table);
    expect(reference.length).to.equal(versions);
    for (const expected of reference) {
      const { version } = expected;
      expectSameTable(await replayedState(table, version), expected, `replay at ${version}`);
      expectSameTable(await storedState(pool, 'from_deltars', version), expected, `snapshot at ${version}`);
    }
    // The default import (newest checkpoint + tail) agrees at the latest version.
    await importTable(pool, table, 'from_deltars_tail');
    const latest = reference.at(-1);
    if (latest === undefined) throw new Error('delta-rs reported no version');
    expectSameTable(await storedState(pool, 'from_deltars_tail', latest.version), latest, 'tail import');
  });

  it('exports tables that delta-rs opens as the same table at every version', async function () {
    this.timeout(300_000);
    const source = dirs.make('gen');
    await generateTable(source, { files: 300, commits: 25, partitions: 4, checkpointInterval: 10, seed: 5, deletionVectors: false });
    await importTable(pool, source, 'to_deltars', { history: true });
    const exported = dirs.make('exported');
    await exportTable(pool, 'to_deltars', exported, { checkpointInterval: 6 });
    const reference = await deltaRsAllVersions(exported);
    expect(reference.map((entry) => entry.version)).to.deep.equal(Array.from({ length: 26 }, (_, index) => index));
    for (const expected of reference) {
      expectSameTable(expected, await storedState(pool, 'to_deltars', expected.version), `export at ${expected.version}`);
    }
  });

  it('imports a generated table with deletion vectors as delta-rs reads it, and exports it so that delta-rs reads the same', async function () {
    this.timeout(300_000);
    // The generator writes DV descriptors but no DV files, and delta-rs
    // reads the files; the seed is one whose DV paths all decode (see
    // deltars.test.ts, which also checks delta-rs against a plain replay).
    const source = dirs.make('gen-dvs');
    await generateTable(source, { files: 80, commits: 50, partitions: 4, checkpointInterval: 10, seed: 83, deletionVectors: true });
    const written = await deltaRsWriteDeletionVectorFiles(source);
    await importTable(pool, source, 'dvs', { history: true });
    const reference = await deltaRsAllVersions(source);
    expect(reference.map((entry) => entry.version)).to.deep.equal(Array.from({ length: 51 }, (_, index) => index));
    expect(reference.filter((state) => state.files.some((file) => file.deletionVector !== null)), 'versions with DVs').to.have.length.of.at.least(10);
    for (const expected of reference) {
      const { version } = expected;
      expectSameTable(await replayedState(source, version, written), expected, `replay at ${version}`);
      expectSameTable(await storedState(pool, 'dvs', version, written), expected, `snapshot at ${version}`);
    }

    // DV files live beside the data, outside _delta_log: the export does not
    // copy them, so they are written for the exported log too.
    const exported = dirs.make('gen-dvs-export');
    await exportTable(pool, 'dvs', exported, { checkpointInterval: 7 });
    const exportedWritten = await deltaRsWriteDeletionVectorFiles(exported);
    const fromExport = await deltaRsAllVersions(exported);
    expect(fromExport.map((entry) => entry.version)).to.deep.equal(reference.map((entry) => entry.version));
    for (const state of fromExport) {
      expectSameTable(state, await storedState(pool, 'dvs', state.version, exportedWritten), `export at ${state.version}`);
    }
  });

  it('exports a round trip of a delta-rs table that delta-rs reads back the same', async function () {
    this.timeout(300_000);
    const table = dirs.make('deltars-roundtrip');
    await deltaRsWriteSample(table, { seed: 7 });
    await importTable(pool, table, 'roundtrip', { history: true });
    const exported = dirs.make('roundtrip-export');
    await exportTable(pool, 'roundtrip', exported, { checkpointInterval: 5 });
    const original = await deltaRsAllVersions(table);
    const copy = await deltaRsAllVersions(exported);
    expect(copy.map((state) => state.version)).to.deep.equal(original.map((state) => state.version));
    original.forEach((state, index) => {
      const copied = copy[index];
      if (copied === undefined) throw new Error(`the export has no version ${state.version}`);
      expectSameTable(copied, state, `round trip at ${state.version}`);
    });
  });
});
