/**
 * What the reader trusts, attacked: a head pointer published on the channel
 * and written in Redis for a version PostgreSQL does not have is never
 * served nor cached; page tokens of the files list, the table list and
 * /commits are signed and bound (a tampered or transplanted token is a
 * 400 naming the problem); /commits is paged; timestamps are strict RFC
 * 3339 on the wire; Delta-Min-Version on the table list is refused; and
 * fuzzed request parameters on every route never get a 5xx.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { connect } from 'node:net';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { redisKeys } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { AccessControl, Reader, hashToken } from '../../services/reader/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

const logger = createLogger('reader-trust-test', 'silent');
const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }] });
const bogusVersion = 1_000_000_000;

function created(id: string): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { kind: 'metaData', metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration: {} } },
  ];
}

let fileCounter = 0;
function added(count: number): Action[] {
  return Array.from({ length: count }, () => {
    const n = fileCounter++;
    const p = String(n % 3);
    return { kind: 'add', add: { path: `p=${p}/f${n}.parquet`, partitionValues: { p }, size: 1000 + n, modificationTime: 1_700_000_000_000, dataChange: true, stats: `{"numRecords":${n % 7}}` } } satisfies Action;
  });
}

async function rawGet(port: number, target: string, headers: ReadonlyArray<readonly [string, string]>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = [`GET ${target} HTTP/1.1`, 'Host: reader.test', 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
  });
}

describeWithEnv('reader: trust and hostile parameters', (env) => {
  const table = 'trusted';
  const other = 'trusted_other';
  const redis = env.redis();
  let pool: Pool;
  let reader: Reader;
  let base: string;
  let head: number;

  async function problemOf(path: string, headers: Record<string, string> = {}): Promise<{ status: number; detail: string }> {
    const response = await fetch(`${base}${path}`, { headers });
    const body = await response.text();
    return { status: response.status, detail: response.status >= 400 ? (JSON.parse(body) as { detail: string }).detail : body };
  }

  before(async function () {
    this.timeout(60_000);
    pool = env.pool(2);
    for (const name of [table, other]) {
      await commit(pool, { table: name, actions: [...created(name), ...added(3)] });
      for (let i = 0; i < 6; i++) await commit(pool, { table: name, actions: added(4) });
    }
    head = 6;
    reader = new Reader({
      // A short safety TTL, so the poisoned Redis pointer is read back too, not only the announcement.
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', DELTAMETA_READER_HEAD_SAFETY_TTL_MS: '50', DELTAMETA_READER_COMMITS_MAX_LIMIT: '5' }),
      defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger, metrics: readerMetrics(createRegistry('reader-trust')),
    });
    await reader.start();
    base = `http://127.0.0.1:${reader.port}`;
  });

  after(async function () {
    this.timeout(30_000);
    await reader.stop();
    redis.disconnect();
    await pool.end();
  });

  it('never serves nor caches a head PostgreSQL has not confirmed, from pub/sub or Redis; a real move still arrives', async function () {
    this.timeout(30_000);
    const keys = redisKeys(env.keyPrefix);
    const versionOf = async (query = ''): Promise<number> => {
      const response = await fetch(`${base}/v1/tables/${table}${query}`);
      expect(response.status, query).to.equal(200);
      await response.arrayBuffer();
      return Number(response.headers.get('delta-table-version'));
    };
    expect(await versionOf()).to.equal(head);
    await redis.hset(keys.head(table), 'version', String(bogusVersion), 'committedAt', new Date().toISOString());
    // Malformed announcements are dropped (a `null` one once threw inside the subscriber's message handler).
    for (const junk of ['null', '5', '"x"', '[]', '{"table":1,"version":2}', `{"table":"${table}","version":"9"}`, '{']) await redis.publish(keys.headsChannel, junk);
    await redis.publish(keys.headsChannel, JSON.stringify({ table, version: bogusVersion, committedAt: new Date().toISOString() }));
    await redis.publish(keys.headsChannel, JSON.stringify({ table, version: head + 1, committedAt: new Date().toISOString() }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let i = 0; i < 5; i++) {
      expect(await versionOf(), 'latest after a bogus head').to.equal(head);
      expect((await fetch(`${base}/v1/tables/${table}/files`)).headers.get('delta-table-version')).to.equal(String(head));
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    expect(await versionOf('?consistency=strong')).to.equal(head);
    expect((await fetch(`${base}/v1/tables/${table}?version=${bogusVersion}`)).status).to.equal(404);
    expect((await fetch(`${base}/v1/tables/${table}?version=${head + 1}`)).status, 'a version announced before it exists').to.equal(404);
    const tableId = (await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table])).rows[0]?.table_id ?? -1;
    expect(await redis.exists(keys.summary(table, tableId, bogusVersion)), 'L2 holds nothing for the bogus version').to.equal(0);

    // A real commit, announced, moves "latest" (the check confirms it).
    await commit(pool, { table, actions: added(1) });
    head += 1;
    await redis.publish(keys.headsChannel, JSON.stringify({ table, version: head, committedAt: new Date().toISOString() }));
    await eventually('the confirmed head to be served', async () => (await versionOf()) === head, 5000);
  });

  it('signs page tokens and binds them to the table, version and filters: tampered or transplanted → 400 naming the problem', async function () {
    const first = await fetch(`${base}/v1/tables/${table}/files?pageSize=2&partition.p=1`);
    expect(first.status).to.equal(200);
    const token = first.headers.get('next-page-token') ?? '';
    expect(token).to.not.equal('');
    expect((await fetch(`${base}/v1/tables/${table}/files?pageSize=2&partition.p=1&pageToken=${encodeURIComponent(token)}`)).status).to.equal(200);

    const [payload = '', signature = ''] = token.split('.');
    const position = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...position, v: 0 })).toString('base64url');
    const tampered = await problemOf(`/v1/tables/${table}/files?pageSize=2&partition.p=1&pageToken=${forged}.${signature}`);
    expect(tampered.status).to.equal(400);
    expect(tampered.detail).to.contain('pageToken has a bad signature');
    const unsigned = await problemOf(`/v1/tables/${table}/files?pageSize=2&partition.p=1&pageToken=${payload}`);
    expect(unsigned.status).to.equal(400);
    expect(unsigned.detail).to.contain('pageToken is not a token this reader issued');

    const otherTable = await problemOf(`/v1/tables/${other}/files?pageSize=2&partition.p=1&pageToken=${encodeURIComponent(token)}`);
    expect(otherTable.status).to.equal(400);
    expect(otherTable.detail).to.equal(`pageToken was issued for "${table}", not "${other}"`);
    const otherFilters = await problemOf(`/v1/tables/${table}/files?pageSize=2&partition.p=2&pageToken=${encodeURIComponent(token)}`);
    expect(otherFilters.status).to.equal(400);
    expect(otherFilters.detail).to.contain('pageToken was issued for other filters');
    const otherVersion = await problemOf(`/v1/tables/${table}/files?pageSize=2&partition.p=1&version=1&pageToken=${encodeURIComponent(token)}`);
    expect(otherVersion.status).to.equal(400);
    expect(otherVersion.detail).to.match(/^pageToken is for version \d+, not 1$/);
    const otherRoute = await problemOf(`/v1/tables/${table}/commits?pageToken=${encodeURIComponent(token)}`);
    expect(otherRoute.status).to.equal(400);
    expect(otherRoute.detail).to.contain('pageToken was issued for another listing (files)');

    const list = await fetch(`${base}/v1/tables?pageSize=1`);
    const listToken = list.headers.get('next-page-token') ?? '';
    expect(listToken).to.not.equal('');
    const [listPayload = '', listSignature = ''] = listToken.split('.');
    const skipped = Buffer.from(JSON.stringify({ ...(JSON.parse(Buffer.from(listPayload, 'base64url').toString('utf8')) as object), p: { after: '' } })).toString('base64url');
    const listTampered = await problemOf(`/v1/tables?pageSize=1&pageToken=${skipped}.${listSignature}`);
    expect(listTampered.status).to.equal(400);
    expect(listTampered.detail).to.contain('bad signature');
    expect((await fetch(`${base}/v1/tables?pageSize=1&pageToken=${encodeURIComponent(listToken)}`)).status).to.equal(200);
  });

  it('binds the table list token to the grant it was issued to', async function () {
    const access = AccessControl.fromGrants([
      { name: 'a', sha256: hashToken('token-a'), tablePrefixes: ['*'] },
      { name: 'b', sha256: hashToken('token-b'), tablePrefixes: ['*'] },
    ]);
    const scoped = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }), defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger,
      metrics: readerMetrics(createRegistry('reader-trust-scoped')), access,
    });
    await scoped.start();
    try {
      const at = `http://127.0.0.1:${scoped.port}`;
      const token = (await fetch(`${at}/v1/tables?pageSize=1`, { headers: { authorization: 'Bearer token-a' } })).headers.get('next-page-token') ?? '';
      expect((await fetch(`${at}/v1/tables?pageSize=1&pageToken=${encodeURIComponent(token)}`, { headers: { authorization: 'Bearer token-a' } })).status).to.equal(200);
      const response = await fetch(`${at}/v1/tables?pageSize=1&pageToken=${encodeURIComponent(token)}`, { headers: { authorization: 'Bearer token-b' } });
      expect(response.status).to.equal(400);
      expect(((await response.json()) as { detail: string }).detail).to.equal('pageToken was issued for "a", not "b"');
    } finally {
      await scoped.stop();
    }
  });

  it('pages /commits with limit and a signed next-page-token, and refuses a limit above the maximum', async function () {
    const versions: number[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const query: string = `from=0&limit=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
      const response = await fetch(`${base}/v1/tables/${other}/commits?${query}`);
      expect(response.status, query).to.equal(200);
      for (const line of (await response.text()).trim().split('\n')) versions.push((JSON.parse(line) as { version: number }).version);
      token = response.headers.get('next-page-token');
      pages++;
    } while (token && pages < 10);
    expect(versions).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    expect(pages).to.equal(4);
    // Without limit: the configured maximum (5 here), not the whole history.
    const bounded = await fetch(`${base}/v1/tables/${other}/commits?from=0`);
    expect((await bounded.text()).trim().split('\n')).to.have.length(5);
    expect(bounded.headers.get('next-page-token')).to.be.a('string');
    const tooMany = await problemOf(`/v1/tables/${other}/commits?limit=6`);
    expect(tooMany.status).to.equal(400);
    expect(tooMany.detail).to.contain('limit must be an integer from 1 to 5');
    const first = await fetch(`${base}/v1/tables/${other}/commits?from=0&limit=2&actions`);
    const actionsToken = first.headers.get('next-page-token') ?? '';
    const withoutActions = await problemOf(`/v1/tables/${other}/commits?from=0&limit=2&pageToken=${encodeURIComponent(actionsToken)}`);
    expect(withoutActions.status).to.equal(400);
    expect(withoutActions.detail).to.contain('other filters or parameters');
  });

  it('refuses timestamps that are not strict RFC 3339, saying why', async function () {
    for (const [raw, reason] of [['2026-02-30T00:00:00Z', 'day 30 is not in 2026-02'], ['2026-01-01T00:00:00', 'a zone is required'], ['2026-01-01', 'expected YYYY-MM-DD']] as const) {
      const problem = await problemOf(`/v1/tables/${table}?timestamp=${encodeURIComponent(raw)}`);
      expect(problem.status, raw).to.equal(400);
      expect(problem.detail, raw).to.contain(reason);
    }
  });

  it('refuses Delta-Min-Version and minVersion on the table list, which spans tables', async function () {
    for (const [path, headers] of [['/v1/tables', { 'delta-min-version': '3' }], ['/v1/tables?minVersion=3', {}]] as const) {
      const problem = await problemOf(path, headers);
      expect(problem.status, path).to.equal(400);
      expect(problem.detail).to.contain('GET /v1/tables spans tables');
    }
  });

  it('answers fuzzed paths, query strings and headers on every route with 2xx, 304 or 4xx, and stays healthy', async function () {
    this.timeout(60_000);
    const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', '0', '-1', '1e3', '9007199254740993', 'true', '2026-02-30T00:00:00Z', '%', '%00', 'a.b', '*', '..'));
    // Tokens as an attacker would craft them: well-formed JSON of the shapes the reader once issued, with hostile values.
    const craftedToken = fc.record({ v: fc.oneof(fc.integer(), fc.constant(bogusVersion)), p: fc.string({ maxLength: 8 }), d: fc.string({ maxLength: 4 }), after: fc.string({ maxLength: 8 }) })
      .map((value) => Buffer.from(JSON.stringify(value)).toString('base64url'));
    const encoded = fc.oneof(text.map((value) => encodeURIComponent(value)), craftedToken);
    const paramName = fc.constantFrom('version', 'timestamp', 'consistency', 'minVersion', 'pageSize', 'pageToken', 'from', 'to', 'limit', 'actions', 'partition.p', 'stats.numRecords.min', 'stats.id.between', 'x');
    const query = fc.array(fc.tuple(paramName, fc.oneof(encoded, fc.constant(''))), { maxLength: 5 })
      .map((pairs) => pairs.map(([key, value]) => `${key}=${value}`).join('&'));
    const name = fc.oneof(fc.constantFrom(table, other, 'nope', ''), encoded);
    const path = fc.oneof(
      fc.constant('/v1/tables'),
      name.map((n) => `/v1/tables/${n}`),
      name.map((n) => `/v1/tables/${n}/files`),
      name.map((n) => `/v1/tables/${n}/commits`),
    );
    const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,24}$/);
    const headers = fc.array(fc.tuple(fc.constantFrom('delta-min-version', 'if-none-match', 'accept-encoding', 'authorization', 'range'), headerValue), { maxLength: 3 });
    await fc.assert(fc.asyncProperty(path, query, headers, async (target, search, sent) => {
      const status = await rawGet(reader.port, search === '' ? target : `${target}?${search}`, sent);
      return (status >= 200 && status < 300) || status === 304 || (status >= 400 && status < 500);
    }), { numRuns: 300, seed: 10 });
    expect((await fetch(`${base}/v1/tables/${table}`)).status).to.equal(200);
  });

  it('answers fuzzed spellings of every route without a token with 401 or 404 (or 400), never data', async function () {
    this.timeout(60_000);
    const access = AccessControl.fromGrants([{ name: 'all', sha256: hashToken('token-all'), tablePrefixes: ['*'] }]);
    const guarded = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }), defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger,
      metrics: readerMetrics(createRegistry('reader-trust-guarded')), access,
    });
    await guarded.start();
    try {
      const route = fc.constantFrom('/v1/tables', `/v1/tables/${table}`, `/v1/tables/${table}/files`, `/v1/tables/${table}/commits`);
      // Each character percent-encoded or not, in either hex case; sometimes as an absolute-form target, a trailing slash, doubled slashes or another case.
      const spelled = fc.tuple(route, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.boolean(), fc.constantFrom('', 'http://reader.test', 'http://evil.example:1'), fc.constantFrom('none', 'slash', 'double', 'upper'))
        .map(([plain, encodeAt, upperHex, authority, twist]) => {
          let path = [...plain].map((char, i) => {
            if (char === '/' || !encodeAt[i]) return char;
            const hex = char.charCodeAt(0).toString(16);
            return `%${upperHex ? hex.toUpperCase() : hex}`;
          }).join('');
          if (twist === 'slash') path = `${path}/`;
          if (twist === 'double') path = path.replace('/', '//');
          if (twist === 'upper') path = path.toUpperCase();
          return `${authority}${path}`;
        });
      await fc.assert(fc.asyncProperty(spelled, async (target) => {
        const status = await rawGet(guarded.port, target, []);
        return status === 401 || status === 404 || status === 400;
      }), { numRuns: 200, seed: 10 });
    } finally {
      await guarded.stop();
    }
  });
});
