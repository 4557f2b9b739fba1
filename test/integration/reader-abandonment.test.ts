/**
 * The abandonment watch (issue 12): it is entered only around work that can
 * reach PostgreSQL and switched off between (snapshot-scope.ts), so it must
 * still cancel an abandoned query after answers from L1 ran without it, on
 * every route that queries (a table's own routes and the table list).
 */
import { expect } from 'chai';
import { eventually } from '../support/wait.ts';
import { describeWithEnv } from '../support/env.ts';
import { useReaderFixture } from '../support/reader-fixture.ts';

const table = 'abandon_sales';

describeWithEnv('reader: abandoned requests', (env) => {
  const fixture = useReaderFixture(env, table, 11);
  const { mv, launch, withFileIndexLocked } = fixture;

  async function abandonWhileBlocked(route: string, reader: { pool: { totalCount: number; idleCount: number } }): Promise<void> {
    const abandon = new AbortController();
    const request = fetch(route, { signal: abandon.signal }).catch(() => undefined);
    await eventually(`the reader query of ${route} waiting on the lock`, async () => (await fixture.busyReaderBackends()).some((row) => row.state === 'active'));
    abandon.abort();
    await request;
    // The lock is still held: only a cancel frees the backend before it is released.
    await eventually(`no reader backend busy after ${route} was abandoned`, async () => (await fixture.busyReaderBackends()).length === 0, 5000);
    await eventually('the connection back in the pool', () => reader.pool.totalCount === reader.pool.idleCount, 5000).catch(async (error: unknown) => {
      const { rows } = await fixture.pool.query<{ state: string; query: string }>(`SELECT state, left(query, 80) AS query FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'deltameta-reader%'`);
      throw new Error(`${String(error)}; pool total ${reader.pool.totalCount}, idle ${reader.pool.idleCount}; reader backends: ${JSON.stringify(rows)}`);
    });
  }

  it('cancels abandoned queries again and again, between answers from L1 that run without the watch', async function () {
    this.timeout(60_000);
    const { base, reader } = await launch({ DELTAMETA_READER_L2: 'off' }, 'again:');
    const hot = `${base}/v1/tables/${table}?version=${mv}`;
    expect((await fetch(hot)).status).to.equal(200);
    for (const round of [1, 2]) {
      await withFileIndexLocked(async () => {
        // L1 answers while the lock is held: they must not wait on it, nor be watched.
        for (let i = 0; i < 20; i++) expect((await fetch(hot)).status, 'an L1 answer').to.equal(200);
        await abandonWhileBlocked(`${base}/v1/tables/${table}/files?version=${mv}&partition.p=round${round}`, reader);
        for (let i = 0; i < 20; i++) expect((await fetch(hot)).status, 'an L1 answer').to.equal(200);
      });
    }
  });

  it('cancels the summary query of an abandoned table list', async function () {
    this.timeout(60_000);
    // L1 and L2 off: the list reads every summary from PostgreSQL; the head (beyond the watermark) reads file_index.
    const { base, reader } = await launch({ DELTAMETA_READER_L1: 'off', DELTAMETA_READER_L2: 'off' }, 'list:');
    await withFileIndexLocked(() => abandonWhileBlocked(`${base}/v1/tables`, reader));
  });
});
