/**
 * The reader's bounds under attack (issue 10, "bounded resources"): a
 * client that abandons its request frees its PostgreSQL connection at once
 * (the query is cancelled, not left to run); a query blocked past the
 * statement timeout fails instead of holding its connection; filter floods
 * and long query strings are refused with a 400 that names the limit; a
 * flood of distinct query strings keeps L1 and L2 within their budgets.
 */
import { expect } from 'chai';
import { inSnapshot, planInSnapshot, problemFor } from '../../services/reader/index.ts';
import { eventually } from '../support/wait.ts';
import { describeWithEnv } from '../support/env.ts';
import { useReaderFixture } from '../support/reader-fixture.ts';
import { snapshotOf } from '../support/tables.ts';

const table = 'limits_sales';

describeWithEnv('reader: bounded resources', (env) => {
  const fixture = useReaderFixture(env, table, 5);
  const { mv, launch, withFileIndexLocked } = fixture;

  it('answers a table far behind its log from the log tables, not by holding its whole tail in memory', async function () {
    // The table is materialized to version 3 of 5: the head is watermark + tail. With a tail bound of 1 action the
    // reader must answer from the log tables (streamed); the answer is the same list either way.
    const expected = (await snapshotOf(fixture.pool, table)).lines.join('\n');
    const bounded = await launch({ DELTAMETA_READER_MAX_TAIL_ACTIONS: '1', DELTAMETA_READER_L1: 'off', DELTAMETA_READER_L2: 'off' }, 'tail1:');
    const unbounded = await launch({ DELTAMETA_READER_L1: 'off', DELTAMETA_READER_L2: 'off' }, 'tailmax:');
    for (const running of [bounded, unbounded]) {
      const response = await fetch(`${running.base}/v1/tables/${table}/files`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('cache-status')).to.match(/l4/);
      expect((await response.text()).trimEnd()).to.equal(expected);
    }
    const { rows } = await fixture.pool.query<{ table_id: number; log_start_version: number }>('SELECT table_id, log_start_version FROM deltameta.delta_table WHERE name = $1', [table]);
    const ref = { tableId: rows[0]?.table_id ?? -1, name: table, logStartVersion: rows[0]?.log_start_version ?? 0, kind: 'owned' as const, location: null, published: false };
    const head = Number((await fixture.pool.query<{ head: number }>('SELECT max(version) AS head FROM deltameta.delta_commit WHERE table_id = $1', [ref.tableId])).rows[0]?.head);
    expect(head).to.be.greaterThan(mv);
    const plans = await inSnapshot(fixture.pool, async (client) => [
      await planInSnapshot(client, ref, head, true, 1),
      await planInSnapshot(client, ref, head, true, 1_000_000),
    ]);
    expect(plans.map((plan) => (plan.level === 'l4' ? plan.source : plan.level))).to.deep.equal(['log', 'tail']);
  });

  it('cancels the query of a request its client abandons and frees the connection at once', async function () {
    this.timeout(60_000);
    const { base, reader } = await launch({ DELTAMETA_READER_L2: 'off' }, 'abandon:');
    await withFileIndexLocked(async () => {
      const abandon = new AbortController();
      const request = fetch(`${base}/v1/tables/${table}/files?version=${mv}&partition.p=abandoned`, { signal: abandon.signal }).catch(() => undefined);
      await eventually('the reader query waiting on the lock', async () => (await fixture.busyReaderBackends()).some((row) => row.state === 'active'));
      abandon.abort();
      await request;
      // The lock is still held: only a cancel frees the backend before it is released.
      await eventually('no reader backend busy', async () => (await fixture.busyReaderBackends()).length === 0, 5000);
      await eventually('the connection back in the pool', () => reader.pool.totalCount === reader.pool.idleCount, 5000);
    });
  });

  it('fails a query blocked past the statement timeout instead of holding its connection', async function () {
    this.timeout(60_000);
    const { base, reader } = await launch({ DELTAMETA_READER_L2: 'off', DELTAMETA_READER_PG_STATEMENT_TIMEOUT_MS: '500' }, 'statement:');
    await withFileIndexLocked(async () => {
      const startedMs = Date.now();
      const response = await fetch(`${base}/v1/tables/${table}/files?version=${mv}&partition.p=blocked`, { signal: AbortSignal.timeout(20_000) });
      expect(response.status).to.be.greaterThanOrEqual(500);
      expect(Date.now() - startedMs, 'answered long before the lock went away').to.be.lessThan(15_000);
      await eventually('the connection back in the pool', () => reader.pool.totalCount === reader.pool.idleCount, 5000);
    });
  });

  it('answers 503 with Retry-After, not 500, when the statement timeout cancels a query or no connection frees up in time', async function () {
    this.timeout(60_000);
    const timedOut = await launch({ DELTAMETA_READER_L2: 'off', DELTAMETA_READER_PG_STATEMENT_TIMEOUT_MS: '500' }, 'unavailable-statement:');
    const starved = await launch({ DELTAMETA_READER_L2: 'off', DELTAMETA_READER_PG_POOL_MAX: '1', DELTAMETA_READER_PG_ACQUIRE_TIMEOUT_MS: '300' }, 'unavailable-acquire:');
    await withFileIndexLocked(async () => {
      const cancelled = await fetch(`${timedOut.base}/v1/tables/${table}/files?version=${mv}&partition.p=blocked`, { signal: AbortSignal.timeout(20_000) });
      expect(cancelled.status).to.equal(503);
      expect(cancelled.headers.get('retry-after')).to.match(/^\d+$/);
      expect(((await cancelled.json()) as { detail: string }).detail).to.include('statement timeout');

      // The only connection waits on the lock; the next request cannot get one within the acquire timeout.
      const holder = new AbortController();
      const holding = fetch(`${starved.base}/v1/tables/${table}/files?version=${mv}&partition.p=holder`, { signal: holder.signal }).catch(() => undefined);
      await eventually('the only connection busy', () => starved.reader.pool.totalCount === 1 && starved.reader.pool.idleCount === 0);
      const unavailable = await fetch(`${starved.base}/v1/tables/${table}/files?version=${mv}&partition.p=starved`, { signal: AbortSignal.timeout(20_000) });
      expect(unavailable.status).to.equal(503);
      expect(unavailable.headers.get('retry-after')).to.match(/^\d+$/);
      expect(((await unavailable.json()) as { detail: string }).detail).to.include('DELTAMETA_READER_PG_ACQUIRE_TIMEOUT_MS');
      holder.abort();
      await holding;
    });
    // Lock and idle-in-transaction timeouts are the same kind of answer.
    for (const code of ['57014', '55P03', '25P03']) {
      expect(problemFor(Object.assign(new Error('canceling statement'), { code, severity: 'ERROR' })).status, code).to.equal(503);
    }
  });
});
