/**
 * The delta-rs reference harness checks itself before the project's tests
 * trust it: the sample table must really contain what it promises, and
 * delta-rs's answers (metadata, protocol, whole live add actions, deletion
 * vectors) must agree with a reading of the log done here in TypeScript,
 * independently of both delta-rs and the project's own parser. That also
 * checks comparable-state.ts, which both sides' answers go through.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';
import { generateTable, type MetadataAction } from '../../shared/delta/index.ts';
import {
  type ComparableState,
  deltaRsAllVersions,
  deltaRsState,
  deltaRsWriteDeletionVectorFiles,
  deltaRsWriteSample,
  ensureDeltaRs,
} from '../support/deltars.ts';
import { expectSameTable } from './comparable-state.ts';
import { type Action, actionPath, commitVersions, isRecord, logFiles, logName, operation, readCommit, replay, replayedState } from './json-log-replay.ts';

const pathsOf = (state: ComparableState): string[] => state.files.map((file) => file.path);

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('delta-rs reference harness', function () {
  this.timeout(600_000);

  let workDir: string | undefined;
  let tableDir = '';
  let versions = 0;

  before(async function () {
    await ensureDeltaRs();
    workDir = mkdtempSync(path.join(os.tmpdir(), 'deltameta-deltars-'));
    tableDir = path.join(workDir, 'sample');
    ({ versions } = await deltaRsWriteSample(tableDir, { seed: 20240301 }));
  });

  after(function () {
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  it('installs the pinned deltalake into .venv and records the requirements it installed', async function () {
    const python = await ensureDeltaRs();
    expect(python).to.equal(path.join(projectRoot, '.venv', 'bin', 'python'));
    const requirements = readFileSync(path.join(projectRoot, 'infra', 'python', 'requirements.txt'));
    const marker = readFileSync(path.join(projectRoot, '.venv', '.deltameta-requirements.sha256'), 'utf8').trim();
    expect(marker).to.equal(createHash('sha256').update(requirements).digest('hex'));
    const pinned = /^deltalake==(\S+)$/m.exec(requirements.toString('utf8'))?.[1];
    const installed = execFileSync(python, ['-c', 'import deltalake; print(deltalake.__version__)'], { encoding: 'utf8' }).trim();
    expect(installed).to.equal(pinned);
  });

  it('writes a sample whose log has JSON commits, Parquet checkpoints, removes and a schema change', function () {
    expect(versions).to.be.within(12, 20);
    expect(commitVersions(tableDir)).to.deep.equal(range(0, versions - 1));

    const checkpoints = logFiles(tableDir)
      .flatMap((name) => /^(\d{20})\.checkpoint\.parquet$/.exec(name)?.[1] ?? [])
      .map(Number)
      .sort((a, b) => a - b);
    expect(checkpoints).to.have.length.of.at.least(2);
    const lastCheckpoint: unknown = JSON.parse(readFileSync(path.join(tableDir, '_delta_log', '_last_checkpoint'), 'utf8'));
    expect(lastCheckpoint).to.have.property('version', checkpoints.at(-1));

    const commits = range(0, versions - 1).map((version) => ({ version, actions: readCommit(tableDir, version) }));
    const withRemoves = commits.filter(({ actions }) => actions.some((action) => actionPath(action, 'remove') !== undefined));
    expect(withRemoves, 'commits with a remove action').to.not.be.empty;
    const metadataChanges = commits.filter(({ version, actions }) => version > 0 && actions.some((action) => 'metaData' in action));
    expect(metadataChanges, 'metaData actions after version 0').to.not.be.empty;
    const operations = new Set(commits.map(({ actions }) => operation(actions)));
    expect([...operations]).to.include.members(['WRITE', 'DELETE', 'OPTIMIZE']);
  });

  it('lists every version with non-empty sorted files, and fewer files after the compaction', async function () {
    const all = await deltaRsAllVersions(tableDir);
    expect(all.map((snapshot) => snapshot.version)).to.deep.equal(range(0, versions - 1));
    for (const state of all) {
      const files = pathsOf(state);
      expect(files, `files at version ${state.version}`).to.not.be.empty;
      expect(files, `order at version ${state.version}`).to.deep.equal([...files].sort());
      expect(new Set(files).size, `duplicates at version ${state.version}`).to.equal(files.length);
    }

    const compaction = range(1, versions - 1).find((version) => operation(readCommit(tableDir, version)) === 'OPTIMIZE');
    if (compaction === undefined) throw new Error('the sample has no OPTIMIZE commit');
    expect(all[compaction]?.files.length).to.be.below(all[compaction - 1]?.files.length ?? 0);

    // One version at a time must agree with the batch answer.
    const [atCompaction, latest] = [all[compaction], all.at(-1)];
    if (atCompaction === undefined || latest === undefined) throw new Error('delta-rs skipped versions');
    expectSameTable(await deltaRsState(tableDir, compaction), atCompaction, `version ${compaction} alone`);
    expectSameTable(await deltaRsState(tableDir), latest, 'latest alone');
  });

  it('reports every live file with partition values, size, modification time and stats, so that comparing them can fail', async function () {
    const latest = await deltaRsState(tableDir);
    expect(latest.metadata.partitionColumns).to.deep.equal(['date']);
    expect(latest.metadata.schema).to.have.nested.property('fields[0].name');
    for (const file of latest.files) {
      const what = `${file.path} at ${latest.version}`;
      expect(file.partitionValues, what).to.have.property('date').that.matches(/^2024-03-0\d$/);
      expect(file.size, what).to.be.above(0);
      expect(file.modificationTime, what).to.be.above(Date.UTC(2024, 0, 1));
      expect(file.numRecords, what).to.be.above(0);
      // Typed: the timestamp column is a number (microseconds), ids are numbers.
      expect(file.minValues, what).to.include.keys('id', 'amount', 'label', 'event_time', 'is_valid');
      expect(file.minValues['event_time'], what).to.be.a('number');
      expect(file.maxValues['id'], what).to.be.a('number').and.to.be.at.least(file.minValues['id'] as number);
      expect(file.nullCount, what).to.have.property('id', 0);
      expect(file.deletionVector, what).to.equal(null);
    }
    // The schema merge left older files without stats for `note`: the sample holds both kinds.
    expect(latest.files.some((file) => 'note' in file.minValues)).to.equal(true);
    expect(latest.files.some((file) => !('note' in file.minValues))).to.equal(true);
  });

  it('agrees at the latest version with the latest checkpoint plus a TypeScript replay of the JSON tail', async function () {
    const pointer: unknown = JSON.parse(readFileSync(path.join(tableDir, '_delta_log', '_last_checkpoint'), 'utf8'));
    if (!isRecord(pointer) || typeof pointer['version'] !== 'number') throw new Error('_last_checkpoint names no version');
    const checkpoint = pointer['version'];
    const latest = await deltaRsState(tableDir);
    expect(latest.version).to.equal(versions - 1);
    // A tail that is empty or only adds would make this comparison weak.
    const tail = range(checkpoint + 1, latest.version);
    expect(tail, 'commits after the last checkpoint').to.not.be.empty;
    expect(tail.some((version) => readCommit(tableDir, version).some((action) => actionPath(action, 'remove') !== undefined))).to.equal(true);

    // The checkpoint (Parquet) is read by delta-rs only; the tail, here. The
    // tail changes no metadata, so the checkpoint's carries the schema.
    const base = await deltaRsState(tableDir, checkpoint);
    expect(base.version).to.equal(checkpoint);
    const tailLog = replay(tableDir, tail);
    expect(tailLog.metadata ?? tailLog.protocol, 'metaData or protocol in the tail').to.equal(undefined);
    const metadata: MetadataAction = {
      ...base.metadata,
      format: { provider: 'parquet', options: {} },
      schemaString: JSON.stringify(base.metadata.schema),
      configuration: Object.fromEntries(Object.entries(base.metadata.configuration).flatMap(([key, value]) => (value === null ? [] : [[key, value]]))),
    };
    // Only the files of this state are used: its metadata and protocol are the checkpoint's, compared below.
    const tailAdds = replayedState(latest.version, { ...tailLog, metadata, protocol: { minReaderVersion: 1, minWriterVersion: 2 } }).files;
    const removed = new Set(tail.flatMap((version) => readCommit(tableDir, version).flatMap((action) => actionPath(action, 'remove') ?? [])));
    const added = new Set(tailAdds.map((file) => file.path));
    const expected = [...base.files.filter((file) => !removed.has(file.path) && !added.has(file.path)), ...tailAdds].sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
    );
    expectSameTable(latest, { ...base, version: latest.version, files: expected }, 'checkpoint plus tail');
  });

  it('agrees at every version with a TypeScript replay of the JSON commits from version 0', async function () {
    const all = await deltaRsAllVersions(tableDir);
    for (const state of all) {
      expectSameTable(state, replayedState(state.version, replay(tableDir, range(0, state.version))), `version ${state.version}`);
    }
  });

  it('reports add paths verbatim as the log spells them, and reconciles removes by that exact string', async function () {
    if (workDir === undefined) throw new Error('no work folder');
    // A hand-written log (the data files need not exist to list them): the
    // canonical encoding of an escaped partition directory, a non-canonical
    // lower-case escape and a raw space, as other writers may produce.
    const dir = path.join(workDir, 'encoded');
    mkdirSync(path.join(dir, '_delta_log'), { recursive: true });
    const schema = {
      type: 'struct',
      fields: [
        { name: 'p', type: 'string', nullable: true, metadata: {} },
        { name: 'v', type: 'long', nullable: true, metadata: {} },
      ],
    };
    const add = (file: string, value: string): Action => ({
      add: { path: file, partitionValues: { p: value }, size: 1, modificationTime: 1, dataChange: true },
    });
    const remove = (file: string): Action => ({ remove: { path: file, deletionTimestamp: 2, dataChange: true } });
    const write = (version: number, actions: Action[]): void => {
      writeFileSync(path.join(dir, '_delta_log', logName(version, '.json')), actions.map((action) => `${JSON.stringify(action)}\n`).join(''));
    };
    write(0, [
      { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
      {
        metaData: {
          id: 'encoded-paths',
          format: { provider: 'parquet', options: {} },
          schemaString: JSON.stringify(schema),
          partitionColumns: ['p'],
          configuration: {},
          createdTime: 1,
        },
      },
      add('p=a%2520b/part-0.parquet', 'a b'),
      add('p=c%3ad/part-1.parquet', 'c:d'),
      add('p=e f/part-2.parquet', 'e f'),
      add('p=g%3Ah/part-3.parquet', 'g:h'),
    ]);
    // Same files, other spellings, except the last which matches exactly.
    write(1, [remove('p=a%20b/part-0.parquet'), remove('p=c%3Ad/part-1.parquet'), remove('p=e%20f/part-2.parquet'), remove('p=g%3Ah/part-3.parquet')]);

    const first = await deltaRsState(dir, 0);
    expect(first.version).to.equal(0);
    expect(pathsOf(first)).to.deep.equal(['p=a%2520b/part-0.parquet', 'p=c%3ad/part-1.parquet', 'p=e f/part-2.parquet', 'p=g%3Ah/part-3.parquet']);
    const after = await deltaRsState(dir);
    expect(after.version).to.equal(1);
    expect(pathsOf(after)).to.deep.equal(['p=a%2520b/part-0.parquet', 'p=c%3ad/part-1.parquet', 'p=e f/part-2.parquet']);
    expect(replayedState(1, replay(dir, [0, 1]))).to.deep.equal(after);
  });

  it('reads the deletion vectors of a generated log once their files exist, as a TypeScript replay says at every version', async function () {
    if (workDir === undefined) throw new Error('no work folder');
    const dir = path.join(workDir, 'generated-dvs');
    // Chosen so that several commits set DVs, one file's DV is replaced by a
    // newer one, DVs are still live at the end (asserted below), and every
    // DV path decodes: the generator spells them with random z85 characters,
    // and about one in eight is no z85 encoding of a UUID at all.
    await generateTable(dir, { files: 80, commits: 50, partitions: 4, checkpointInterval: 10, seed: 83, deletionVectors: true });

    // delta-rs reads each DV's file, not just the descriptor: the generator
    // writes none, so before they are written delta-rs refuses the table.
    let failure: unknown;
    try {
      await deltaRsState(dir);
    } catch (error) {
      failure = error;
    }
    expect((failure as Error | undefined)?.message).to.match(/File not found: .*deletion_vector_[0-9a-f-]{36}\.bin/);

    const written = await deltaRsWriteDeletionVectorFiles(dir);
    const all = await deltaRsAllVersions(dir);
    expect(all.map((state) => state.version)).to.deep.equal(range(0, 50));
    for (const state of all) {
      expectSameTable(state, replayedState(state.version, replay(dir, range(0, state.version)), written), `version ${state.version}`);
    }

    const latest = all.at(-1);
    expect(latest?.protocol).to.deep.equal({ minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] });
    const withDvs = (latest?.files ?? []).flatMap((file) => (file.deletionVector ? [file.deletionVector] : []));
    expect(withDvs, 'live files with a DV at the last version').to.have.length.of.at.least(2);
    expect(withDvs.some((dv) => dv.firstDeletedRow > 0), 'a DV whose rows do not start at 0').to.equal(true);
    const replaced = all.some((state) => state.files.some((file) => (file.deletionVector?.cardinality ?? 0) > Math.min(...written.map((dv) => dv.descriptor.cardinality))));
    expect(replaced, 'a file whose DV was replaced by a larger one').to.equal(true);
  });

  it('fails with the Python error when delta-rs cannot load the table', async function () {
    if (workDir === undefined) throw new Error('no work folder');
    const empty = mkdtempSync(path.join(workDir, 'not-a-table-'));
    let failure: unknown;
    try {
      await deltaRsState(empty);
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.match(/deltars\.py state/).and.to.match(/Traceback|Error/);
  });
});
