/**
 * delta.setTransactionRetentionDuration: a snapshot from PostgreSQL (the
 * table header, and the checkpoints export writes from it) leaves out txns
 * last updated before the retention, measured from the version's time; a
 * retention that cannot be read is refused at commit, nothing written.
 */
import { expect } from 'chai';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { readParquetActions, type Action } from '../../shared/delta/index.ts';
import { LogFormatError } from '../../shared/errors/index.ts';
import { commit, exportTable, findTable, tableHeader } from '../../shared/log-store/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

const day = 86_400_000;
const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const create = (configuration: Record<string, string>): Action[] => [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'retention', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration } },
];
const txnAppend = (appId: string, lastUpdated: number, file: string): Action[] => [
  { kind: 'txn', txn: { appId, version: 1, lastUpdated } },
  { kind: 'add', add: { path: file, partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } },
];

describeWithEnv('transaction retention', (env) => {
  let pool: Pool;
  const dirs = new TempDirs();

  before(() => {
    pool = env.pool();
  });

  after(async () => {
    await pool.end();
    dirs.removeAll();
  });

  it('leaves expired txns out of the snapshot and the checkpoints export writes', async function () {
    this.timeout(30_000);
    await commit(pool, { table: 'retained', readVersion: -1, actions: create({ 'delta.setTransactionRetentionDuration': 'interval 1 days' }) });
    const now = Date.now();
    await commit(pool, { table: 'retained', actions: txnAppend('stale-writer', now - 3 * day, 'a.parquet') });
    await commit(pool, { table: 'retained', actions: txnAppend('live-writer', now, 'b.parquet') });
    const table = await findTable(pool, 'retained');
    if (!table) throw new Error('no table');
    const client = await pool.connect();
    try {
      expect((await tableHeader(client, table.tableId, 2)).txns.map((txn) => txn.appId)).to.deep.equal(['live-writer']);
    } finally {
      client.release();
    }
    const dir = dirs.make('retention-export');
    const exported = await exportTable(pool, 'retained', dir, { checkpointInterval: 2 });
    expect(exported.checkpoints).to.include(2);
    const txns: string[] = [];
    for await (const action of readParquetActions(path.join(dir, '_delta_log', '00000000000000000002.checkpoint.parquet'))) {
      if (action.kind === 'txn') txns.push(action.txn.appId);
    }
    expect(txns).to.deep.equal(['live-writer']);
  });

  it('refuses a retention it cannot read at commit, naming the property; nothing written', async function () {
    const error = await commit(pool, { table: 'bad_retention', readVersion: -1, actions: create({ 'delta.setTransactionRetentionDuration': 'a while' }) })
      .then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(LogFormatError);
    expect((error as Error).message).to.contain('delta.setTransactionRetentionDuration');
    expect(await findTable(pool, 'bad_retention')).to.equal(undefined);
  });
});
