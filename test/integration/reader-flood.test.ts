/**
 * Floods against the reader (issue 10, "bounded resources"): filter floods
 * and long query strings are refused with a 400 naming the limit before any
 * PostgreSQL query runs; a page or a non-selective filter whose body would
 * exceed the stream threshold is refused rather than assembled in memory;
 * a flood of distinct query strings keeps L1 and the reader's L2 keys
 * within their byte budgets.
 */
import { expect } from 'chai';
import { L2WriteBudget } from '../../services/reader/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { useReaderFixture } from '../support/reader-fixture.ts';

const table = 'flood_sales';

interface Problem {
  readonly status: number;
  readonly detail: string;
}

describe('reader: the L2 write budget', () => {
  it('refuses writes beyond the budget and frees what has expired, a slot at a time', () => {
    let nowMs = 1_000_000;
    const budget = new L2WriteBudget({ budgetBytes: 1000, lifetimeMs: 60_000, now: () => nowMs });
    expect(budget.tryCharge(600)).to.equal(true);
    nowMs += 30_000;
    expect(budget.tryCharge(300)).to.equal(true);
    expect(budget.tryCharge(200), 'beyond the budget').to.equal(false);
    expect(budget.bytes).to.equal(900);
    // The first write may live until its slot's end plus the lifetime; not a moment less.
    nowMs = 1_000_000 + 60_000;
    expect(budget.tryCharge(200)).to.equal(false);
    nowMs = 1_000_000 + 1000 + 60_000;
    expect(budget.bytes).to.equal(300);
    expect(budget.tryCharge(700)).to.equal(true);
    nowMs += 120_000;
    expect(budget.bytes).to.equal(0);
  });
});

describeWithEnv('reader: floods', (env) => {
  const fixture = useReaderFixture(env, table, 7);
  const { mv, launch, withFileIndexLocked } = fixture;
  const busyReaderBackends = async (): Promise<string[]> => (await fixture.busyReaderBackends()).map((row) => row.query);

  async function refusedQuickly(url: string): Promise<{ status: number; problem: Problem | undefined }> {
    const startedMs = Date.now();
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    expect(Date.now() - startedMs, 'refused at once').to.be.lessThan(2000);
    expect(await busyReaderBackends(), 'no reader query running').to.deep.equal([]);
    return { status: response.status, problem: response.headers.get('content-type')?.includes('problem+json') ? JSON.parse(text) as Problem : undefined };
  }

  it('refuses more filters than DELTAMETA_READER_MAX_FILTERS with a 400 naming the limit, before any query', async function () {
    this.timeout(60_000);
    const { base } = await launch({ DELTAMETA_READER_L2: 'off', DELTAMETA_READER_MAX_QUERY_BYTES: '16000' }, 'filters:');
    const filters = (count: number): string => Array.from({ length: count }, (_, i) => `partition.date=d${i}`).join('&');
    await withFileIndexLocked(async () => {
      for (const count of [33, 700]) {
        const { status, problem } = await refusedQuickly(`${base}/v1/tables/${table}/files?version=${mv}&${filters(count)}`);
        expect(status, `${count} filters`).to.equal(400);
        expect(problem?.detail).to.include('at most 32').and.include('DELTAMETA_READER_MAX_FILTERS');
      }
    });
    // At the limit the request is answered.
    const atLimit = await fetch(`${base}/v1/tables/${table}/files?version=${mv}&${filters(32)}`);
    expect(atLimit.status).to.equal(200);
  });

  it('refuses a query string longer than DELTAMETA_READER_MAX_QUERY_BYTES with a 400 naming the limit, before any query', async function () {
    this.timeout(60_000);
    const { base } = await launch({ DELTAMETA_READER_L2: 'off' }, 'query-bytes:');
    await withFileIndexLocked(async () => {
      for (const route of ['/files', '', '/commits']) {
        const { status, problem } = await refusedQuickly(`${base}/v1/tables/${table}${route}?version=${mv}&partition.date=${'x'.repeat(12_000)}`);
        expect(status, `route ${route || '/'}`).to.equal(400);
        expect(problem?.detail).to.include('8192 bytes').and.include('DELTAMETA_READER_MAX_QUERY_BYTES');
      }
      // Floods beyond Node's header limit (16 KiB) never reach the reader: 431, at once.
      const tenThousandFilters = Array.from({ length: 10_000 }, (_, i) => `stats.id.gte=${i}`).join('&');
      for (const query of [tenThousandFilters, `partition.date=${'y'.repeat(1024 * 1024)}`]) {
        const { status } = await refusedQuickly(`${base}/v1/tables/${table}/files?${query}`);
        expect([400, 431]).to.include(status);
      }
    });
  });

  it('bounds paged and filtered answers by the stream threshold: pages end early, larger unpaged lists are refused, nothing is assembled whole', async function () {
    this.timeout(60_000);
    const bound = 4096;
    const { base } = await launch({ DELTAMETA_READER_L1: 'off', DELTAMETA_READER_L2: 'off', DELTAMETA_READER_STREAM_ABOVE_BYTES: String(bound) }, 'page-bound:');
    for (const version of [mv, mv + 1]) {
      const whole = await fetch(`${base}/v1/tables/${table}/files?version=${version}`);
      expect(whole.status).to.equal(200);
      expect(whole.headers.get('server-timing'), 'the whole list is streamed').to.include('streamed');
      const expected = await whole.text();
      expect(expected.length).to.be.greaterThan(10 * bound);

      // A page asked far bigger than the bound ends at it, with a token for the rest: paging through gives the whole list.
      for (const pageSize of ['300', '10000000']) {
        let collected = '';
        let pages = 0;
        for (let token: string | null = null; ;) {
          const response: Response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&pageSize=${pageSize}${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`, { headers: { 'accept-encoding': 'identity' } });
          const body = await response.text();
          expect(response.status, body.slice(0, 200)).to.equal(200);
          expect(Buffer.byteLength(body), 'a page within the bound').to.be.at.most(bound);
          collected += body;
          pages++;
          token = response.headers.get('next-page-token');
          if (!token) break;
        }
        expect(pages).to.be.greaterThan(5);
        expect(collected, `pageSize=${pageSize} at ${version}`).to.equal(expected);
      }

      // A filter that keeps (nearly) everything, without pageSize: refused with the limit and what to do.
      for (const query of ['stats.id.gte=-1000000000000', 'stats.id.lte=1000000000000&stats.id.gte=-5']) {
        const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&${query}`);
        const text = await response.text();
        expect(response.status, `${query} at ${version}: ${text.slice(0, 200)}`).to.equal(400);
        expect((JSON.parse(text) as Problem).detail).to.include(`${bound} bytes`).and.include('DELTAMETA_READER_STREAM_ABOVE_BYTES').and.include('use pageSize or a narrower filter');
      }
      // A selective one is answered.
      expect((await fetch(`${base}/v1/tables/${table}/files?version=${version}&stats.id.gte=1000000000000`)).status).to.equal(200);
    }
    // /commits with every action of the history: the same bound; without actions the page is small.
    const commits = await fetch(`${base}/v1/tables/${table}/commits?from=0&actions=true`);
    expect(commits.status).to.equal(400);
    expect(((await commits.json()) as Problem).detail).to.include(`${bound} bytes`).and.include('use a smaller limit');
    expect((await fetch(`${base}/v1/tables/${table}/commits?from=0`)).status).to.equal(200);
  });

  it('keeps L1 and the L2 bytes written by the reader within their budgets under a flood of distinct query strings', async function () {
    this.timeout(120_000);
    const budget = 64 * 1024;
    const { base, reader, redis, prefix } = await launch({
      DELTAMETA_READER_L1_MAX_BYTES: String(budget), DELTAMETA_READER_L2_WRITE_BUDGET_BYTES: String(budget),
    }, 'budget:');
    const queries = [
      ...Array.from({ length: 150 }, (_, i) => `pageSize=${i + 1}`),
      ...Array.from({ length: 100 }, (_, i) => `stats.id.gte=${i * 3}&pageSize=40`),
    ];
    for (const query of queries) {
      const response = await fetch(`${base}/v1/tables/${table}/files?version=${mv}&${query}`);
      expect(response.status, query).to.equal(200);
      await response.arrayBuffer();
      expect(reader.cache.l1Bytes, 'L1 within its budget').to.be.at.most(budget);
    }
    let redisBytes = 0;
    let keys = 0;
    for (let cursor = '0'; ;) {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}reader:*`, 'COUNT', 1000);
      for (const key of found) {
        redisBytes += (await redis.memory('USAGE', key)) ?? 0;
        keys++;
      }
      cursor = next;
      if (cursor === '0') break;
    }
    expect(keys, 'some answers were cached in L2').to.be.greaterThan(0);
    expect(redisBytes, `Redis memory of the reader's ${keys} keys`).to.be.at.most(budget);
    expect(reader.cache.l2Bytes, 'what the reader counts').to.be.at.least(redisBytes).and.at.most(budget);
  });
});
