/**
 * Parity with Spark itself, the engine the Delta protocol follows, on a table
 * it wrote with the features delta-rs 1.6 cannot write (issue 11): deletion
 * vectors on files, row tracking (baseRowId, defaultRowCommitVersion through
 * DELETE, UPDATE, MERGE and OPTIMIZE), in-commit timestamps from the first
 * version, and v2 checkpoints with sidecars. The fixture and Spark's answers
 * were written once by test/reference/spark_tables.py (pyspark 3.5.3,
 * delta-spark 3.3.2; no Spark runs here): per version, the protocol, the
 * metaData and the live add actions Spark's DeltaLog holds (allFiles); and
 * the version Spark resolves for timestamps at and around every commit.
 *
 * deltameta imports the folder as a user does (`deltameta import --history`)
 * and must hold, at every version, the same protocol, metaData and add
 * actions — whole, the row-tracking fields and deletion vector descriptors
 * included (only `dataChange`, false in any snapshot, is left out) — and
 * answer every timestamp with Spark's version, refusals included.
 */
import { expect } from 'chai';
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { AddAction } from '../../shared/delta/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { snapshotOf, TempDirs } from '../support/tables.ts';
import { runCli, storedSnapshot } from './parity-state.ts';

const fixture = path.join(projectRoot, 'test', 'fixtures', 'spark', 'features');

interface SparkSnapshot {
  readonly protocol: Record<string, unknown>;
  readonly metaData: { id: string; schemaString: string; partitionColumns: string[]; configuration: Record<string, string>; format: { provider: string }; createdTime?: number };
  readonly adds: Array<Record<string, unknown>>;
}

interface SparkExpected {
  readonly history: string[];
  readonly snapshots: Record<string, SparkSnapshot>;
  readonly travel: Array<[number, number | null]>;
}

/** An add action as both sides can state it: no dataChange, no null or absent field, stats parsed. */
function comparableAdd(add: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(add)) {
    if (name === 'dataChange' || value === null || value === undefined) continue;
    out[name] = name === 'stats' && typeof value === 'string' ? JSON.parse(value) as unknown : value;
  }
  return out;
}

const byFile = (a: Record<string, unknown>, b: Record<string, unknown>): number =>
  `${String(a['path'])} ${JSON.stringify(a['deletionVector'] ?? null)}`.localeCompare(`${String(b['path'])} ${JSON.stringify(b['deletionVector'] ?? null)}`);

function comparableProtocol(protocol: Record<string, unknown>): Record<string, unknown> {
  const sorted = (value: unknown): unknown => (Array.isArray(value) ? [...(value as string[])].sort() : value);
  return { ...protocol, readerFeatures: sorted(protocol['readerFeatures']), writerFeatures: sorted(protocol['writerFeatures']) };
}

describeWithEnv('parity with Spark: a table it wrote with deletion vectors, row tracking, in-commit timestamps, v2 checkpoints', (env) => {
  const dirs = new TempDirs();
  const expected = JSON.parse(readFileSync(`${fixture}.expected.json`, 'utf8')) as SparkExpected;
  const table = 'spark_features';
  let pool: Pool;

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(2);
    const dir = dirs.make('spark-features');
    cpSync(fixture, dir, { recursive: true });
    await runCli(env.config.postgresUrl, ['import', dir, '--table', table, '--history']);
  });

  after(async () => {
    await pool.end();
    dirs.removeAll();
  });

  it('holds Spark\'s protocol, metaData and whole add actions at every version', async function () {
    this.timeout(60_000);
    const versions = Object.keys(expected.snapshots).map(Number).sort((a, b) => a - b);
    expect(versions).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    // The fixture has what it is for: vectors, row ids and commit versions on files, in-commit timestamps.
    const latest = expected.snapshots['7'];
    expect(latest?.protocol['readerFeatures']).to.include.members(['deletionVectors', 'v2Checkpoint']);
    expect(latest?.protocol['writerFeatures']).to.include.members(['rowTracking', 'inCommitTimestamp', 'domainMetadata']);
    expect(Object.values(expected.snapshots).some((snapshot) => snapshot.adds.some((add) => add['deletionVector'] !== undefined))).to.equal(true);
    for (const version of versions) {
      const spark = expected.snapshots[String(version)] as SparkSnapshot;
      const stored = await storedSnapshot(pool, table, version);
      const what = `version ${version} (${expected.history[version] ?? ''})`;
      expect(stored.version, what).to.equal(version);
      expect(comparableProtocol({ ...stored.protocol }), `${what}: protocol`).to.deep.equal(comparableProtocol(spark.protocol));
      expect(stored.metadata?.id, `${what}: metaData.id`).to.equal(spark.metaData.id);
      expect(JSON.parse(stored.metadata?.schemaString ?? 'null'), `${what}: schema`).to.deep.equal(JSON.parse(spark.metaData.schemaString));
      expect(stored.metadata?.partitionColumns, `${what}: partition columns`).to.deep.equal(spark.metaData.partitionColumns);
      expect(stored.metadata?.configuration, `${what}: configuration`).to.deep.equal(spark.metaData.configuration);
      const ours = stored.adds.map((add: AddAction) => comparableAdd({ ...add })).sort(byFile);
      const theirs = spark.adds.map(comparableAdd).sort(byFile);
      expect(ours, `${what}: add actions`).to.deep.equal(theirs);
      if (version >= 2) expect(theirs.every((add) => typeof add['baseRowId'] === 'number' && typeof add['defaultRowCommitVersion'] === 'number'), `${what}: row ids on every file`).to.equal(true);
    }
  });

  it('answers every timestamp with the version Spark resolves (in-commit timestamps), and refuses where Spark does', async function () {
    this.timeout(60_000);
    expect(expected.travel.length).to.be.at.least(20);
    expect(expected.travel.some(([, version]) => version === null)).to.equal(true);
    const answers: Array<[number, number | null]> = [];
    for (const [ms] of expected.travel) {
      const version = await snapshotOf(pool, table, { timestampMs: ms }).then((snapshot) => snapshot.version, (error: unknown) => {
        if (error instanceof NotFoundError) return null;
        throw error;
      });
      answers.push([ms, version]);
    }
    expect(answers).to.deep.equal(expected.travel);
  });
});
