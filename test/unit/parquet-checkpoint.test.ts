import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ensureDeltaRs } from '../support/deltars.ts';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import {
  addLine, readParquetActions, writeParquetCheckpoint, type Action, type AddAction, type Json, type JsonObject,
} from '../../shared/delta/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const helper = path.join(repoRoot, 'test/unit/parquet-checkpoint-helper.py');

/** The project venv's Python (pyarrow and deltalake, installed by ensureDeltaRs in the suite's before hook). */
let python: string | undefined;

function runPython(...args: string[]): unknown {
  if (!python) throw new Error('no python');
  const result = spawnSync(python, [helper, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function needPython(_context: Mocha.Context): void {
  if (!python) throw new Error('the project venv is not ready: ensureDeltaRs() did not run');
}

async function readAll(file: string): Promise<Action[]> {
  const actions: Action[] = [];
  for await (const action of readParquetActions(file)) actions.push(action);
  return actions;
}

/**
 * What the reader yields for an action given as `value`: its JSON form, with
 * null fields of the action absent (the inputs here have nulls only at the
 * top level; null map values are data and stay).
 */
function jsonForm(value: unknown): Json {
  const parsed = JSON.parse(JSON.stringify(value)) as JsonObject;
  return Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== null));
}

/** An add exactly as JSON.parse gives it from a commit line. */
function parsedAdd(add: AddAction): AddAction {
  return (JSON.parse(JSON.stringify({ add })) as { add: AddAction }).add;
}

function record(value: unknown): Record<string, unknown> {
  expect(value).to.be.an('object');
  return value as Record<string, unknown>;
}

const schemaString = JSON.stringify({
  type: 'struct',
  fields: [
    { name: 'id', type: 'long', nullable: true, metadata: {} },
    { name: 'p', type: 'string', nullable: true, metadata: {} },
  ],
});

const adds: AddAction[] = [
  {
    path: 'date=2024-01-01/region=__HIVE_DEFAULT_PARTITION__/part-00000.snappy.parquet',
    partitionValues: { date: '2024-01-01', region: null },
    size: 1234,
    modificationTime: 1_700_000_000_123,
    dataChange: true,
    stats: '{"numRecords":10,"minValues":{"id":1},"maxValues":{"id":10},"nullCount":{"id":0}}',
    tags: { INSERTION_TIME: '1700000000000000', OPTIMIZE_TARGET_SIZE: null },
  },
  { path: 'part-00001.snappy.parquet', partitionValues: {}, size: 1, modificationTime: 0, dataChange: false },
  {
    path: 'part-00002.snappy.parquet',
    partitionValues: {},
    size: 2 ** 40,
    modificationTime: 1_700_000_000_000,
    dataChange: true,
    stats: null,
    deletionVector: { storageType: 'u', pathOrInlineDv: 'ab^-aqEH.-t@S}K{vb[*k^', offset: 4, sizeInBytes: 40, cardinality: 6, maxRowIndex: 99 },
    baseRowId: 1000,
    defaultRowCommitVersion: 3,
    clusteringProvider: 'liquid',
  },
  {
    path: 'part-00003.snappy.parquet',
    partitionValues: {},
    size: 3,
    modificationTime: 3,
    dataChange: true,
    deletionVector: { storageType: 'i', pathOrInlineDv: 'wi5b=000010000siXQKl0rr91000f55c8Xg0@fTZ', sizeInBytes: 40, cardinality: 6 },
    baseRowId: 0,
    defaultRowCommitVersion: 0,
  },
  {
    // Integer-like keys are reordered by every JS object (JSON.parse too), a
    // JSON-only "__proto__" key must stay an ordinary key, and non-ASCII text must survive.
    path: 'k=ü/part-00004 with space.parquet',
    partitionValues: JSON.parse('{"b":"1","10":"x","2":null,"__proto__":"p","ü":"ñ"}') as Record<string, string | null>,
    size: 4,
    modificationTime: 4,
    dataChange: true,
    tags: {},
  },
];

const others: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors', 'v2Checkpoint'], writerFeatures: ['deletionVectors', 'domainMetadata', 'rowTracking'] } },
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  {
    kind: 'metaData',
    metaData: {
      id: '2f9b6d6e-3b1c-4f7e-9d4a-0c1e5b7a9f00',
      name: 'events',
      description: 'a table',
      format: { provider: 'parquet', options: { compression: 'snappy' } },
      schemaString,
      partitionColumns: ['date', 'region'],
      configuration: { 'delta.enableDeletionVectors': 'true', 'delta.checkpointInterval': '10' },
      createdTime: 1_700_000_000_000,
    },
  },
  { kind: 'metaData', metaData: { id: 'minimal', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
  {
    kind: 'remove',
    remove: {
      path: 'date=2024-01-01/region=eu/old.parquet',
      deletionTimestamp: 1_700_000_000_999,
      dataChange: false,
      extendedFileMetadata: true,
      partitionValues: { date: '2024-01-01', region: 'eu' },
      size: 77,
      tags: { a: 'b' },
      deletionVector: { storageType: 'p', pathOrInlineDv: 's3://bucket/dv.bin', offset: 1, sizeInBytes: 8, cardinality: 1, maxRowIndex: 5 },
      baseRowId: 5,
      defaultRowCommitVersion: 2,
    },
  },
  { kind: 'remove', remove: { path: 'gone.parquet', dataChange: true } },
  { kind: 'txn', txn: { appId: 'streaming-job-1', version: 42, lastUpdated: 1_700_000_000_000 } },
  { kind: 'txn', txn: { appId: 'batch', version: 0 } },
  { kind: 'domainMetadata', domainMetadata: { domain: 'delta.rowTracking', configuration: '{"rowIdHighWaterMark":1004}', removed: false } },
  { kind: 'domainMetadata', domainMetadata: { domain: 'user.x', configuration: '{}', removed: true } },
];

function payload(action: Action): unknown {
  return action.kind === 'unknown' ? action.value : (action as Record<string, unknown>)[action.kind];
}

/** The i-th generated add of the large-file test. */
function generatedAdd(i: number): AddAction {
  const day = `2024-01-${String((i % 28) + 1).padStart(2, '0')}`;
  return {
    path: `date=${day}/part-${String(i).padStart(8, '0')}-c000.snappy.parquet`,
    partitionValues: { date: day },
    size: 1000 + i,
    modificationTime: 1_700_000_000_000 + i,
    dataChange: false,
    stats: `{"numRecords":${i % 1000},"minValues":{"id":${i}},"maxValues":{"id":${i + 999}},"nullCount":{"id":0}}`,
    ...(i % 7 === 0 ? { deletionVector: { storageType: 'u', pathOrInlineDv: `dv${i}`, sizeInBytes: 36, cardinality: i % 5 } } : {}),
  };
}

describe('parquet checkpoints', function () {
  before(async function () {
    this.timeout(600_000);
    python = await ensureDeltaRs();
  });

  let dir: string;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deltameta-parquet-'));
  });

  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips every field of every classic checkpoint action', async function () {
    const file = path.join(dir, 'checkpoint.parquet');
    const input: Action[] = [...others.slice(0, 4), ...adds.map((add): Action => ({ kind: 'add', add })), ...others.slice(4)];
    const { rows, bytes } = await writeParquetCheckpoint(file, input);
    expect(rows).to.equal(input.length);
    expect(bytes).to.equal(fs.statSync(file).size);
    expect(fs.readdirSync(dir)).to.deep.equal(['checkpoint.parquet']);

    const output = await readAll(file);
    expect(output.map((a) => a.kind)).to.deep.equal(input.map((a) => a.kind));
    for (const [i, action] of output.entries()) {
      const original = input[i];
      if (!original) throw new Error('missing input');
      if (action.kind === 'add' && original.kind === 'add') {
        // The replay paths print addLine; it must not depend on which form the add came from.
        expect(addLine(action.add)).to.equal(addLine(parsedAdd(original.add)));
        expect(action.add).to.deep.equal(jsonForm(original.add));
      } else {
        expect(payload(action)).to.deep.equal(jsonForm(payload(original)));
      }
    }
    // Null map values are data, not absent fields.
    const first = output[4];
    expect(first?.kind === 'add' && first.add.partitionValues).to.deep.equal({ date: '2024-01-01', region: null });
    expect(first?.kind === 'add' && first.add.tags).to.deep.equal({ INSERTION_TIME: '1700000000000000', OPTIMIZE_TARGET_SIZE: null });
    // A key named __proto__ is an own key, as JSON.parse makes it.
    const odd = output[8];
    expect(odd?.kind === 'add' && Object.keys(odd.add.partitionValues)).to.deep.equal(['2', '10', 'b', '__proto__', 'ü']);
    expect(odd?.kind === 'add' && Object.getPrototypeOf(odd.add.partitionValues)).to.equal(Object.prototype);
  });

  it('leaves out the actions a classic checkpoint does not hold', async function () {
    const file = path.join(dir, 'checkpoint.parquet');
    const input: Action[] = [
      { kind: 'commitInfo', commitInfo: { timestamp: 1, operation: 'WRITE' } },
      { kind: 'add', add: adds[1] ?? adds[0]! },
      { kind: 'cdc', cdc: { path: '_change_data/x.parquet', partitionValues: {}, size: 1, dataChange: false } },
      { kind: 'checkpointMetadata', checkpointMetadata: { version: 1 } },
      { kind: 'sidecar', sidecar: { path: 'a.parquet', sizeInBytes: 1, modificationTime: 1 } },
      { kind: 'unknown', name: 'future', value: { x: 1 } },
    ];
    const { rows } = await writeParquetCheckpoint(file, input);
    expect(rows).to.equal(1);
    expect((await readAll(file)).map((a) => a.kind)).to.deep.equal(['add']);
  });

  it('accepts an async source and rejects a malformed action by name, leaving no file', async function () {
    const file = path.join(dir, 'checkpoint.parquet');
    async function* source(): AsyncGenerator<Action> {
      yield { kind: 'add', add: adds[0]! };
      await Promise.resolve();
      yield { kind: 'add', add: { ...adds[1]!, path: 'bad.parquet', size: '10' as unknown as number } };
    }
    let error: unknown;
    try {
      await writeParquetCheckpoint(file, source());
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(BadRequestError);
    expect((error as Error).message).to.match(/add bad\.parquet: size must be an integer/);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('writes an empty checkpoint and names a damaged file when reading it', async function () {
    const file = path.join(dir, 'checkpoint.parquet');
    expect((await writeParquetCheckpoint(file, [])).rows).to.equal(0);
    expect(await readAll(file)).to.deep.equal([]);

    await writeParquetCheckpoint(file, adds.map((add): Action => ({ kind: 'add', add })));
    fs.truncateSync(file, fs.statSync(file).size - 10);
    let error: unknown;
    try {
      await readAll(file);
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.contain(file);
  });

  it('streams 200,000 adds through several row groups', async function () {
    this.timeout(180_000);
    const file = path.join(dir, 'big.checkpoint.parquet');
    const count = 200_000;
    function* generate(): Generator<Action> {
      yield others[1]!;
      yield others[3]!;
      for (let i = 0; i < count; i++) yield { kind: 'add', add: generatedAdd(i) };
    }
    const { rows } = await writeParquetCheckpoint(file, generate(), { rowGroupRows: 30_000 });
    expect(rows).to.equal(count + 2);

    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(file));
    expect(metadata.row_groups.length).to.equal(Math.ceil((count + 2) / 30_000));
    expect(Number(metadata.num_rows)).to.equal(count + 2);

    let added = 0;
    let checked = 0;
    for await (const action of readParquetActions(file)) {
      if (action.kind !== 'add') continue;
      // Every add in order; a full addLine comparison on a sample keeps the test quick.
      expect(action.add.path).to.equal(generatedAdd(added).path);
      if (added % 997 === 0 || added === count - 1) {
        expect(addLine(action.add)).to.equal(addLine(parsedAdd(generatedAdd(added))));
        checked++;
      }
      added++;
    }
    expect(added).to.equal(count);
    expect(checked).to.be.greaterThan(200);
  });

  it('writes a file pyarrow reads with the Delta checkpoint types', async function () {
    this.timeout(120_000);
    needPython(this);
    const file = path.join(dir, 'checkpoint.parquet');
    const input: Action[] = [...others, ...adds.map((add): Action => ({ kind: 'add', add }))];
    const { rows } = await writeParquetCheckpoint(file, input, { rowGroupRows: 4 });
    const info = record(runPython('inspect', file));
    expect(info['rows']).to.equal(rows);
    expect(info['columns']).to.deep.equal(['txn', 'add', 'remove', 'metaData', 'protocol', 'domainMetadata']);
    expect(info['partitionValuesIsMap'], String(info['partitionValuesType'])).to.equal(true);
    expect(info['adds']).to.equal(adds.length);
    expect(info['firstAddPartitionValues']).to.deep.equal([['date', '2024-01-01'], ['region', null]]);
    expect(info['rowGroups']).to.equal(Math.ceil(rows / 4));
  });

  it('writes a checkpoint delta-rs replays a table from', async function () {
    this.timeout(120_000);
    needPython(this);
    const table = path.join(dir, 'table');
    const log = path.join(table, '_delta_log');
    fs.mkdirSync(log, { recursive: true });
    const protocol = { minReaderVersion: 1, minWriterVersion: 2 };
    const metaData = { id: 'c6b1c5e2-0000-4000-8000-000000000001', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration: {}, createdTime: 1_700_000_000_000 };
    const file = (name: string, p: string | null): AddAction => ({
      path: `p=${p ?? '__HIVE_DEFAULT_PARTITION__'}/${name}.parquet`,
      partitionValues: { p },
      size: 100,
      modificationTime: 1_700_000_000_000,
      dataChange: true,
      stats: '{"numRecords":1}',
    });
    const lines = (actions: object[]): string => actions.map((a) => JSON.stringify(a)).join('\n') + '\n';
    fs.writeFileSync(path.join(log, '00000000000000000000.json'), lines([{ protocol }, { metaData }, { add: file('a', 'x') }, { add: file('b', 'y') }, { add: file('c', null) }]));
    const removed = { path: file('b', 'y').path, deletionTimestamp: 1_700_000_001_000, dataChange: true, extendedFileMetadata: true, partitionValues: { p: 'y' }, size: 100 };
    fs.writeFileSync(path.join(log, '00000000000000000001.json'), lines([{ remove: removed }, { add: file('d', 'y') }]));

    // The state at version 1, as a checkpoint holds it (dataChange false: a state, not a change).
    const state: Action[] = [
      { kind: 'protocol', protocol },
      { kind: 'metaData', metaData },
      ...[file('a', 'x'), file('c', null), file('d', 'y')].map((add): Action => ({ kind: 'add', add: { ...add, dataChange: false } })),
      { kind: 'remove', remove: { ...removed, dataChange: false } },
    ];
    const { rows } = await writeParquetCheckpoint(path.join(log, '00000000000000000001.checkpoint.parquet'), state);
    fs.writeFileSync(path.join(log, '_last_checkpoint'), JSON.stringify({ version: 1, size: rows }));

    const expected = { version: 1, files: ['p=__HIVE_DEFAULT_PARTITION__/c.parquet', 'p=x/a.parquet', 'p=y/d.parquet'] };
    expect(runPython('table-files', table)).to.deep.equal(expected);
    // Without the commit it replaces, delta-rs can only have the state from the checkpoint.
    fs.rmSync(path.join(log, '00000000000000000000.json'));
    expect(runPython('table-files', table)).to.deep.equal(expected);
  });

  it('reads a checkpoint delta-rs wrote to the adds of its JSON commits', async function () {
    this.timeout(120_000);
    needPython(this);
    const table = path.join(dir, 'deltars');
    expect(record(runPython('deltars-table', table))['version']).to.equal(1);
    const log = path.join(table, '_delta_log');
    const fromCommits: string[] = [];
    let commitActions = 0;
    for (const name of ['00000000000000000000.json', '00000000000000000001.json']) {
      for (const line of fs.readFileSync(path.join(log, name), 'utf8').split('\n')) {
        if (!line) continue;
        const action = JSON.parse(line) as { add?: AddAction; metaData?: JsonObject; protocol?: JsonObject };
        if (action.add) fromCommits.push(addLine(action.add));
        if (action.metaData || action.protocol) commitActions++;
      }
    }
    const read = await readAll(path.join(log, '00000000000000000001.checkpoint.parquet'));
    const fromCheckpoint = read.flatMap((a) => (a.kind === 'add' ? [addLine(a.add)] : []));
    expect(fromCheckpoint.sort()).to.deep.equal(fromCommits.sort());
    expect(read.filter((a) => a.kind === 'metaData' || a.kind === 'protocol')).to.have.length(commitActions);
  });

  it('assembles nested columns, V1 and V2 pages, dictionaries and codecs as pyarrow decodes them', async function () {
    this.timeout(180_000);
    needPython(this);
    const variants: [string, string, string][] = [['1.0', 'gzip', 'true'], ['2.0', 'snappy', 'false'], ['1.0', 'none', 'false'], ['2.0', 'brotli', 'true']];
    for (const [pageVersion, codec, dictionary] of variants) {
      const file = path.join(dir, `nested-${pageVersion}-${codec}-${dictionary}.parquet`);
      const written = record(runPython('nested', file, pageVersion, codec, dictionary));
      expect(written['rowGroups']).to.be.greaterThan(1);
      const expected = (written['rows'] as [string, Json][][]).flat();
      const got = (await readAll(file)).map((a) => [a.kind === 'unknown' ? a.name : a.kind, payload(a)]);
      expect(got.length, file).to.equal(expected.length);
      for (const [i, pair] of got.entries()) {
        // Through JSON so that longs beyond 2^53 round the same way on both sides.
        expect(JSON.parse(JSON.stringify(pair)), `${file} action ${i}`).to.deep.equal(expected[i]);
      }
    }
  });

  it('rebuilds the stats string from stats_parsed and drops the parsed copies', async function () {
    this.timeout(60_000);
    needPython(this);
    const file = path.join(dir, 'stats-parsed.parquet');
    runPython('stats-parsed', file);
    const read = await readAll(file);
    expect(read.map((a) => a.kind)).to.deep.equal(['add', 'add']);
    const [first, second] = read.map((a) => (a.kind === 'add' ? a.add : undefined));
    expect(first).to.deep.equal({
      path: 'p=x/a.parquet',
      partitionValues: { p: 'x' },
      size: 10,
      modificationTime: 5,
      dataChange: false,
      stats: '{"numRecords":3,"minValues":{"id":1,"d":"2024-01-02","ts":"2024-01-02T03:04:05.006Z"},' +
        '"maxValues":{"id":9,"d":"2024-02-03"},"nullCount":{"id":0,"d":0,"ts":1}}',
    });
    // A stats string that is there wins over the struct.
    expect(second?.stats).to.equal('{"numRecords":7}');
    expect(second).to.not.have.any.keys('stats_parsed', 'partitionValues_parsed');
  });
});
