/**
 * A newest checkpoint that cannot be used (an incomplete multi-part
 * checkpoint, a truncated or garbled Parquet file, a V2 checkpoint whose
 * sidecar is missing) is skipped as Spark's snapshot management skips it: an
 * older complete checkpoint, or the commits from version 0, rebuild the
 * table; the fallback is reported (file and reason). Replay and import both
 * land on the state a commits-only replay gives.
 */
import { expect } from 'chai';
import { cpSync, mkdirSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, replay, writeParquetCheckpoint, type Action } from '../../shared/delta/index.ts';
import { InputRefusedError, LogFormatError } from '../../shared/errors/index.ts';
import { findTable, importTable } from '../../shared/log-store/index.ts';
import { deltaRsWriteSample } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { snapshotOf, TempDirs } from '../support/tables.ts';

interface Warning {
  readonly file: string;
  readonly message: string;
}

const checkpointName = /\.checkpoint\.(?:.+\.)?(?:parquet|json)$/;

describeWithEnv('checkpoint fallback', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let sample: string;

  before(async function () {
    this.timeout(180_000);
    pool = env.pool(4);
    sample = dirs.make('deltars-sample');
    await deltaRsWriteSample(sample, { seed: 11 });
  });

  after(async () => {
    await pool.end();
    dirs.removeAll();
  });

  function copyOf(dir: string, label: string): string {
    const copy = dirs.make(label);
    cpSync(dir, copy, { recursive: true });
    return copy;
  }

  function checkpointsOf(dir: string): string[] {
    return readdirSync(path.join(dir, '_delta_log')).filter((name) => checkpointName.test(name)).sort();
  }

  /** The reference: the same log with every checkpoint (and the hint) removed, replayed from version 0. */
  async function commitsOnlyLines(dir: string): Promise<string[]> {
    const bare = copyOf(dir, 'commits-only');
    for (const name of readdirSync(path.join(bare, '_delta_log'))) {
      if (checkpointName.test(name) || name === '_last_checkpoint') unlinkSync(path.join(bare, '_delta_log', name));
    }
    return (await replay(bare)).liveLines();
  }

  /** Replay and import of a damaged log both equal the commits-only replay; each reports the damaged file. */
  async function expectFallback(dir: string, table: string, damaged: string, expectedBase: number): Promise<void> {
    const expected = await commitsOnlyLines(dir);
    const replayWarnings: Warning[] = [];
    const state = await replay(dir, { onWarning: (warning) => replayWarnings.push(warning) });
    expect(state.liveLines()).to.deep.equal(expected);
    expect(replayWarnings.map((warning) => warning.file), 'replay warnings').to.include(damaged);
    const importWarnings: Warning[] = [];
    const result = await importTable(pool, dir, table, { onWarning: (warning) => importWarnings.push(warning) });
    expect(result.fromVersion, 'import base').to.equal(expectedBase);
    expect((await snapshotOf(pool, table)).lines).to.deep.equal(expected);
    expect(importWarnings.map((warning) => warning.file), 'import warnings').to.include(damaged);
    expect(importWarnings.every((warning) => warning.message.length > 0)).to.equal(true);
    expect((await findTable(pool, table))?.logStartVersion).to.equal(expectedBase);
  }

  it('a truncated newest Parquet checkpoint (delta-rs table): the older checkpoint is used', async function () {
    this.timeout(60_000);
    const dir = copyOf(sample, 'truncated');
    const [older, newest] = checkpointsOf(dir).slice(-2) as [string, string];
    const file = path.join(dir, '_delta_log', newest);
    truncateSync(file, Math.floor(readFileSync(file).length / 2));
    await expectFallback(dir, 'fallback_truncated', file, Number(older.slice(0, 20)));
  });

  it('a garbled newest Parquet checkpoint: the older checkpoint is used', async function () {
    this.timeout(60_000);
    const dir = copyOf(sample, 'garbled');
    const [older, newest] = checkpointsOf(dir).slice(-2) as [string, string];
    const file = path.join(dir, '_delta_log', newest);
    writeFileSync(file, 'PAR1 this is not a parquet file PAR1');
    await expectFallback(dir, 'fallback_garbled', file, Number(older.slice(0, 20)));
  });

  it('a sync import whose identity check meets a checkpoint damaged since the import looks past it', async function () {
    this.timeout(60_000);
    const dir = copyOf(sample, 'sync-damaged');
    await importTable(pool, dir, 'fallback_sync');
    const newest = checkpointsOf(dir).at(-1) as string;
    // The stored head's metadata id is looked up in the folder: in the commits after the newest checkpoint, else in it.
    writeFileSync(path.join(dir, '_delta_log', newest), 'garbage');
    const result = await importTable(pool, dir, 'fallback_sync', { onWarning: () => undefined });
    expect(result.fromVersion).to.be.greaterThan(result.toVersion);
  });

  it('every checkpoint broken: the commits from version 0', async function () {
    this.timeout(60_000);
    const dir = copyOf(sample, 'all-broken');
    const names = checkpointsOf(dir);
    for (const name of names) writeFileSync(path.join(dir, '_delta_log', name), 'garbage');
    await expectFallback(dir, 'fallback_all_broken', path.join(dir, '_delta_log', names.at(-1) as string), 0);
  });

  describe('multi-part', () => {
    let multi: string;

    before(async function () {
      this.timeout(60_000);
      multi = dirs.make('multipart');
      await generateTable(multi, { files: 120, commits: 24, partitions: 3, checkpointInterval: 10, seed: 5, checkpointPartRows: 20 });
    });

    it('an incomplete newest multi-part checkpoint (named by _last_checkpoint) is ignored: the older one is used', async function () {
      this.timeout(60_000);
      const dir = copyOf(multi, 'incomplete');
      const part = path.join(dir, '_delta_log', '00000000000000000020.checkpoint.0000000002.0000000003.parquet');
      expect(readFileSync(path.join(dir, '_delta_log', '_last_checkpoint'), 'utf8')).to.contain('"version":20');
      unlinkSync(part);
      await expectFallback(dir, 'fallback_incomplete', part, 10);
    });

    it('both multi-part checkpoints incomplete: the commits from version 0', async function () {
      this.timeout(60_000);
      const dir = copyOf(multi, 'incomplete-both');
      const newest = path.join(dir, '_delta_log', '00000000000000000020.checkpoint.0000000001.0000000003.parquet');
      unlinkSync(newest);
      unlinkSync(path.join(dir, '_delta_log', '00000000000000000010.checkpoint.0000000003.0000000003.parquet'));
      await expectFallback(dir, 'fallback_incomplete_both', newest, 0);
    });

    it('with no older base to fall back on, the damaged checkpoint is the error, naming the file', async function () {
      this.timeout(60_000);
      const dir = copyOf(multi, 'no-base');
      const part = path.join(dir, '_delta_log', '00000000000000000020.checkpoint.0000000002.0000000003.parquet');
      unlinkSync(part);
      for (const name of readdirSync(path.join(dir, '_delta_log'))) {
        if (name.startsWith('0000000000000000001') && name.includes('.checkpoint.')) unlinkSync(path.join(dir, '_delta_log', name));
        if (/^\d{20}\.json$/.test(name) && Number(name.slice(0, 20)) < 20) unlinkSync(path.join(dir, '_delta_log', name));
      }
      const error = await replay(dir).then(() => undefined, (caught: unknown) => caught);
      expect(error).to.be.instanceOf(LogFormatError);
      expect((error as LogFormatError).file).to.equal(part);
      const imported = await importTable(pool, dir, 'fallback_no_base').then(() => undefined, (caught: unknown) => caught);
      expect(imported).to.be.instanceOf(LogFormatError);
      expect(await findTable(pool, 'fallback_no_base')).to.equal(undefined);
    });
  });

  it('a checkpoint row over an input limit is refused, not passed over as damage (a crafted file cannot pick the base)', async function () {
    this.timeout(60_000);
    const dir = dirs.make('over-limit');
    await generateTable(dir, { files: 40, commits: 16, partitions: 2, checkpointInterval: 5, seed: 12 });
    const newest = path.join(dir, '_delta_log', '00000000000000000015.checkpoint.parquet');
    const state = await replay(dir, { version: 15 });
    if (!state.protocol || !state.metadata) throw new Error('generated table without protocol or metadata');
    const [first, ...rest] = [...state.files.values()];
    if (!first) throw new Error('generated table without files');
    // A path of 20,000 characters: over the 16 KiB string limit, otherwise a well-formed checkpoint.
    await writeParquetCheckpoint(newest, [
      { kind: 'protocol', protocol: state.protocol }, { kind: 'metaData', metaData: state.metadata },
      { kind: 'add', add: { ...first, path: `${first.path}/${'x'.repeat(20_000)}` } }, ...rest.map((add): Action => ({ kind: 'add', add })),
    ]);
    for (const attempt of [replay(dir), importTable(pool, dir, 'over_limit_checkpoint')]) {
      const error = await attempt.then(() => undefined, (caught: unknown) => caught);
      expect(error).to.be.instanceOf(InputRefusedError);
      expect((error as InputRefusedError).file).to.equal(newest);
    }
    expect(await findTable(pool, 'over_limit_checkpoint')).to.equal(undefined);
  });

  it('a V2 checkpoint whose sidecar is missing: the older checkpoint is used', async function () {
    this.timeout(60_000);
    const dir = dirs.make('v2');
    await generateTable(dir, { files: 60, commits: 16, partitions: 2, checkpointInterval: 5, seed: 9 });
    // Version 15's classic checkpoint becomes a V2 checkpoint: a JSON top-level file and one sidecar with the file actions.
    const logDir = path.join(dir, '_delta_log');
    const classic = path.join(logDir, '00000000000000000015.checkpoint.parquet');
    const state = await replay(dir, { version: 15 });
    if (!state.protocol || !state.metadata) throw new Error('generated table without protocol or metadata');
    const header: Action[] = [{ kind: 'protocol', protocol: state.protocol }, { kind: 'metaData', metaData: state.metadata }];
    const files: Action[] = [...state.files.values()].map((add) => ({ kind: 'add', add }));
    const sidecarName = '00000000000000000015.checkpoint.sidecar-0.parquet';
    const sidecar = path.join(logDir, '_sidecars', sidecarName);
    mkdirSync(path.dirname(sidecar), { recursive: true });
    await writeParquetCheckpoint(sidecar, files);
    unlinkSync(classic);
    const topLevel = path.join(logDir, '00000000000000000015.checkpoint.3a0d65cd-4f45-4b8a-9d6a-2b1c0e0c1f15.json');
    const lines = [{ checkpointMetadata: { version: 15 } }, ...header.map((action) => ({ [action.kind]: (action as unknown as Record<string, unknown>)[action.kind] })),
      { sidecar: { path: sidecarName, sizeInBytes: 1, modificationTime: 1_700_000_000_000 } }];
    writeFileSync(topLevel, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    writeFileSync(path.join(logDir, '_last_checkpoint'), JSON.stringify({ version: 15, size: files.length + 2 }));
    // The V2 checkpoint is good as written: replay uses it and agrees with the commits.
    expect((await replay(dir)).liveLines()).to.deep.equal(await commitsOnlyLines(dir));
    unlinkSync(sidecar);
    await expectFallback(dir, 'fallback_sidecar', sidecar, 10);
  });
});
