/**
 * The reader's /v1 API in-process against a generated table (partitions,
 * deletion vectors, checkpoints) imported with its history and refreshed to
 * a watermark below the head: every endpoint at random versions equals
 * file-based replay of the version it reports, through L3 and L4, and with
 * each cache level switched off; filters and paging agree between the SQL
 * (L3) and in-memory (L4) paths; errors, ETag/304, Cache-Status,
 * compression, coalescing and L1's byte budget; bearer tokens; the
 * read-only role.
 */
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import type { Pool } from '../../shared/db/index.ts';
import { createPool } from '../../shared/db/index.ts';
import { generateTable, replay, type AddAction, type TableState } from '../../shared/delta/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { commit, importTable } from '../../shared/log-store/index.ts';
import { createRegistry, type Registry } from '../../shared/metrics/index.ts';
import { refreshFilePages, refreshTable } from '../../shared/materialized/index.ts';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { readerMetrics } from '../../shared/metrics/index.ts';
import { AccessControl, Reader, hashToken, streamWholeListIfLarge } from '../../services/reader/index.ts';
import { eventually } from '../support/wait.ts';
import { describeWithEnv, type TestEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

const table = 'gen_sales';
const logger = createLogger('reader-test', 'silent');

interface RunningReader {
  readonly reader: Reader;
  readonly registry: Registry;
  readonly base: string;
}

async function startReader(env: TestEnv, overrides: Record<string, string> = {}, access?: AccessControl, keySuffix = ''): Promise<RunningReader & { stop: () => Promise<void> }> {
  const registry = createRegistry('reader-test');
  const redis = env.redis();
  const reader = new Reader({
    config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', ...overrides }),
    defaultPostgresUrl: env.readerUrl, redis, redisPrefix: `${env.keyPrefix}${keySuffix}`, logger, metrics: readerMetrics(registry),
    ...(access ? { access } : {}),
  });
  await reader.start();
  return {
    reader, registry, base: `http://127.0.0.1:${reader.port}`,
    stop: async () => {
      await reader.stop();
      redis.disconnect();
    },
  };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>;
  return values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + v.value, 0);
}

function recordsOf(add: AddAction): number {
  const stats = typeof add.stats === 'string' ? (JSON.parse(add.stats) as { numRecords?: number }) : {};
  return stats.numRecords ?? 0;
}

function expectSummaryEqualsReplay(summary: Record<string, unknown>, state: TableState): void {
  const files = [...state.files.values()];
  expect(summary['version']).to.equal(state.version);
  expect(summary['numFiles']).to.equal(files.length);
  expect(summary['sizeBytes']).to.equal(files.reduce((sum, add) => sum + add.size, 0));
  expect(summary['numRecords']).to.equal(files.reduce((sum, add) => sum + recordsOf(add), 0));
  expect(summary['metadata']).to.deep.equal(JSON.parse(JSON.stringify(state.metadata ?? null)));
  expect(summary['protocol']).to.deep.equal(JSON.parse(JSON.stringify(state.protocol ?? null)));
}

function ndjsonOf(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}

describeWithEnv('reader: /v1 API', (env) => {
  const dirs = new TempDirs();
  let dir: string;
  let pool: Pool;
  let head: number;
  const mv = 7;
  const pagesFrom = 4;
  const states = new Map<number, TableState>();
  const started: Array<{ stop: () => Promise<void> }> = [];

  async function replayAt(version: number): Promise<TableState> {
    let state = states.get(version);
    if (!state) states.set(version, (state = await replay(dir, { version })));
    return state;
  }

  async function launch(overrides: Record<string, string> = {}, access?: AccessControl, keySuffix = ''): Promise<RunningReader> {
    const running = await startReader(env, overrides, access, keySuffix);
    started.push(running);
    return running;
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(4);
    dir = dirs.make('reader');
    await generateTable(dir, { files: 400, commits: 14, partitions: 5, checkpointInterval: 5, seed: 11 });
    await importTable(pool, dir, table, { history: true });
    head = (await replay(dir)).version;
    // File pages answer versions pagesFrom..mv (built at pagesFrom, kept up version by version); file_index 0..mv.
    await refreshTable(pool, table, { upToVersion: pagesFrom });
    await refreshFilePages(pool, table, { targetBytes: 16 * 1024 });
    await refreshTable(pool, table, { upToVersion: mv });
    await refreshFilePages(pool, table, { targetBytes: 16 * 1024 });
    expect(head).to.be.greaterThan(mv + 2);
  });

  after(async function () {
    this.timeout(30_000);
    for (const running of started.splice(0)) await running.stop();
    await pool.end();
    dirs.removeAll();
  });

  const variants: Array<[string, Record<string, string>]> = [
    ['all levels', {}],
    ['L1 off', { DELTAMETA_READER_L1: 'off' }],
    ['L2 off', { DELTAMETA_READER_L2: 'off' }],
    ['L3 off', { DELTAMETA_READER_L3: 'off' }],
    ['file pages off', { DELTAMETA_READER_FILE_PAGES: 'off' }],
    ['every level off', { DELTAMETA_READER_L1: 'off', DELTAMETA_READER_L2: 'off', DELTAMETA_READER_L3: 'off' }],
  ];

  for (const [label, overrides] of variants) {
    it(`answers every endpoint at random versions equal to replay (${label})`, async function () {
      this.timeout(120_000);
      const { base } = await launch({ ...overrides, DELTAMETA_READER_COMPRESS_MIN_BYTES: '4096' }, undefined, `${label.replace(/ /g, '-')}:`);
      let seed = label.length * 7919;
      const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
      const versions = new Set([0, mv - 1, mv, mv + 1, head, random(head + 1), random(head + 1)]);
      for (const version of versions) {
        const state = await replayAt(version);
        for (const round of [1, 2]) {
          const summaryResponse = await fetch(`${base}/v1/tables/${table}?version=${version}`);
          expect(summaryResponse.status).to.equal(200);
          expect(summaryResponse.headers.get('delta-table-version')).to.equal(String(version));
          expectSummaryEqualsReplay((await summaryResponse.json()) as Record<string, unknown>, state);

          const filesResponse = await fetch(`${base}/v1/tables/${table}/files?version=${version}`);
          expect(filesResponse.status).to.equal(200);
          expect(filesResponse.headers.get('content-type')).to.contain('application/x-ndjson');
          expect(await filesResponse.text(), `files at ${version}, round ${round}`).to.equal(ndjsonOf(state.liveLines()));
          const status = filesResponse.headers.get('cache-status') ?? '';
          if (round === 1 || overrides['DELTAMETA_READER_L1'] === 'off') {
            const expected = overrides['DELTAMETA_READER_L3'] === 'off' || version > mv ? 'l4' : 'l3';
            if (round === 1 || overrides['DELTAMETA_READER_L2'] === 'off') {
              expect(status).to.match(new RegExp(`detail=${expected}$`));
              const pages = expected === 'l3' && version >= pagesFrom && overrides['DELTAMETA_READER_FILE_PAGES'] !== 'off';
              expect(filesResponse.headers.get('server-timing'), `files at ${version}: from file pages`).to.contain(pages ? 'desc="file pages"' : `desc="${expected}"`);
            }
          } else {
            expect(status).to.equal('deltameta; hit; detail=l1');
          }

          const commits = await fetch(`${base}/v1/tables/${table}/commits?from=0&to=${version}`);
          const lines = (await commits.text()).trim().split('\n').map((line) => JSON.parse(line) as { version: number; operation: string });
          expect(lines.map((line) => line.version)).to.deep.equal(Array.from({ length: version + 1 }, (_, i) => i));
        }
      }
      // latest = head (no pipeline: the head comes from PostgreSQL), by timestamp too
      const latest = await fetch(`${base}/v1/tables/${table}`);
      expect(latest.headers.get('delta-table-version')).to.equal(String(head));
      expectSummaryEqualsReplay((await latest.json()) as Record<string, unknown>, await replayAt(head));
      const { rows } = await pool.query<{ timestamp_ms: number }>(
        'SELECT timestamp_ms FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1 AND c.version = $2', [table, mv + 1],
      );
      const at = new Date((rows[0]?.timestamp_ms ?? 0) + 0).toISOString();
      const byTime = await fetch(`${base}/v1/tables/${table}/files?timestamp=${encodeURIComponent(at)}`);
      expect(byTime.headers.get('delta-table-version')).to.equal(String(mv + 1));
      expect(await byTime.text()).to.equal(ndjsonOf((await replayAt(mv + 1)).liveLines()));
    });
  }

  it('filters and pages files the same through SQL (L3) and in memory (L4)', async function () {
    this.timeout(60_000);
    const { base } = await launch();
    const all = [...(await replayAt(mv)).files.values()];
    const date = all.map((add) => add.partitionValues['date']).find((value) => typeof value === 'string') ?? '';
    const idStats = all.map((add) => (JSON.parse(add.stats ?? '{}') as { minValues?: { id?: number } }).minValues?.id ?? 0).sort((a, b) => a - b);
    const middle = idStats[Math.floor(idStats.length / 2)] ?? 0;
    // Each filter's meaning written out here, independently of the reader's own matcher (file-filters.ts):
    // a partition value equals (empty = null); gte prunes on maxValues, lte on minValues; no statistic keeps the file.
    type Stats = { minValues?: Record<string, unknown>; maxValues?: Record<string, unknown> };
    const statsOf = (add: AddAction): Stats => (typeof add.stats === 'string' ? (JSON.parse(add.stats) as Stats) : {});
    const atLeast = (value: unknown, bound: number | string): boolean => value === undefined || value === null || (value as number | string) >= bound;
    const atMost = (value: unknown, bound: number | string): boolean => value === undefined || value === null || (value as number | string) <= bound;
    const dateOf = (add: AddAction): string | null => add.partitionValues['date'] || null;
    const queries: Array<[string, (add: AddAction) => boolean]> = [
      [`partition.date=${encodeURIComponent(date)}`, (add) => dateOf(add) === date],
      [`stats.id.gte=${middle}`, (add) => atLeast(statsOf(add).maxValues?.['id'], middle)],
      [`stats.id.lte=${middle}&stats.category.gte=c20`, (add) => atMost(statsOf(add).minValues?.['id'], middle) && atLeast(statsOf(add).maxValues?.['category'], 'c20')],
      [`partition.date=${encodeURIComponent(date)}&stats.event_time.lte=2030-01-01T00:00:00Z`, (add) => dateOf(add) === date && atMost(statsOf(add).minValues?.['event_time'], '2030-01-01T00:00:00Z')],
      ['partition.date=', (add) => dateOf(add) === null],
    ];
    for (const version of [mv - 1, mv, mv + 1, head]) {
      const state = await replayAt(version);
      const lines = state.liveLines();
      for (const [query, keeps] of queries) {
        const expected = lines.filter((line) => keeps((JSON.parse(line) as { add: AddAction }).add));
        // A filter that keeps everything or nothing here could not show a dropped condition.
        if (version === mv && (expected.length === 0 || expected.length === lines.length)) throw new Error(`test data: ${query} does not prune at ${version}`);
        const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&${query}`);
        expect(await response.text(), `${query} at ${version}`).to.equal(ndjsonOf(expected));
      }
      // paging: pages concatenate to the whole list, the token pins the version
      const pages: string[] = [];
      let token: string | null = null;
      do {
        const response: Response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&pageSize=37${token ? `&pageToken=${token}` : ''}`);
        expect(response.headers.get('delta-table-version')).to.equal(String(version));
        pages.push(await response.text());
        token = response.headers.get('next-page-token');
      } while (token);
      expect(pages.join('')).to.equal(ndjsonOf(state.liveLines()));
    }
    // a stats filter actually prunes on both paths
    const pruned = await (await fetch(`${base}/v1/tables/${table}/files?version=${mv}&stats.id.gte=${middle}`)).text();
    expect(pruned.split('\n').length).to.be.lessThan((await replayAt(mv)).liveLines().length);
  });

  it('answers errors as problem+json: 404, 400', async function () {
    const { base } = await launch();
    const cases: Array<[string, number]> = [
      ['/v1/tables/nope', 404], [`/v1/tables/${table}?version=999999`, 404], [`/v1/tables/${table}?version=abc`, 400],
      [`/v1/tables/${table}?version=1&timestamp=2020-01-01T00:00:00Z`, 400], [`/v1/tables/${table}/files?pageSize=0`, 400],
      [`/v1/tables/${table}/files?stats.id.between=3`, 400], [`/v1/tables/${table}?timestamp=yesterday`, 400],
      [`/v1/tables/${table}?timestamp=1990-01-01T00:00:00Z`, 404], [`/v1/tables/${table}/files?pageSize=5&pageToken=garbage`, 400],
      ['/v1/nothing', 404], ['/v1/tables/bad%20name', 400],
    ];
    for (const [path, status] of cases) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).to.equal(status);
      expect(response.headers.get('content-type'), path).to.contain('application/problem+json');
      const problem = (await response.json()) as { status: number; title: string; detail: string };
      expect(problem.status).to.equal(status);
      expect(problem.detail).to.be.a('string');
    }
  });

  it('answers 410 for a version before the retained log', async function () {
    const { base } = await launch();
    await pool.query('UPDATE deltameta.delta_table SET log_start_version = 2 WHERE name = $1', [table]);
    try {
      const response = await fetch(`${base}/v1/tables/${table}?version=1`);
      expect(response.status).to.equal(410);
      expect(response.headers.get('content-type')).to.contain('application/problem+json');
    } finally {
      await pool.query('UPDATE deltameta.delta_table SET log_start_version = 0 WHERE name = $1', [table]);
    }
  });

  it('sends a strong ETag, 304 on If-None-Match, Server-Timing, and gzip as kept', async function () {
    const { base } = await launch({ DELTAMETA_READER_COMPRESS_MIN_BYTES: '1024' });
    const url = `${base}/v1/tables/${table}/files?version=${mv}`;
    const identity = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
    const etag = identity.headers.get('etag') ?? '';
    expect(etag).to.match(/^"[^"]+"$/);
    expect(identity.headers.get('content-encoding')).to.equal(null);
    expect(identity.headers.get('server-timing')).to.match(/dur=/);
    const text = await identity.text();
    expect(text).to.equal(ndjsonOf((await replayAt(mv)).liveLines()));
    const gzipped = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(gzipped.headers.get('content-encoding')).to.equal('gzip');
    expect(await gzipped.text()).to.equal(text);
    const notModified = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(notModified.status).to.equal(304);
    expect(notModified.headers.get('delta-table-version')).to.equal(String(mv));
    expect((await fetch(`${base}/v1/tables/${table}/files?version=${mv - 1}`, { headers: { 'if-none-match': etag } })).status).to.equal(200);
    expect(gzipSync(Buffer.from(text)).length).to.be.lessThan(text.length);
  });

  it('serves a second reader from L2, and coalesces concurrent misses into one query', async function () {
    this.timeout(30_000);
    const first = await launch();
    const second = await launch();
    const url = (base: string): string => `${base}/v1/tables/${table}/files?version=${mv - 2}&pageSize=50`;
    const concurrent = await Promise.all(Array.from({ length: 20 }, () => fetch(url(first.base)).then(async (r) => ({ status: r.headers.get('cache-status'), text: await r.text() }))));
    expect(new Set(concurrent.map((answer) => answer.text)).size).to.equal(1);
    expect(await metricValue(first.registry, 'deltameta_cache_requests_total', { level: 'l3' })).to.equal(1);
    expect(concurrent.filter((answer) => answer.status?.includes('collapsed')).length + concurrent.filter((answer) => answer.status?.includes('detail=l1')).length).to.equal(19);
    const fromL2 = await fetch(url(second.base));
    expect(fromL2.headers.get('cache-status')).to.equal('deltameta; hit; detail=l2');
    expect(await fromL2.text()).to.equal(concurrent[0]?.text);
    const metrics = await first.registry.metrics();
    for (const name of ['deltameta_cache_requests_total', 'deltameta_cache_bytes', 'deltameta_cache_evictions_total', 'deltameta_http_request_duration_seconds']) expect(metrics).to.contain(name);
  });

  it('keeps L1 within its byte budget under a larger working set', async function () {
    this.timeout(60_000);
    const budget = 48 * 1024;
    const { base, reader, registry } = await launch({ DELTAMETA_READER_L1_MAX_BYTES: String(budget), DELTAMETA_READER_L2: 'off' });
    let served = 0;
    for (let version = 0; version <= head; version++) {
      for (const pageSize of [20, 40]) {
        const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&pageSize=${pageSize}`);
        served += (await response.arrayBuffer()).byteLength;
        expect(reader.cache.l1Bytes).to.be.at.most(budget);
      }
    }
    expect(served).to.be.greaterThan(budget * 2);
    expect(await metricValue(registry, 'deltameta_cache_evictions_total', { level: 'l1' })).to.be.greaterThan(0);
    expect(await metricValue(registry, 'deltameta_cache_bytes', { level: 'l1' })).to.be.at.most(budget);
  });

  it('gives nothing without a covering token', async function () {
    const access = AccessControl.fromGrants([
      { name: 'sales', sha256: hashToken('s3cret-sales'), tablePrefixes: ['gen_'] },
      { name: 'other', sha256: hashToken('s3cret-other'), tablePrefixes: ['other_'] },
    ]);
    const { base } = await launch({}, access);
    const none = await fetch(`${base}/v1/tables/${table}`);
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.match(/^Bearer/);
    expect(none.headers.get('content-type')).to.contain('application/problem+json');
    expect((await fetch(`${base}/v1/tables/${table}`, { headers: { authorization: 'Bearer wrong' } })).status).to.equal(401);
    for (const path of [`/v1/tables/${table}`, `/v1/tables/${table}/files`, `/v1/tables/${table}/commits`, '/v1/tables/nope']) {
      const forbidden = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer s3cret-other' } });
      expect(forbidden.status, path).to.equal(403);
      expect(await forbidden.text()).not.to.contain('"add"');
    }
    const listed = (await (await fetch(`${base}/v1/tables`, { headers: { authorization: 'Bearer s3cret-other' } })).json()) as { tables: unknown[] };
    expect(listed.tables).to.deep.equal([]);
    const allowed = await fetch(`${base}/v1/tables/${table}/files?version=${mv}`, { headers: { authorization: 'Bearer s3cret-sales' } });
    expect(allowed.status).to.equal(200);
    const list = (await (await fetch(`${base}/v1/tables`, { headers: { authorization: 'Bearer s3cret-sales' } })).json()) as { tables: Array<{ name: string; version: number; numFiles: number }> };
    expect(list.tables.map((t) => [t.name, t.version])).to.deep.equal([[table, head]]);
    expect(list.tables[0]?.numFiles).to.equal((await replayAt(head)).files.size);
  });

  it('streams whole lists above the buffer bound from the file pages, holding its snapshot only while it streams', async function () {
    this.timeout(30_000);
    const { base } = await launch({ DELTAMETA_READER_STREAM_ABOVE_BYTES: '1' }, undefined, 'stream:');
    const expected = ndjsonOf((await replayAt(mv)).liveLines());
    for (const encoding of ['gzip', 'identity']) {
      const response = await fetch(`${base}/v1/tables/${table}/files?version=${mv}`, { headers: { 'accept-encoding': encoding } });
      expect(response.status).to.equal(200);
      expect(response.headers.get('server-timing'), encoding).to.contain('desc="file pages, streamed"');
      expect(response.headers.get('cache-status')).to.equal('deltameta; fwd=miss; detail=l3');
      expect(response.headers.get('content-encoding')).to.equal(encoding === 'gzip' ? 'gzip' : null);
      expect(response.headers.get('delta-table-version')).to.equal(String(mv));
      expect(await response.text(), encoding).to.equal(expected);
    }
    // Not kept: the same request streams again. Below the pages' range the rows stream instead.
    const again = await fetch(`${base}/v1/tables/${table}/files?version=${mv}`);
    expect(again.headers.get('server-timing')).to.contain('desc="file pages, streamed"');
    await again.arrayBuffer();
    const older = await fetch(`${base}/v1/tables/${table}/files?version=${pagesFrom - 1}`);
    expect(older.headers.get('server-timing')).to.contain('desc="rows, streamed"');
    expect(await older.text()).to.equal(ndjsonOf((await replayAt(pagesFrom - 1)).liveLines()));

    // The stream holds one connection in a snapshot until it ends or is destroyed (a client gone away).
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table]);
    const ref = { tableId: rows[0]?.table_id ?? -1, name: table, logStartVersion: 0, kind: 'owned' as const, location: null, published: false };
    const options = { aboveBytes: 1, l3Enabled: true, filePagesEnabled: true };
    const probe = createPool(env.config.postgresUrl, { max: 2, applicationName: `test:${env.id}:stream` });
    try {
      expect(await streamWholeListIfLarge(probe, ref, mv, { ...options, aboveBytes: Number.MAX_SAFE_INTEGER }), 'small lists are not streamed').to.equal(undefined);
      for (const [version, source] of [[mv, 'file pages'], [pagesFrom - 1, 'rows']] as const) {
        const found = await streamWholeListIfLarge(probe, ref, version, options);
        expect(found?.source, `version ${version}`).to.equal(source);
        if (!found) throw new Error('expected a stream');
        const first = await new Promise<Buffer>((resolve) => found.stream.once('data', (chunk: Buffer) => resolve(chunk)));
        expect(first.length).to.be.greaterThan(0);
        expect(probe.totalCount - probe.idleCount, 'one connection held while streaming').to.equal(1);
        found.stream.destroy();
        await eventually('the streaming connection back in its pool', () => probe.totalCount - probe.idleCount === 0);
      }
    } finally {
      await probe.end();
    }
  });

  it('streams whole lists above the buffer bound from the rows when the pages do not answer', async function () {
    this.timeout(30_000);
    const { base } = await launch({ DELTAMETA_READER_STREAM_ABOVE_BYTES: '1', DELTAMETA_READER_FILE_PAGES: 'off' }, undefined, 'stream-rows:');
    // file_index (l3), the watermark plus the log tail (l4), file_index before the pages' range (l3)
    for (const [version, level] of [[mv, 'l3'], [mv + 1, 'l4'], [1, 'l3']] as const) {
      const expected = ndjsonOf((await replayAt(version)).liveLines());
      for (const encoding of ['gzip', 'identity']) {
        const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}`, { headers: { 'accept-encoding': encoding } });
        expect(response.headers.get('server-timing'), `${version} ${encoding}`).to.contain('desc="rows, streamed"');
        expect(response.headers.get('cache-status')).to.equal(`deltameta; fwd=miss; detail=${level}`);
        expect(response.headers.get('content-encoding')).to.equal(encoding === 'gzip' ? 'gzip' : null);
        expect(await response.text(), `${version} ${encoding}`).to.equal(expected);
      }
    }
    // Paged and filtered lists are bounded by their page or their filter: they go through the cache levels.
    const paged = await fetch(`${base}/v1/tables/${table}/files?version=${mv}&pageSize=10`);
    expect(paged.headers.get('cache-status')).to.match(/stored; detail=l3$/);
    await paged.arrayBuffer();
  });

  it('lists tables in name order, paged, with an ETag that changes only with the listed heads', async function () {
    this.timeout(30_000);
    const { base } = await launch();
    const first = await fetch(`${base}/v1/tables`);
    expect(first.status).to.equal(200);
    expect(first.headers.get('delta-table-version'), 'spans tables: no single version').to.equal(null);
    const etag = first.headers.get('etag') ?? '';
    expect(etag).to.match(/^"[^"]+"$/);
    const listed = (await first.json()) as { tables: Array<{ name: string; version: number; numFiles: number }> };
    expect(listed.tables.map((entry) => [entry.name, entry.version])).to.deep.equal([[table, head]]);
    expect((await fetch(`${base}/v1/tables`, { headers: { 'if-none-match': etag } })).status).to.equal(304);

    await commit(pool, { table: 'a_listed', actions: [{ kind: 'metaData', metaData: { id: 'a', format: { provider: 'parquet', options: {} }, schemaString: '{"type":"struct","fields":[]}', partitionColumns: [], configuration: {} } }, { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } }] });
    try {
      const changed = await fetch(`${base}/v1/tables`, { headers: { 'if-none-match': etag } });
      expect(changed.status).to.equal(200);
      expect(changed.headers.get('etag')).to.not.equal(etag);
      const page1 = await fetch(`${base}/v1/tables?pageSize=1`);
      const body1 = (await page1.json()) as { tables: Array<{ name: string }>; nextPageToken?: string };
      expect(body1.tables.map((entry) => entry.name)).to.deep.equal(['a_listed']);
      expect(page1.headers.get('next-page-token')).to.equal(body1.nextPageToken ?? null);
      const page2 = (await (await fetch(`${base}/v1/tables?pageSize=1&pageToken=${encodeURIComponent(body1.nextPageToken ?? '')}`)).json()) as { tables: Array<{ name: string }>; nextPageToken?: string };
      expect(page2.tables.map((entry) => entry.name)).to.deep.equal([table]);
      expect(page2.nextPageToken).to.equal(undefined);
    } finally {
      await pool.query("DELETE FROM deltameta.delta_table WHERE name = 'a_listed'");
    }
  });

  it('reads through a login role of deltameta_read, which cannot write', async function () {
    this.timeout(30_000);
    const role = `reader_${env.id}`.slice(0, 60);
    await pool.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'reader' IN ROLE deltameta_read`);
    try {
      const url = new URL(env.config.postgresUrl);
      url.username = role;
      url.password = 'reader';
      const { base } = await launch({ DELTAMETA_READER_PG_URL: url.toString() });
      const response = await fetch(`${base}/v1/tables/${table}/files?version=${mv + 1}`);
      expect(await response.text()).to.equal(ndjsonOf((await replayAt(mv + 1)).liveLines()));
      const asReader = createPool(url.toString(), { max: 1, applicationName: `test:${env.id}` });
      try {
        const denied = await asReader.query('DELETE FROM deltameta.delta_commit').then(() => undefined, (error: unknown) => error as { code?: string });
        expect(denied?.code).to.equal('42501');
        const { rows } = await asReader.query<{ n: number }>('SELECT count(*)::int AS n FROM deltameta.file_index');
        expect(rows[0]?.n).to.be.greaterThan(0);
      } finally {
        await asReader.end();
      }
    } finally {
      for (const running of started.splice(0)) await running.stop();
      await pool.query(`DROP ROLE IF EXISTS "${role}"`);
    }
  });
});
