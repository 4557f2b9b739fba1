/**
 * Against delta-rs (Python `deltalake`), an independent implementation:
 * tables written by delta-rs (checkpoints, removes, a schema change) import
 * and replay to the files delta-rs reports at every version, and tables
 * deltameta exports open in delta-rs with the same files.
 */
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable } from '../../shared/delta/index.ts';
import { exportTable, importTable } from '../../shared/log-store/index.ts';
import { deltaRsAllVersions, deltaRsWriteSample, ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { pathsOf, replayLines, snapshotOf, TempDirs } from '../support/tables.ts';

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

  it('imports and replays a table written by delta-rs to the files delta-rs reports at every version', async function () {
    this.timeout(300_000);
    const table = dirs.make('deltars');
    const { versions } = await deltaRsWriteSample(table, { seed: 99 });
    await importTable(pool, table, 'from_deltars', { history: true });
    const reference = await deltaRsAllVersions(table);
    expect(reference.length).to.equal(versions);
    for (const { version, files } of reference) {
      expect(pathsOf(await replayLines(table, { version })), `replay at ${version}`).to.deep.equal(files);
      expect(pathsOf((await snapshotOf(pool, 'from_deltars', { version })).lines), `snapshot at ${version}`).to.deep.equal(files);
    }
    // The default import (newest checkpoint + tail) agrees at the latest version.
    await importTable(pool, table, 'from_deltars_tail');
    expect(pathsOf((await snapshotOf(pool, 'from_deltars_tail')).lines)).to.deep.equal(reference.at(-1)?.files);
  });

  it('exports tables that delta-rs opens with the same files at every version', async function () {
    this.timeout(300_000);
    const source = dirs.make('gen');
    await generateTable(source, { files: 300, commits: 25, partitions: 4, checkpointInterval: 10, seed: 5, deletionVectors: false });
    await importTable(pool, source, 'to_deltars', { history: true });
    const exported = dirs.make('exported');
    await exportTable(pool, 'to_deltars', exported, { checkpointInterval: 6 });
    const reference = await deltaRsAllVersions(exported);
    expect(reference.map((entry) => entry.version)).to.deep.equal(Array.from({ length: 26 }, (_, index) => index));
    for (const { version, files } of reference) {
      expect(files, `version ${version}`).to.deep.equal(pathsOf((await snapshotOf(pool, 'to_deltars', { version })).lines));
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
    expect(copy).to.deep.equal(original);
  });
});
