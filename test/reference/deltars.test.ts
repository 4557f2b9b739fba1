/**
 * The delta-rs reference harness checks itself before the project's tests
 * trust it: the sample table must really contain what it promises, and
 * delta-rs's answers must agree with a reading of the log done here in
 * TypeScript, independently of both delta-rs and the project's own parser.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';
import { deltaRsAllVersions, deltaRsFiles, deltaRsWriteSample, ensureDeltaRs } from '../support/deltars.ts';

type Action = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const logName = (version: number, suffix: string): string => `${String(version).padStart(20, '0')}${suffix}`;

function logFiles(tableDir: string): string[] {
  return readdirSync(path.join(tableDir, '_delta_log'));
}

function commitVersions(tableDir: string): number[] {
  return logFiles(tableDir)
    .flatMap((name) => /^(\d{20})\.json$/.exec(name)?.[1] ?? [])
    .map(Number)
    .sort((a, b) => a - b);
}

function readCommit(tableDir: string, version: number): Action[] {
  const text = readFileSync(path.join(tableDir, '_delta_log', logName(version, '.json')), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const action: unknown = JSON.parse(line);
      if (!isRecord(action)) throw new Error(`commit ${version} holds a line that is not an action: ${line}`);
      return action;
    });
}

/** The `path` of an add or remove action, or undefined for any other action. */
function actionPath(action: Action, kind: 'add' | 'remove'): string | undefined {
  const body = action[kind];
  if (!isRecord(body)) return undefined;
  if (typeof body['path'] !== 'string') throw new Error(`${kind} action without a path: ${JSON.stringify(action)}`);
  return body['path'];
}

function operation(actions: Action[]): string | undefined {
  const info = actions.find((action) => isRecord(action['commitInfo']))?.['commitInfo'];
  return isRecord(info) && typeof info['operation'] === 'string' ? info['operation'] : undefined;
}

/** Applies the adds and removes of each commit, in log order, keyed by the path string as written. */
function replay(start: Iterable<string>, tableDir: string, versions: Iterable<number>): string[] {
  const live = new Set(start);
  for (const version of versions) {
    for (const action of readCommit(tableDir, version)) {
      const removed = actionPath(action, 'remove');
      if (removed !== undefined) live.delete(removed);
      const added = actionPath(action, 'add');
      if (added !== undefined) live.add(added);
    }
  }
  return [...live].sort();
}

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
    for (const { version, files } of all) {
      expect(files, `files at version ${version}`).to.not.be.empty;
      expect(files, `order at version ${version}`).to.deep.equal([...files].sort());
      expect(new Set(files).size, `duplicates at version ${version}`).to.equal(files.length);
    }

    const compaction = range(1, versions - 1).find((version) => operation(readCommit(tableDir, version)) === 'OPTIMIZE');
    if (compaction === undefined) throw new Error('the sample has no OPTIMIZE commit');
    expect(all[compaction]?.files.length).to.be.below(all[compaction - 1]?.files.length ?? 0);

    // One version at a time must agree with the batch answer.
    expect(await deltaRsFiles(tableDir, compaction)).to.deep.equal(all[compaction]);
    expect(await deltaRsFiles(tableDir)).to.deep.equal(all.at(-1));
  });

  it('agrees at the latest version with the latest checkpoint plus a TypeScript replay of the JSON tail', async function () {
    const pointer: unknown = JSON.parse(readFileSync(path.join(tableDir, '_delta_log', '_last_checkpoint'), 'utf8'));
    if (!isRecord(pointer) || typeof pointer['version'] !== 'number') throw new Error('_last_checkpoint names no version');
    const checkpoint = pointer['version'];
    const latest = await deltaRsFiles(tableDir);
    expect(latest.version).to.equal(versions - 1);
    // A tail that is empty or only adds would make this comparison weak.
    const tail = range(checkpoint + 1, latest.version);
    expect(tail, 'commits after the last checkpoint').to.not.be.empty;
    expect(tail.some((version) => readCommit(tableDir, version).some((action) => actionPath(action, 'remove') !== undefined))).to.equal(true);

    const base = await deltaRsFiles(tableDir, checkpoint);
    expect(base.version).to.equal(checkpoint);
    expect(replay(base.files, tableDir, tail)).to.deep.equal(latest.files);
  });

  it('agrees at every version with a TypeScript replay of the JSON commits from version 0', async function () {
    const all = await deltaRsAllVersions(tableDir);
    for (const { version, files } of all) {
      expect(replay([], tableDir, range(0, version)), `version ${version}`).to.deep.equal(files);
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

    expect(await deltaRsFiles(dir, 0)).to.deep.equal({
      version: 0,
      files: ['p=a%2520b/part-0.parquet', 'p=c%3ad/part-1.parquet', 'p=e f/part-2.parquet', 'p=g%3Ah/part-3.parquet'],
    });
    const after = await deltaRsFiles(dir);
    expect(after).to.deep.equal({
      version: 1,
      files: ['p=a%2520b/part-0.parquet', 'p=c%3ad/part-1.parquet', 'p=e f/part-2.parquet'],
    });
    expect(replay([], dir, [0, 1])).to.deep.equal(after.files);
  });

  it('fails with the Python error when delta-rs cannot load the table', async function () {
    if (workDir === undefined) throw new Error('no work folder');
    const empty = mkdtempSync(path.join(workDir, 'not-a-table-'));
    let failure: unknown;
    try {
      await deltaRsFiles(empty);
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.match(/deltars\.py files/).and.to.match(/Traceback|Error/);
  });
});
