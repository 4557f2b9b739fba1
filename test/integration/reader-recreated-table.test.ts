/**
 * A table dropped and created again under its name restarts at version 0.
 * Cached answers are keyed by (table, version): without the table's id in
 * the key, the new table's version 0 was answered from the old one's entry
 * (L1, L2 and 304s alike) — a wrong snapshot; and the reader kept the old
 * table's row (its id) and head for a while after the drop.
 */
import { expect } from 'chai';
import { loadReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { HeadPointers } from '../../shared/contracts/index.ts';
import { commit, dropTable } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

const table = 'reborn';

function created(metadataId: string, column: string): Action[] {
  const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: column, type: 'long', nullable: false, metadata: {} }] });
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { kind: 'metaData', metaData: { id: metadataId, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
    { kind: 'add', add: { path: `${column}.parquet`, partitionValues: {}, size: 10, modificationTime: 1_700_000_000_000, dataChange: true } },
  ];
}

describeWithEnv('reader: a table created again under its name', (env) => {
  let pool: Pool;
  let reader: Reader;
  let base: string;
  const redis = env.redis();

  before(async function () {
    pool = env.pool(2);
    reader = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }),
      defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix,
      logger: createLogger('reader-recreated-test', 'silent'), metrics: readerMetrics(createRegistry('reader-recreated-test')),
    });
    await reader.start();
    base = `http://127.0.0.1:${reader.port}`;
  });

  after(async function () {
    await reader.stop();
    redis.disconnect();
    await pool.end();
  });

  it('never answers the new table from the old one\'s cached entries', async function () {
    await commit(pool, { table, actions: created('first-table', 'old_column') });
    await commit(pool, { table, actions: [{ kind: 'add', add: { path: 'more.parquet', partitionValues: {}, size: 5, modificationTime: 1_700_000_000_000, dataChange: true } }] });
    expect(((await (await fetch(`${base}/v1/tables/${table}`)).json()) as { version: number }).version).to.equal(1);
    const first = await fetch(`${base}/v1/tables/${table}?version=0`);
    const firstEtag = first.headers.get('etag');
    expect(JSON.stringify(await first.json())).to.contain('old_column');
    expect(await (await fetch(`${base}/v1/tables/${table}/files?version=0`)).text()).to.contain('old_column.parquet');

    const dropped = await dropTable(pool, table);
    // What `deltameta drop` and the invalidator (on the drop event) do: the head goes, readers are told.
    await new HeadPointers(redis, env.keyPrefix).forget(table, dropped.tableId);
    await commit(pool, { table, actions: created('second-table', 'new_column') });

    const again = await eventually('the new table answered', async () => {
      const response = await fetch(`${base}/v1/tables/${table}?version=0`);
      const text = await response.text();
      return text.includes('new_column') ? { response, text } : undefined;
    }, 5_000);
    expect(again.text, 'the summary of the new table').to.not.contain('old_column');
    const latest = await (await fetch(`${base}/v1/tables/${table}`)).json() as { version: number };
    expect(latest.version, 'latest is the new table\'s head, not the old one\'s').to.equal(0);
    expect(again.response.headers.get('etag')).to.not.equal(firstEtag);
    const files = await (await fetch(`${base}/v1/tables/${table}/files?version=0`)).text();
    expect(files, 'the files of the new table').to.contain('new_column.parquet').and.not.contain('old_column.parquet');
    const revalidated = await fetch(`${base}/v1/tables/${table}?version=0`, { headers: { 'if-none-match': firstEtag ?? '' } });
    expect(revalidated.status, 'the old table\'s ETag does not match the new table').to.equal(200);
  });
});
