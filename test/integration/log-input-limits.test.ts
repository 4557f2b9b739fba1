/**
 * Input that could wedge the system later: values the log tables would
 * take (or fail on with a raw database error) but that a CHECK, a bigint
 * sum, jsonb or Date would refuse in the refresher. Each is refused at
 * commit and at import with BAD_INPUT naming the action and field, and
 * nothing is written.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, parseActionObject, type Action, type Json, type JsonObject } from '../../shared/delta/index.ts';
import { BadRequestError, CommitConflictError, LogFormatError } from '../../shared/errors/index.ts';
import { commit, findTable, importTable } from '../../shared/log-store/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }] });
const createActions: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'a1b2c3d4-0000-4000-8000-00000000000a', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration: {} } },
];

function goodAdd(): JsonObject {
  return { path: 'p=1/a.parquet', partitionValues: { p: '1' }, size: 100, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":10}' };
}

function nested(depth: number): string {
  return `{"numRecords":1,"minValues":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
}

/** [what, the action JSON, the field the error must name] */
const poisoned: readonly [string, JsonObject, string][] = [
  ['negative size', { add: { ...goodAdd(), size: -1 } }, 'add.size'],
  ['size beyond 2^40', { add: { ...goodAdd(), size: 2 ** 53 } }, 'add.size'],
  ['fractional size', { add: { ...goodAdd(), size: 1.5 } }, 'add.size'],
  ['modificationTime beyond year 9999', { add: { ...goodAdd(), modificationTime: 1e16 } }, 'add.modificationTime'],
  ['negative modificationTime', { add: { ...goodAdd(), modificationTime: -5 } }, 'add.modificationTime'],
  ['stats not JSON', { add: { ...goodAdd(), stats: '{"numRecords":' } }, 'add.stats'],
  ['stats an array', { add: { ...goodAdd(), stats: '[1,2]' } }, 'add.stats'],
  ['stats nested 40 deep', { add: { ...goodAdd(), stats: nested(40) } }, 'add.stats'],
  ['stats numRecords negative', { add: { ...goodAdd(), stats: '{"numRecords":-3}' } }, 'add.stats.numRecords'],
  ['stats number overflowing numeric', { add: { ...goodAdd(), stats: '{"numRecords":1,"maxValues":{"a":1e999999}}' } }, 'add.stats'],
  ['stats number with 20000 decimals', { add: { ...goodAdd(), stats: `{"numRecords":1,"maxValues":{"a":0.${'0'.repeat(20_000)}1}}` } }, 'add.stats'],
  ['stats over 1 MiB', { add: { ...goodAdd(), stats: `{"numRecords":1,"x":"${'y'.repeat(1_100_000)}"}` } }, 'add.stats'],
  ['NUL in a path', { add: { ...goodAdd(), path: 'p=1/a\u0000.parquet' } }, 'add.path'],
  ['path over 16 KiB', { add: { ...goodAdd(), path: `p=1/${'a'.repeat(20_000)}` } }, 'add.path'],
  ['unpaired surrogate in a partition value', { add: { ...goodAdd(), partitionValues: { p: '\ud800' } } }, 'add.partitionValues.p'],
  ['partition value over 64 KiB', { add: { ...goodAdd(), partitionValues: { p: 'v'.repeat(70_000) } } }, 'add.partitionValues.p'],
  ['NUL in a tag value', { add: { ...goodAdd(), tags: { k: 'a\u0000' } } }, 'add.tags.k'],
  ['deletion vector cardinality negative', { add: { ...goodAdd(), deletionVector: { storageType: 'i', pathOrInlineDv: 'abc', sizeInBytes: 10, cardinality: -1 } } }, 'add.deletionVector.cardinality'],
  ['deletion vector offset negative', { add: { ...goodAdd(), deletionVector: { storageType: 'u', pathOrInlineDv: 'abc', offset: -4, sizeInBytes: 10, cardinality: 1 } } }, 'add.deletionVector.offset'],
  ['remove deletionTimestamp negative', { remove: { path: 'p=1/a.parquet', dataChange: true, deletionTimestamp: -1 } }, 'remove.deletionTimestamp'],
  ['remove size negative', { remove: { path: 'p=1/a.parquet', dataChange: true, size: -10 } }, 'remove.size'],
  ['cdc size beyond range', { cdc: { path: '_change_data/x.parquet', partitionValues: { p: '1' }, size: 1e300, dataChange: false } }, 'cdc.size'],
  ['txn version fractional', { txn: { appId: 'app', version: 1.25 } }, 'txn.version'],
  ['txn lastUpdated beyond bigint', { txn: { appId: 'app', version: 1, lastUpdated: 1e20 } }, 'txn.lastUpdated'],
  ['commitInfo inCommitTimestamp beyond Date', { commitInfo: { inCommitTimestamp: 9e15 } }, 'commitInfo.inCommitTimestamp'],
  ['commitInfo nested 40 deep', { commitInfo: { operationParameters: JSON.parse(nested(40)) as JsonObject } }, 'commitInfo.operationParameters'],
  ['an unknown action with NUL in a key', { futureAction: { 'a\u0000b': 1 } }, 'futureAction'],
];

const protocolPoisoned: readonly [string, JsonObject, string][] = [
  ['minReaderVersion beyond integer', { protocol: { minReaderVersion: 2 ** 31, minWriterVersion: 2 } }, 'protocol.minReaderVersion'],
  ['schemaString over 8 MiB', { metaData: { ...(createActions[1] as { metaData: JsonObject }).metaData, schemaString: `${' '.repeat(9_000_000)}{}` } }, 'metaData.schemaString'],
  ['NUL in the metadata id', { metaData: { ...(createActions[1] as { metaData: JsonObject }).metaData, id: 'x\u0000' } }, 'metaData.id'],
];

function asAction(json: JsonObject): Action {
  const [name] = Object.keys(json);
  const known = ['add', 'remove', 'cdc', 'txn', 'commitInfo', 'protocol', 'metaData'];
  return known.includes(name as string) ? ({ kind: name, [name as string]: json[name as string] } as unknown as Action) : { kind: 'unknown', name: name as string, value: json[name as string] ?? null };
}

function expectRefusal(error: unknown, field: string): void {
  expect(error, String(error)).to.be.instanceOf(LogFormatError);
  expect((error as LogFormatError).code).to.equal('BAD_INPUT');
  expect((error as Error).message).to.include(field);
}

describeWithEnv('input limits at commit and import', (env) => {
  let pool: Pool;
  const dirs = new TempDirs();
  before(async () => {
    pool = env.pool(4);
    await commit(pool, { table: 'limits', actions: createActions });
  });
  after(async () => {
    dirs.removeAll();
    await pool.end();
  });

  for (const [what, json, field] of poisoned) {
    it(`commit refuses ${what}, naming ${field}, and writes nothing`, async () => {
      const before = await findTable(pool, 'limits');
      const actions: Action[] = [{ kind: 'add', add: { ...goodAdd(), path: 'p=1/fine.parquet' } as never }, asAction(json)];
      const error = await commit(pool, { table: 'limits', actions, source: 'stdin' }).then(() => undefined, (caught: unknown) => caught);
      expectRefusal(error, field);
      expect((error as Error).message).to.match(/^stdin:2: /);
      expect((await findTable(pool, 'limits'))?.headVersion).to.equal(before?.headVersion);
    });
  }

  for (const [what, json, field] of protocolPoisoned) {
    it(`commit refuses ${what} when creating a table, and creates nothing`, async () => {
      const actions = [...createActions.filter((action) => action.kind !== Object.keys(json)[0]), asAction(json)];
      const error = await commit(pool, { table: 'limits_new', actions }).then(() => undefined, (caught: unknown) => caught);
      expectRefusal(error, field);
      expect(await findTable(pool, 'limits_new')).to.equal(undefined);
    });
  }

  it('a well-formed commit at the edges of every range still lands', async () => {
    const edge = { ...goodAdd(), path: 'p=1/edge.parquet', size: 2 ** 40, modificationTime: Date.UTC(9999, 11, 31), stats: nested(30) };
    const result = await commit(pool, { table: 'limits', actions: [{ kind: 'add', add: edge as never }] });
    expect(result.version).to.be.greaterThan(0);
  });

  function writeLog(dir: string, versions: readonly (readonly JsonObject[])[]): void {
    mkdirSync(path.join(dir, '_delta_log'), { recursive: true });
    versions.forEach((lines, version) => {
      writeFileSync(path.join(dir, '_delta_log', commitFileName(version)), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    });
  }

  const createLines: JsonObject[] = [
    { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { metaData: (createActions[1] as { metaData: JsonObject }).metaData },
  ];

  it('import refuses a poisoned commit file naming file, line and field, and creates nothing', async () => {
    const dir = dirs.make('poisoned');
    writeLog(dir, [createLines, [{ add: goodAdd() }, { add: { ...goodAdd(), path: 'p=1/b.parquet', size: -7 } }]]);
    const error = await importTable(pool, dir, 'poisoned_import', { history: true }).then(() => undefined, (caught: unknown) => caught);
    expectRefusal(error, 'add.size');
    expect((error as Error).message).to.include(`${commitFileName(1)}:2: add.size`);
    expect(await findTable(pool, 'poisoned_import')).to.equal(undefined);
  });

  it('a sync import that meets a poisoned new version appends nothing', async () => {
    const dir = dirs.make('poisoned-sync');
    writeLog(dir, [createLines, [{ add: goodAdd() }]]);
    await importTable(pool, dir, 'poisoned_sync', { history: true });
    writeLog(dir, [createLines, [{ add: goodAdd() }], [{ add: { ...goodAdd(), path: 'p=1/c.parquet' } }], [{ add: { ...goodAdd(), path: 'p=1/d.parquet', stats: nested(50) } }]]);
    const error = await importTable(pool, dir, 'poisoned_sync').then(() => undefined, (caught: unknown) => caught);
    expectRefusal(error, 'add.stats');
    expect((await findTable(pool, 'poisoned_sync'))?.headVersion).to.equal(1);
  });

  it('fuzzed commits land whole or change nothing (fast-check)', async function () {
    this.timeout(60_000);
    const hostile: fc.Arbitrary<Json> = fc.oneof(
      fc.jsonValue() as fc.Arbitrary<Json>,
      fc.constantFrom(-1, 1.5, 2 ** 31, 2 ** 53, 1e16, 1e300, '', '\u0000', 'a\u0000b', '\ud800', '{"numRecords":-1}', '{"a":1e999999}', `{"a":${'['.repeat(60)}${']'.repeat(60)}}`, '[1]'),
      fc.string({ unit: 'binary' }),
    );
    const bases: Record<string, JsonObject> = {
      add: goodAdd(),
      remove: { path: 'p=1/a.parquet', dataChange: true, deletionTimestamp: 1_700_000_000_000 },
      cdc: { path: '_change_data/c.parquet', partitionValues: { p: '1' }, size: 1, dataChange: false },
      txn: { appId: 'fuzz', version: 1 },
      domainMetadata: { domain: 'd', configuration: '{}', removed: false },
      commitInfo: { operation: 'WRITE' },
      futureAction: { anything: 1 },
    };
    const fields = ['path', 'size', 'modificationTime', 'stats', 'partitionValues', 'tags', 'deletionTimestamp', 'version', 'lastUpdated', 'domain', 'configuration', 'operation', 'inCommitTimestamp', 'anything'];
    const action = fc.record({
      name: fc.constantFrom(...Object.keys(bases)),
      changes: fc.array(fc.tuple(fc.constantFrom(...fields), hostile), { maxLength: 2 }),
      unique: fc.uuid(),
    }).map(({ name, changes, unique }): Json => {
      const body: JsonObject = { ...bases[name] };
      if (name === 'add' || name === 'remove') body['path'] = `p=1/${unique}.parquet`;
      if (name === 'txn') body['appId'] = unique;
      for (const [field, value] of changes) body[field] = value;
      return { [name]: body };
    });
    const countRowsSql = `SELECT (SELECT count(*) FROM deltameta.delta_commit WHERE table_id = $1)
      + (SELECT count(*) FROM deltameta.delta_add WHERE table_id = $1) + (SELECT count(*) FROM deltameta.delta_remove WHERE table_id = $1)
      + (SELECT count(*) FROM deltameta.delta_cdc WHERE table_id = $1) + (SELECT count(*) FROM deltameta.delta_txn WHERE table_id = $1)
      + (SELECT count(*) FROM deltameta.delta_domain_metadata WHERE table_id = $1) AS rows`;
    const table = await findTable(pool, 'limits');
    const rowsNow = async (): Promise<number> => Number((await pool.query<{ rows: string }>(countRowsSql, [table?.tableId])).rows[0]?.rows);
    let landed = 0;
    await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 4 }), async (values) => {
      const headBefore = (await findTable(pool, 'limits'))?.headVersion ?? -1;
      const rowsBefore = await rowsNow();
      try {
        // The CLI's path: each line parsed (shape and values), then committed.
        const actions = values.map((value, index) => parseActionObject(value, 'fuzz', index + 1));
        const result = await commit(pool, { table: 'limits', actions, source: 'fuzz' });
        landed++;
        expect(result.version).to.equal(headBefore + 1);
        const rowsPerAction = actions.filter((item) => ['add', 'remove', 'cdc', 'txn', 'domainMetadata'].includes(item.kind)).length;
        expect(await rowsNow()).to.equal(rowsBefore + 1 + rowsPerAction);
      } catch (error) {
        if (!(error instanceof LogFormatError || error instanceof BadRequestError || error instanceof CommitConflictError)) throw error;
        expect((await findTable(pool, 'limits'))?.headVersion).to.equal(headBefore);
        expect(await rowsNow()).to.equal(rowsBefore);
      }
    }), { numRuns: 150, seed: 10_13 });
    expect(landed, 'some fuzzed commits are valid and land').to.be.greaterThan(5);
  });
});
