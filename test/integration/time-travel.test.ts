/**
 * Time travel by timestamp as Spark's DeltaHistoryManager.getActiveCommitAtTime
 * answers it, on a table with in-commit timestamps enabled mid-history
 * (PROTOCOL.md "In-Commit Timestamps"): before the enablement version the
 * commit files' modification times, from it on commitInfo.inCommitTimestamp
 * only; a time after the latest version's, or before the earliest one of the
 * range searched, is an error. Checked on the files (replay), in PostgreSQL
 * (snapshot) and through the reader, before and after an export.
 *
 * delta-rs 1.6.6 cannot write in-commit timestamps (it refuses
 * delta.enableInCommitTimestamps), so it writes the table's data commits and
 * the test turns them into an ICT table as the spec says a writer does:
 * commitInfo first with inCommitTimestamp from the enablement version on, the
 * enablement commit carrying the writer feature and the enablement
 * configuration. delta-rs 1.x reads such a table by file times; the expected
 * answers here are Spark's.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, replay, writeParquetCheckpoint, type Action } from '../../shared/delta/index.ts';
import { LogFormatError, NotFoundError } from '../../shared/errors/index.ts';
import { exportTable, importTable } from '../../shared/log-store/index.ts';
import { ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader, type RunningReader } from '../support/reader.ts';
import { snapshotOf, TempDirs } from '../support/tables.ts';

const minute = 60_000;
/** File times of versions 0..3 (before enablement). */
const fileTimeBase = Date.UTC(2026, 0, 1);
/** In-commit timestamps of versions 4..6: T_E = ICT(4). */
const ictOf = (version: number): number => fileTimeBase + 10 * minute + version * minute;
const enablementVersion = 4;
const latest = 6;

async function writeDeltaRsAppends(dir: string, commits: number): Promise<void> {
  const python = await ensureDeltaRs();
  const script = [
    'import sys, pyarrow as pa',
    'from deltalake import write_deltalake',
    'for i in range(int(sys.argv[2])):',
    "    write_deltalake(sys.argv[1], pa.table({'id': [i * 10 + j for j in range(3)], 'v': [f'r{i}'] * 3}), mode='append')",
  ].join('\n');
  await promisify(execFile)(python, ['-c', script, dir, String(commits)]);
}

/** Lines of a commit file as objects. */
function linesOf(file: string): Record<string, Record<string, unknown>>[] {
  return readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, Record<string, unknown>>);
}

function writeLines(file: string, lines: readonly unknown[]): void {
  writeFileSync(file, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
}

/**
 * Versions 0..6 by delta-rs; from version 4 on, in-commit timestamps (the
 * enablement commit also upgrades the protocol and sets the configuration).
 * File times: 0..3 a minute apart from fileTimeBase; 4..6 deliberately
 * wrong (an hour later, in reverse order), so only the ICTs can give the
 * right answers.
 */
async function writeIctTable(dir: string): Promise<void> {
  await writeDeltaRsAppends(dir, latest + 1);
  const logDir = path.join(dir, '_delta_log');
  const metadata = linesOf(path.join(logDir, commitFileName(0))).find((line) => line['metaData'])?.['metaData'];
  if (!metadata) throw new Error('delta-rs wrote no metaData at version 0');
  for (let version = enablementVersion; version <= latest; version++) {
    const file = path.join(logDir, commitFileName(version));
    const [first, ...rest] = linesOf(file);
    if (!first?.['commitInfo']) throw new Error(`delta-rs put no commitInfo first in ${file}`);
    const commitInfo = { ...first['commitInfo'], inCommitTimestamp: ictOf(version) };
    const enabling = version === enablementVersion
      ? [
        // Writer version 2's features stay listed (a feature is never dropped by a protocol change).
        { protocol: { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly', 'invariants', 'inCommitTimestamp'] } },
        {
          metaData: {
            ...metadata,
            configuration: {
              ...(metadata['configuration'] as Record<string, string>),
              'delta.enableInCommitTimestamps': 'true',
              'delta.inCommitTimestampEnablementVersion': String(enablementVersion),
              'delta.inCommitTimestampEnablementTimestamp': String(ictOf(enablementVersion)),
            },
          },
        },
      ]
      : [];
    writeLines(file, [{ commitInfo }, ...enabling, ...rest]);
  }
  setFileTimes(dir);
}

function setFileTimes(dir: string): void {
  const logDir = path.join(dir, '_delta_log');
  for (let version = 0; version <= latest; version++) {
    const time = version < enablementVersion ? fileTimeBase + version * minute : fileTimeBase + 60 * minute - version * minute;
    utimesSync(path.join(logDir, commitFileName(version)), time / 1000, time / 1000);
  }
}

/** The version delta-rs loads at a time (`load_as_version(datetime)`), or 'error'. */
async function deltaRsVersionAt(dir: string, timestampMs: number): Promise<number | 'error'> {
  const python = await ensureDeltaRs();
  const script = [
    'import sys, datetime',
    'from deltalake import DeltaTable',
    'table = DeltaTable(sys.argv[1])',
    'try:',
    '    table.load_as_version(datetime.datetime.fromtimestamp(int(sys.argv[2]) / 1000, tz=datetime.timezone.utc))',
    '    print(table.version())',
    'except Exception:',
    "    print('error')",
  ].join('\n');
  const { stdout } = await promisify(execFile)(python, ['-c', script, dir, String(timestampMs)]);
  const answer = stdout.trim();
  return answer === 'error' ? 'error' : Number(answer);
}

interface Expectation {
  readonly label: string;
  readonly timestampMs: number;
  /** the version Spark answers, or undefined for its error */
  readonly version: number | undefined;
}

/** Spark's answers for the table writeIctTable makes. */
function expectations(): Expectation[] {
  const cases: Expectation[] = [];
  for (let version = 0; version < enablementVersion; version++) {
    cases.push({ label: `file time of ${version}`, timestampMs: fileTimeBase + version * minute, version });
    cases.push({ label: `between ${version} and ${version + 1} (file times)`, timestampMs: fileTimeBase + version * minute + 30_000, version });
  }
  cases.push({ label: 'before the first commit', timestampMs: fileTimeBase - 1, version: undefined });
  cases.push({ label: 'just before the enablement timestamp', timestampMs: ictOf(enablementVersion) - 1, version: enablementVersion - 1 });
  for (let version = enablementVersion; version <= latest; version++) {
    cases.push({ label: `in-commit timestamp of ${version}`, timestampMs: ictOf(version), version });
    if (version < latest) cases.push({ label: `between ${version} and ${version + 1} (in-commit timestamps)`, timestampMs: ictOf(version) + 30_000, version });
  }
  cases.push({ label: 'after the latest in-commit timestamp', timestampMs: ictOf(latest) + 1, version: undefined });
  // The ICT commits' own file times are later than every ICT: a time there is after the latest version.
  cases.push({ label: 'file time of commit 4 (ignored: ICT)', timestampMs: fileTimeBase + 56 * minute, version: undefined });
  return cases;
}

async function outcome(work: Promise<{ version: number }>): Promise<number | string> {
  try {
    return (await work).version;
  } catch (error) {
    if (error instanceof NotFoundError) return error.message.includes('after the latest version') ? 'after latest' : 'before earliest';
    throw error;
  }
}

function expectedOutcome(expectation: Expectation): number | string {
  if (expectation.version !== undefined) return expectation.version;
  return expectation.timestampMs > ictOf(latest) ? 'after latest' : 'before earliest';
}

describeWithEnv('time travel by timestamp (in-commit timestamps, Spark rule)', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let table: string;
  let reader: RunningReader;

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    table = dirs.make('ict');
    await writeIctTable(table);
    reader = await startTestReader(env, {}, ':time-travel');
  });

  after(async () => {
    await reader.stop();
    await pool.end();
    dirs.removeAll();
  });

  it('replay answers as Spark at commit times, between them, before the first and after the last', async function () {
    this.timeout(60_000);
    for (const expectation of expectations()) {
      expect(await outcome(replay(table, { timestampMs: expectation.timestampMs })), expectation.label).to.equal(expectedOutcome(expectation));
    }
  });

  it('PostgreSQL (history import) and the reader answer the same; errors are 404 naming the rule', async function () {
    this.timeout(60_000);
    await importTable(pool, table, 'ict_history', { history: true });
    const { rows } = await pool.query<{ version: number; timestamp_ms: number }>(
      `SELECT version, timestamp_ms FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'ict_history' AND version >= $1 ORDER BY version`,
      [enablementVersion],
    );
    expect(rows.map((row) => row.timestamp_ms), 'stored in-commit timestamps, unadjusted').to.deep.equal([4, 5, 6].map(ictOf));
    for (const expectation of expectations()) {
      const expected = expectedOutcome(expectation);
      expect(await outcome(snapshotOf(pool, 'ict_history', { timestampMs: expectation.timestampMs })), `snapshot: ${expectation.label}`).to.equal(expected);
      const response = await fetch(`${reader.base}/v1/tables/ict_history?timestamp=${encodeURIComponent(new Date(expectation.timestampMs).toISOString())}`);
      const body = await response.text();
      if (typeof expected === 'number') {
        expect(response.status, `reader: ${expectation.label}: ${body}`).to.equal(200);
        expect(response.headers.get('delta-table-version'), `reader: ${expectation.label}`).to.equal(String(expected));
      } else {
        expect(response.status, `reader: ${expectation.label}`).to.equal(404);
        expect((JSON.parse(body) as { detail: string }).detail, `reader: ${expectation.label}`).to.include(expected === 'after latest' ? 'after the latest version' : 'before the earliest version');
      }
    }
  });

  it('a copied table (every file time later than the ICTs): ICT versions keep their exact times, earlier versions are out of reach', async function () {
    this.timeout(60_000);
    const dir = dirs.make('ict-copied');
    cpSync(table, dir, { recursive: true });
    const copiedAt = Date.UTC(2026, 5, 1);
    for (let version = 0; version <= latest; version++) {
      utimesSync(path.join(dir, '_delta_log', commitFileName(version)), (copiedAt + version) / 1000, (copiedAt + version) / 1000);
    }
    await importTable(pool, dir, 'ict_copied', { history: true });
    const cases: [number, number | string][] = [
      [ictOf(4), 4], [ictOf(5), 5], [ictOf(5) + 30_000, 5], [ictOf(6), 6], [ictOf(6) + 1, 'after latest'],
      // Before T_E Spark searches the versions before enablement by file time: all of them are later.
      [ictOf(4) - 1, 'before earliest'], [copiedAt, 'after latest'],
    ];
    for (const [timestampMs, expected] of cases) {
      expect(await outcome(replay(dir, { timestampMs })), `replay at ${new Date(timestampMs).toISOString()}`).to.equal(expected);
      expect(await outcome(snapshotOf(pool, 'ict_copied', { timestampMs })), `snapshot at ${new Date(timestampMs).toISOString()}`).to.equal(expected);
    }
  });

  it('a checkpoint at an ICT version: import keeps its in-commit timestamp, export writes its commitInfo back', async function () {
    this.timeout(60_000);
    const dir = dirs.make('ict-checkpoint');
    cpSync(table, dir, { recursive: true });
    setFileTimes(dir);
    const state = await replay(dir, { version: 5 });
    if (!state.protocol || !state.metadata) throw new Error('no protocol or metadata at version 5');
    const actions: Action[] = [
      { kind: 'protocol', protocol: state.protocol }, { kind: 'metaData', metaData: state.metadata },
      ...[...state.files.values()].map((add): Action => ({ kind: 'add', add })),
    ];
    await writeParquetCheckpoint(path.join(dir, '_delta_log', '00000000000000000005.checkpoint.parquet'), actions);
    const result = await importTable(pool, dir, 'ict_checkpoint');
    expect(result.fromVersion).to.equal(5);
    expect((await snapshotOf(pool, 'ict_checkpoint', { timestampMs: ictOf(5) })).version).to.equal(5);
    expect((await snapshotOf(pool, 'ict_checkpoint', { timestampMs: ictOf(5) + 30_000 })).version).to.equal(5);
    expect(await outcome(snapshotOf(pool, 'ict_checkpoint', { timestampMs: ictOf(5) - 1 }))).to.equal('before earliest');

    const exported = dirs.make('ict-export');
    await exportTable(pool, 'ict_checkpoint', exported);
    const commitAtCheckpoint = path.join(exported, '_delta_log', commitFileName(5));
    expect(readdirSync(path.join(exported, '_delta_log')), 'the JSON commit at the checkpoint version').to.include(commitFileName(5));
    expect(linesOf(commitAtCheckpoint)[0]?.['commitInfo']?.['inCommitTimestamp']).to.equal(ictOf(5));
    for (const [timestampMs, version] of [[ictOf(5), 5], [ictOf(6), 6], [ictOf(5) + 30_000, 5]] as const) {
      expect((await replay(exported, { timestampMs })).version, `exported, at ${timestampMs}`).to.equal(version);
    }
    expect((await replay(exported)).liveLines()).to.deep.equal((await replay(dir)).liveLines());
    expect(await outcome(replay(exported, { timestampMs: ictOf(6) + 1 }))).to.equal('after latest');
  });

  it('a commit after enablement without an in-commit timestamp is a log error naming the file', async function () {
    this.timeout(60_000);
    const dir = dirs.make('ict-missing');
    cpSync(table, dir, { recursive: true });
    const file = path.join(dir, '_delta_log', commitFileName(5));
    const [first, ...rest] = linesOf(file);
    const { inCommitTimestamp: _dropped, ...commitInfo } = first?.['commitInfo'] ?? {};
    writeLines(file, [{ commitInfo }, ...rest]);
    const error = await replay(dir, { timestampMs: ictOf(6) }).then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(LogFormatError);
    expect((error as LogFormatError).file).to.equal(file);
    expect((error as LogFormatError).message).to.include('inCommitTimestamp');
    const imported = await importTable(pool, dir, 'ict_missing', { history: true }).then(() => undefined, (caught: unknown) => caught);
    expect(imported).to.be.instanceOf(LogFormatError);
  });

  it('delta-rs 1.6.6 still times ICT versions by file times: it differs from Spark exactly there', async function () {
    this.timeout(60_000);
    // Versions before enablement: file times on both sides.
    for (let version = 0; version < enablementVersion; version++) {
      expect(await deltaRsVersionAt(table, fileTimeBase + version * minute + 30_000), `delta-rs between ${version} and ${version + 1}`).to.equal(version);
    }
    // ICT versions: delta-rs reads the (deliberately wrong) file times, Spark (and deltameta) the in-commit timestamps.
    expect(await deltaRsVersionAt(table, ictOf(5)), 'delta-rs at ICT(5)').to.equal(enablementVersion - 1);
    expect((await replay(table, { timestampMs: ictOf(5) })).version, 'deltameta at ICT(5)').to.equal(5);
    expect(await deltaRsVersionAt(table, fileTimeBase + 56 * minute), 'delta-rs at the file time of commit 4').to.equal(latest);
  });

  it('a table without in-commit timestamps: a time after the last commit is an error too (Spark), at the last commit\'s time it is the last version', async function () {
    this.timeout(60_000);
    const dir = dirs.make('plain');
    await writeDeltaRsAppends(dir, 3);
    for (let version = 0; version < 3; version++) {
      const time = (fileTimeBase + version * minute) / 1000;
      utimesSync(path.join(dir, '_delta_log', commitFileName(version)), time, time);
    }
    await importTable(pool, dir, 'plain_history', { history: true });
    const last = fileTimeBase + 2 * minute;
    expect((await replay(dir, { timestampMs: last })).version).to.equal(2);
    expect((await snapshotOf(pool, 'plain_history', { timestampMs: last })).version).to.equal(2);
    expect(await outcome(replay(dir, { timestampMs: last + 1 }))).to.equal('after latest');
    expect(await outcome(snapshotOf(pool, 'plain_history', { timestampMs: last + 1 }))).to.equal('after latest');
    // At and between commits delta-rs agrees (it answers the latest version, not an error, after the last commit).
    for (let version = 0; version < 3; version++) {
      for (const timestampMs of [fileTimeBase + version * minute, fileTimeBase + version * minute + 30_000]) {
        if (version === 2 && timestampMs > last) continue;
        expect((await replay(dir, { timestampMs })).version).to.equal(await deltaRsVersionAt(dir, timestampMs));
      }
    }
  });
});
