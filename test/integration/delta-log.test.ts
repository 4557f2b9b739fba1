/**
 * The SQL-backed log against file-based replay, for generated tables: at
 * every version `replay` (files) and `snapshot` (PostgreSQL) print the same
 * bytes; export followed by replay equals snapshot; imports sync
 * incrementally; bad logs fail naming file and line and change nothing.
 */
import { expect } from 'chai';
import { appendFileSync, copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, listLog, replay } from '../../shared/delta/index.ts';
import { LogFormatError, NotFoundError, VersionGoneError } from '../../shared/errors/index.ts';
import { exportTable, findTable, importTable } from '../../shared/log-store/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { replayLines, snapshotOf, TempDirs } from '../support/tables.ts';

async function expectError<T extends Error>(work: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const error = await work.then(() => undefined, (caught: unknown) => caught);
  expect(error, 'expected an error').to.be.instanceOf(type);
  return error as T;
}

async function tableCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM deltameta.delta_table');
  return rows[0]?.n ?? -1;
}

describeWithEnv('delta log: replay vs snapshot', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let generated: string;
  const commits = 45;

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    generated = dirs.make('gen');
    // Small checkpoint parts so the log has multi-part checkpoints too.
    await generateTable(generated, { files: 400, commits, partitions: 5, checkpointInterval: 10, seed: 7, checkpointPartRows: 150 });
  });

  after(async function () {
    await pool.end();
    dirs.removeAll();
  });

  it('generates a log with the promised variety', async function () {
    const listing = await listLog(generated);
    expect(listing.latestVersion).to.equal(commits);
    expect(listing.checkpoints.map((checkpoint) => checkpoint.kind)).to.include('multipart');
    const text = [...listing.commits.values()].map((file) => readFileSync(file, 'utf8')).join('');
    for (const needle of ['"remove"', '"deletionVector"', '"txn"', '"metaData"', '"OPTIMIZE"', '"partitionValues":{"date":null}']) {
      expect(text, needle).to.contain(needle);
    }
    const last = await replayLines(generated);
    expect(last).to.have.length(400);
  });

  it('prints byte-identical output from replay and snapshot at every version (history import)', async function () {
    this.timeout(120_000);
    const result = await importTable(pool, generated, 'gen_history', { history: true });
    expect(result).to.include({ created: true, fromVersion: 0, toVersion: commits });
    for (let version = 0; version <= commits; version++) {
      const fromFiles = await replayLines(generated, { version });
      const fromSql = await snapshotOf(pool, 'gen_history', { version });
      expect(fromSql.version).to.equal(version);
      expect(fromSql.lines.join('\n'), `version ${version}`).to.equal(fromFiles.join('\n'));
    }
  });

  it('agrees on time travel by timestamp, including between commits', async function () {
    // The expected versions come from the commit files' modification times
    // (the generator writes no in-commit timestamps), read here with stat
    // rather than through the resolver under test.
    const commitTime = (version: number): number => statSync(path.join(generated, '_delta_log', `${String(version).padStart(20, '0')}.json`)).mtimeMs;
    for (const version of [0, 1, 17, 30, commits]) {
      const at = commitTime(version);
      const next = version < commits ? commitTime(version + 1) : at + 60_000;
      expect(next, `commit ${version + 1} after commit ${version}`).to.be.greaterThan(at + 1);
      // Between two commits: the older one. After the last commit: an error, as in Spark
      // (DeltaHistoryManager.getActiveCommitAtTime without canReturnLastCommit), not the latest version.
      for (const timestampMs of version < commits ? [at, at + 1, next - 1] : [at]) {
        const fromSql = await snapshotOf(pool, 'gen_history', { timestampMs });
        expect(fromSql.version, `snapshot at ${timestampMs}`).to.equal(version);
        expect(fromSql.lines).to.deep.equal(await replayLines(generated, { version }));
        const fromFiles = await replay(generated, { timestampMs });
        expect(fromFiles.version, `replay at ${timestampMs}`).to.equal(version);
      }
      if (version === commits) {
        await expectError(snapshotOf(pool, 'gen_history', { timestampMs: at + 1 }), NotFoundError);
        await expectError(replay(generated, { timestampMs: at + 1 }), NotFoundError);
      }
      if (version === 0) {
        await expectError(snapshotOf(pool, 'gen_history', { timestampMs: at - 1 }), NotFoundError);
        await expectError(replay(generated, { timestampMs: at - 1 }), NotFoundError);
      } else {
        expect((await snapshotOf(pool, 'gen_history', { timestampMs: at - 1 })).version, `just before commit ${version}`).to.equal(version - 1);
      }
    }
  });

  it('imports the newest checkpoint plus tail by default; older versions are gone', async function () {
    const result = await importTable(pool, generated, 'gen_tail');
    expect(result.fromVersion).to.equal(40);
    expect((await snapshotOf(pool, 'gen_tail')).lines).to.deep.equal(await replayLines(generated));
    expect((await snapshotOf(pool, 'gen_tail', { version: 42 })).lines).to.deep.equal(await replayLines(generated, { version: 42 }));
    await expectError(snapshotOf(pool, 'gen_tail', { version: 39 }), VersionGoneError);
  });

  it('exports a log whose replay equals the snapshot at every version', async function () {
    this.timeout(120_000);
    const exported = dirs.make('export');
    const result = await exportTable(pool, 'gen_history', exported, { checkpointInterval: 7 });
    expect(result.checkpoints).to.deep.equal([7, 14, 21, 28, 35, 42]);
    for (let version = 0; version <= commits; version++) {
      expect(await replayLines(exported, { version }), `version ${version}`).to.deep.equal((await snapshotOf(pool, 'gen_history', { version })).lines);
    }
    // The checkpoint-based import exports too: its base version becomes a checkpoint.
    const tail = dirs.make('export-tail');
    await exportTable(pool, 'gen_tail', tail);
    expect(await replayLines(tail)).to.deep.equal(await replayLines(generated));
  });

  it('syncs only the new versions when run again', async function () {
    const partial = dirs.make('partial');
    const logDir = path.join(generated, '_delta_log');
    const target = path.join(partial, '_delta_log');
    const copyUpTo = (last: number): void => {
      for (const name of readdirSync(logDir)) {
        const version = Number(name.slice(0, 20));
        if (/^\d{20}\.json$/.test(name) && version <= last) copyFileSync(path.join(logDir, name), path.join(target, name));
      }
    };
    mkdirSync(target);
    copyUpTo(20);
    const first = await importTable(pool, partial, 'gen_sync', { history: true });
    expect(first).to.include({ fromVersion: 0, toVersion: 20 });
    copyUpTo(commits);
    const second = await importTable(pool, partial, 'gen_sync');
    expect(second).to.include({ created: false, fromVersion: 21, toVersion: commits });
    const third = await importTable(pool, partial, 'gen_sync');
    expect(third.rows).to.equal(0);
    expect((await snapshotOf(pool, 'gen_sync')).lines).to.deep.equal(await replayLines(generated));
  });

  describe('bad input changes nothing', function () {
    let broken: string;

    beforeEach(async function () {
      broken = dirs.make('broken');
      await generateTable(broken, { files: 60, commits: 12, partitions: 3, checkpointInterval: 0, seed: 3 });
    });

    it('a malformed JSON line: names file and line', async function () {
      const file = path.join(broken, '_delta_log', '00000000000000000005.json');
      appendFileSync(file, '{"add": {"path": "x"\n');
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n').length;
      const before = await tableCount(pool);
      const error = await expectError(importTable(pool, broken, 'broken_json', { history: true }), LogFormatError);
      expect(error.file).to.equal(file);
      expect(error.line).to.equal(lines);
      expect(error.message).to.match(/00000000000000000005\.json:\d+: not valid JSON/);
      expect(await tableCount(pool)).to.equal(before);
      await expectError(replayLines(broken), LogFormatError);
    });

    it('a gap in versions: names the missing commit', async function () {
      unlinkSync(path.join(broken, '_delta_log', '00000000000000000007.json'));
      const before = await tableCount(pool);
      const error = await expectError(importTable(pool, broken, 'broken_gap', { history: true }), LogFormatError);
      expect(error.message).to.contain('00000000000000000007.json').and.contain('gap');
      expect(await tableCount(pool)).to.equal(before);
    });

    it('a commit that contradicts the log (partition values vs partition columns): names file and line', async function () {
      const file = path.join(broken, '_delta_log', '00000000000000000009.json');
      appendFileSync(file, `${JSON.stringify({ add: { path: 'odd.parquet', partitionValues: { region: 'x' }, size: 1, modificationTime: 1, dataChange: true } })}\n`);
      const error = await expectError(importTable(pool, broken, 'broken_partition', { history: true }), LogFormatError);
      expect(error.file).to.equal(file);
      expect(error.message).to.contain('partitioned by [date]');
      expect(await findTable(pool, 'broken_partition')).to.equal(undefined);
    });

    it('a missing checkpoint part: the incomplete checkpoint is passed over (a warning names it) for the commits from 0', async function () {
      const multi = dirs.make('multipart');
      await generateTable(multi, { files: 100, commits: 10, partitions: 2, checkpointInterval: 10, seed: 4, checkpointPartRows: 40 });
      const part = path.join(multi, '_delta_log', '00000000000000000010.checkpoint.0000000002.0000000003.parquet');
      unlinkSync(part);
      const warnings: string[] = [];
      const result = await importTable(pool, multi, 'broken_parts', { onWarning: ({ file, message }) => warnings.push(`${file}: ${message}`) });
      expect(result.fromVersion).to.equal(0);
      expect(warnings.join('\n')).to.contain('00000000000000000010.checkpoint.');
      expect((await snapshotOf(pool, 'broken_parts')).lines).to.deep.equal(await replayLines(multi));
    });

    it('a failed sync leaves the earlier import as it was', async function () {
      await importTable(pool, broken, 'sync_then_break', { history: true });
      const before = await snapshotOf(pool, 'sync_then_break');
      const next = path.join(broken, '_delta_log', '00000000000000000013.json');
      writeFileSync(next, '{"commitInfo":{"operation":"WRITE"}}\nnot json\n');
      await expectError(importTable(pool, broken, 'sync_then_break'), LogFormatError);
      const after = await snapshotOf(pool, 'sync_then_break');
      expect(after).to.deep.equal(before);
    });
  });
});
