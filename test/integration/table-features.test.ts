/**
 * Table features at import and replay: a log whose protocol names a reader
 * feature deltameta does not support is refused, naming it, with nothing
 * written; a valid protocol with features imports; a protocol that drops a
 * feature, or metadata that turns one on without the protocol, is refused.
 * And tables delta-rs 1.6 writes with the features it supports (deletion
 * vectors, change data feed, column mapping, append-only, a legacy → table
 * features upgrade) import, with the protocol delta-rs reads.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, replay, type JsonObject, type MetadataAction } from '../../shared/delta/index.ts';
import { LogFormatError, UnsupportedFeatureError } from '../../shared/errors/index.ts';
import { commit, findTable, importTable } from '../../shared/log-store/index.ts';
import { deltaRsState, ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { pathsOf, replayLines, snapshotOf, TempDirs } from '../support/tables.ts';

const tableId = '33333333-3333-4333-8333-333333333333';
const mappedSchema = JSON.stringify({
  type: 'struct',
  fields: [
    { name: 'id', type: 'long', nullable: true, metadata: { 'delta.columnMapping.id': 1, 'delta.columnMapping.physicalName': 'col-a1' } },
    { name: 'country', type: 'string', nullable: true, metadata: { 'delta.columnMapping.id': 2, 'delta.columnMapping.physicalName': 'col-b2' } },
  ],
});
const plainSchema = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: true, metadata: {} }] });

function metaData(configuration: Record<string, string>, schemaString = plainSchema, partitionColumns: string[] = []): JsonObject {
  return { metaData: { id: tableId, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns, configuration, createdTime: 1_700_000_000_000 } };
}

function add(name: string, extra: JsonObject = {}): JsonObject {
  return { add: { path: `${name}.parquet`, partitionValues: {}, size: 10, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":4}', ...extra } };
}

/** Writes one commit file per version; each version is a list of action lines. */
function writeLog(dir: string, versions: readonly (readonly JsonObject[])[]): void {
  const logDir = path.join(dir, '_delta_log');
  mkdirSync(logDir, { recursive: true });
  versions.forEach((lines, version) => {
    writeFileSync(path.join(logDir, commitFileName(version)), `${[{ commitInfo: { operation: 'WRITE' } }, ...lines].map((line) => JSON.stringify(line)).join('\n')}\n`);
  });
}

async function refusal(work: Promise<unknown>): Promise<Error> {
  const error = await work.then(() => undefined, (caught: unknown) => caught);
  expect(error, 'expected a refusal').to.be.instanceOf(Error);
  expect((error as { code?: string }).code, String(error)).to.equal('BAD_INPUT');
  return error as Error;
}

const sorted = (names: readonly string[] | null | undefined): string[] | null => (names ? [...names].sort() : null);

describeWithEnv('table features at import', (env) => {
  let pool: Pool;
  const dirs = new TempDirs();
  before(() => {
    pool = env.pool(4);
  });
  after(async () => {
    dirs.removeAll();
    await pool.end();
  });

  it('refuses a table with an unsupported reader feature, naming it, and writes nothing', async () => {
    const dir = dirs.make('unsupported-reader');
    writeLog(dir, [
      [{ protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['catalogManaged'], writerFeatures: ['catalogManaged', 'inCommitTimestamp'] } }, metaData({})],
      [add('a')],
    ]);
    for (const history of [false, true]) {
      const error = await refusal(importTable(pool, dir, 'unsupported_reader', { history }));
      expect(error).to.be.instanceOf(UnsupportedFeatureError);
      expect(error.message).to.contain('catalogManaged').and.contain('00000000000000000000.json');
      expect(await findTable(pool, 'unsupported_reader')).to.equal(undefined);
    }
    expect((await refusal(replay(dir))).message).to.contain('catalogManaged');
  });

  it('refuses an unknown reader feature and a reader version above 3 by name', async () => {
    const unknown = dirs.make('unknown-reader');
    writeLog(unknown, [[{ protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['teleportation'], writerFeatures: ['teleportation'] } }, metaData({})]]);
    expect((await refusal(importTable(pool, unknown, 'unknown_reader'))).message).to.contain('teleportation');
    const future = dirs.make('future-reader');
    writeLog(future, [[{ protocol: { minReaderVersion: 4, minWriterVersion: 7 } }, metaData({})]]);
    expect((await refusal(importTable(pool, future, 'future_reader'))).message).to.contain('minReaderVersion 4');
    expect(await findTable(pool, 'unknown_reader')).to.equal(undefined);
    expect(await findTable(pool, 'future_reader')).to.equal(undefined);
  });

  it('imports reader 3 / writer 7 with deletionVectors and columnMapping, snapshot equal to replay', async () => {
    const dir = dirs.make('features');
    const dv = { storageType: 'u', pathOrInlineDv: 'ab^-aqEH.-t@S}K{vb[*k^', offset: 1, sizeInBytes: 40, cardinality: 2 };
    writeLog(dir, [
      [
        // metaData before protocol: a version's actions are a set
        metaData({ 'delta.columnMapping.mode': 'name', 'delta.enableDeletionVectors': 'true' }, mappedSchema, ['country']),
        { protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['columnMapping', 'deletionVectors'], writerFeatures: ['columnMapping', 'deletionVectors'] } },
      ],
      [add('a', { partitionValues: { 'col-b2': 'US' } }), add('b', { partitionValues: { 'col-b2': 'FR' } })],
      [{ remove: { path: 'a.parquet', dataChange: true, partitionValues: { 'col-b2': 'US' } } }, add('a', { partitionValues: { 'col-b2': 'US' }, deletionVector: dv })],
    ]);
    const result = await importTable(pool, dir, 'with_features', { history: true });
    expect(result.toVersion).to.equal(2);
    const snapshot = await snapshotOf(pool, 'with_features');
    expect(snapshot.lines).to.deep.equal(await replayLines(dir));
    expect(pathsOf(snapshot.lines)).to.deep.equal(['a.parquet', 'b.parquet']);
  });

  it('refuses a protocol downgrade (a dropped feature), naming file, line and feature, and writes nothing', async () => {
    const dir = dirs.make('downgrade');
    writeLog(dir, [
      [{ protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors', 'changeDataFeed'] } }, metaData({})],
      [add('a')],
      [{ protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] } }],
    ]);
    const error = await refusal(importTable(pool, dir, 'downgraded', { history: true }));
    expect(error).to.be.instanceOf(LogFormatError);
    expect(error.message).to.contain('00000000000000000002.json:2').and.contain('changeDataFeed');
    expect(await findTable(pool, 'downgraded')).to.equal(undefined);
    expect((await refusal(replay(dir))).message).to.contain('changeDataFeed');
  });

  it('refuses metadata that turns a feature on without the protocol supporting it', async () => {
    const dir = dirs.make('metadata-without-feature');
    writeLog(dir, [
      [{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, metaData({})],
      [metaData({ 'delta.constraints.positive': 'id > 0' })],
    ]);
    const error = await refusal(importTable(pool, dir, 'no_constraints_feature', { history: true }));
    expect(error.message).to.contain('00000000000000000001.json:2').and.contain('checkConstraints');
    expect(await findTable(pool, 'no_constraints_feature')).to.equal(undefined);
  });

  it('imports writer-only properties without their features as inert (as delta-rs and Spark read them)', async () => {
    const dir = dirs.make('inert-properties');
    writeLog(dir, [
      [{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, metaData({})],
      [metaData({ 'delta.enableDeletionVectors': 'true', 'delta.enableInCommitTimestamps': 'true' })],
    ]);
    const result = await importTable(pool, dir, 'inert_properties', { history: true });
    expect(result.toVersion).to.equal(1);
    // No in-commit timestamps without the feature: versions keep their file times, and replay agrees.
    expect((await replay(dir)).version).to.equal(1);
    // The stored, inert properties do not refuse later commits, and no in-commit timestamp is written for them.
    const appended = await commit(pool, {
      table: 'inert_properties',
      actions: [{ kind: 'commitInfo', commitInfo: { operation: 'WRITE' } }, { kind: 'add', add: { path: 'appended.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } }],
    });
    expect(appended.version).to.equal(2);
    const { rows } = await pool.query<{ commit_info: Record<string, unknown> | null }>(
      `SELECT commit_info FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'inert_properties' AND c.version = 2`,
    );
    expect(rows[0]?.commit_info).to.not.have.property('inCommitTimestamp');
    // New metadata using a feature the protocol lacks is still refused at commit.
    const refused = await refusal(commit(pool, { table: 'inert_properties', readVersion: 2, actions: [{ kind: 'metaData', metaData: metaData({ 'delta.enableDeletionVectors': 'true' })['metaData'] as unknown as MetadataAction }] }));
    expect(refused.message).to.contain('deletionVectors');
  });

  describe('tables written by delta-rs', function () {
    this.timeout(180_000);
    const script = `
import sys, shutil
import pyarrow as pa
from deltalake import write_deltalake, DeltaTable
from deltalake.table import TableFeatures
root = sys.argv[1]
data = pa.table({'id': pa.array([1, 2, 3, 4], pa.int64()), 'country': pa.array(['US', 'FR', 'US', 'DE'])})
def table(name, **kwargs):
    path = f'{root}/{name}'
    write_deltalake(path, data, **kwargs)
    write_deltalake(path, data, mode='append')
    return path
table('deletion_vectors', configuration={'delta.enableDeletionVectors': 'true'})
DeltaTable(f'{root}/deletion_vectors').delete("id = 2")
table('change_data_feed', configuration={'delta.enableChangeDataFeed': 'true'})
DeltaTable(f'{root}/change_data_feed').delete("id = 2")
table('column_mapping', configuration={'delta.columnMapping.mode': 'name'}, partition_by=['country'])
table('append_only', configuration={'delta.appendOnly': 'true'})
upgraded = table('upgraded')
DeltaTable(upgraded).alter.add_feature(TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
write_deltalake(upgraded, data, mode='append')
DeltaTable(upgraded).create_checkpoint()
write_deltalake(upgraded, data, mode='append')
`;
    const kinds = ['deletion_vectors', 'change_data_feed', 'column_mapping', 'append_only', 'upgraded'] as const;
    let root: string;

    before(async () => {
      root = dirs.make('deltars-features');
      const python = await ensureDeltaRs();
      await promisify(execFile)(python, ['-c', script, root]);
    });

    for (const kind of kinds) {
      it(`imports ${kind}: snapshot equals replay and delta-rs's files, protocol as delta-rs reads it`, async () => {
        const dir = path.join(root, kind);
        const name = `deltars_${kind}`;
        await importTable(pool, dir, name, { history: true });
        const snapshot = await snapshotOf(pool, name);
        expect(snapshot.lines).to.deep.equal(await replayLines(dir));
        const reference = await deltaRsState(dir);
        expect(pathsOf(snapshot.lines)).to.deep.equal(reference.files.map((file) => file.path).sort());
        const { protocol } = await replay(dir);
        expect({
          minReaderVersion: protocol?.minReaderVersion, minWriterVersion: protocol?.minWriterVersion,
          readerFeatures: sorted(protocol?.readerFeatures), writerFeatures: sorted(protocol?.writerFeatures),
        }).to.deep.equal({ ...reference.protocol, readerFeatures: sorted(reference.protocol.readerFeatures), writerFeatures: sorted(reference.protocol.writerFeatures) });
      });
    }
  });
});
