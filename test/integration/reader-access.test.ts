/**
 * The reader's access control attacked: every route under every spelling
 * of its path Fastify routes the same way (percent-escapes, absolute-form
 * targets, a decoded table name) answers 401 without a token and never
 * data; spellings Fastify does not route stay 404. Scopes cover whole name
 * segments (sales_eu yes, salesforce_private no), in the table list too;
 * the tokens file reloads without a restart (a new token works, a removed
 * one is refused, a broken file keeps the tokens in force).
 */
import { expect } from 'chai';
import { writeFileSync, renameSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { loadReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { AccessControl, Reader, hashToken } from '../../services/reader/index.ts';
import { describeWithEnv, type TestEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const logger = createLogger('reader-access-test', 'silent');
const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

function created(id: string): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { kind: 'metaData', metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
    { kind: 'add', add: { path: `${id}-0.parquet`, partitionValues: {}, size: 100, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":1}' } },
  ];
}

/** One raw HTTP/1.1 request, so the target is sent exactly as written (fetch would normalise it). */
async function rawGet(port: number, target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = [`GET ${target} HTTP/1.1`, 'Host: reader.test', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

async function startReader(env: TestEnv, overrides: Record<string, string>, access?: AccessControl): Promise<{ reader: Reader; base: string; stop: () => Promise<void> }> {
  const redis = env.redis();
  const reader = new Reader({
    config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', ...overrides }),
    defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger, metrics: readerMetrics(createRegistry('reader-access')),
    ...(access ? { access } : {}),
  });
  await reader.start();
  return { reader, base: `http://127.0.0.1:${reader.port}`, stop: async () => { await reader.stop(); redis.disconnect(); } };
}

describeWithEnv('reader: access control under attack', (env) => {
  const dirs = new TempDirs();
  const stops: Array<() => Promise<void>> = [];
  let pool: Pool;
  // ':' ends a segment too, but table names cannot hold one (test/unit/reader-scope.test.ts covers it).
  const tables = ['sales', 'sales.orders', 'sales_eu', 'sales-x', 'salesforce_private'];

  before(async function () {
    this.timeout(60_000);
    pool = env.pool(2);
    for (const name of tables) await commit(pool, { table: name, actions: created(name.replace(/\W/g, '_')) });
  });

  after(async function () {
    this.timeout(30_000);
    for (const stop of stops.splice(0)) await stop();
    await pool.end();
    dirs.removeAll();
  });

  async function launch(overrides: Record<string, string>, access?: AccessControl): Promise<{ reader: Reader; base: string }> {
    const running = await startReader(env, overrides, access);
    stops.push(running.stop);
    return running;
  }

  it('answers 401 to every routed spelling of every table route without a token, 404 to unrouted ones, never data', async function () {
    const access = AccessControl.fromGrants([{ name: 'all', sha256: hashToken('s3cret-all'), tablePrefixes: ['*'] }]);
    const { reader } = await launch({}, access);
    const routed = [
      '/v1/tables', '/v1/tables?pageSize=1', '/v1/%74ables', '/%761/tables', 'http://reader.test/v1/tables',
      '/v1/tables/sales', '/v1/%74ables/sales', '/%761/tables/sales', '/v1/tables/%73ales', '/%76%31/%74%61%62%6c%65%73/%73%61%6c%65%73',
      'http://reader.test/v1/tables/sales', 'http://evil.example/v1/tables/sales', '/v1/tables/sales#x', '/v1/tables/',
      '/v1/tables/sales/files', '/v1/tables/sales/%66iles', '/%761/tables/sales/files', 'http://reader.test/v1/tables/sales/files?pageSize=1',
      '/v1/tables/sales/commits', '/v1/tables/sales/%63ommits', '/%761/tables/%73ales/commits', 'http://reader.test/%761/tables/sales/commits',
    ];
    for (const target of routed) {
      const { status, body } = await rawGet(reader.port, target);
      expect(status, target).to.equal(401);
      expect(body, target).not.to.contain('"add"').and.not.to.contain('"numFiles"').and.not.to.contain('"tables"');
    }
    const unrouted = ['/v1/tables/sales/', '/V1/tables/sales', '/v1/TABLES/sales', '//v1/tables/sales', '/v1//tables/sales', '/v1/tables/sales//files', '/v1/tables/sales/files/', '/v2/tables/sales', '/v1/tables/sales/FILES'];
    for (const target of unrouted) {
      const { status, body } = await rawGet(reader.port, target);
      expect(status, target).to.equal(404);
      expect(body, target).not.to.contain('"add"');
    }
    // With the token, the same encoded spelling reads the table: the encoding changes nothing but the text.
    expect((await rawGet(reader.port, '/%761/tables/%73ales/files', { authorization: 'Bearer s3cret-all' })).status).to.equal(200);
  });

  it('checks a scope on the decoded table name: whole segments only, for reads and the table list', async function () {
    const access = AccessControl.fromGrants([
      { name: 'sales', sha256: hashToken('s3cret-sales'), tablePrefixes: ['sales'] },
      { name: 'nothing', sha256: hashToken('s3cret-nothing'), tablePrefixes: [] },
    ]);
    const { reader, base } = await launch({}, access);
    const sales = { authorization: 'Bearer s3cret-sales' };
    for (const name of ['sales', 'sales.orders', 'sales_eu', 'sales-x']) {
      expect((await fetch(`${base}/v1/tables/${encodeURIComponent(name)}`, { headers: sales })).status, name).to.equal(200);
    }
    for (const target of ['/v1/tables/salesforce_private', '/v1/tables/%73alesforce_private', '/v1/tables/salesforce_private/files', '/%761/tables/salesforce_private/commits']) {
      const { status, body } = await rawGet(reader.port, target, sales);
      expect(status, target).to.equal(403);
      expect(body, target).not.to.contain('"add"');
    }
    const listed = (await (await fetch(`${base}/v1/tables`, { headers: sales })).json()) as { tables: Array<{ name: string }> };
    expect(listed.tables.map((t) => t.name).sort()).to.deep.equal(['sales', 'sales-x', 'sales.orders', 'sales_eu']);
    // No grant for the table is a refusal.
    expect((await fetch(`${base}/v1/tables/sales`, { headers: { authorization: 'Bearer s3cret-nothing' } })).status).to.equal(403);
    const none = (await (await fetch(`${base}/v1/tables`, { headers: { authorization: 'Bearer s3cret-nothing' } })).json()) as { tables: unknown[] };
    expect(none.tables).to.deep.equal([]);
  });

  it('reloads the tokens file without a restart; a broken file keeps the tokens in force', async function () {
    this.timeout(30_000);
    const dir = dirs.make('tokens');
    const file = join(dir, 'tokens.json');
    const write = (grants: unknown): void => {
      // Written beside and renamed in, as an operator's tooling would: the reader never sees half a file.
      writeFileSync(`${file}.tmp`, typeof grants === 'string' ? grants : JSON.stringify(grants));
      renameSync(`${file}.tmp`, file);
    };
    write([{ name: 'old', sha256: hashToken('old-token'), tablePrefixes: ['sales'] }]);
    const { base } = await launch({ DELTAMETA_READER_TOKENS_FILE: file, DELTAMETA_READER_TOKENS_RELOAD_INTERVAL_MS: '200' });
    const status = async (token: string): Promise<number> => (await fetch(`${base}/v1/tables/sales`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await status('old-token')).to.equal(200);
    expect(await status('new-token')).to.equal(401);

    write([{ name: 'new', sha256: hashToken('new-token'), tablePrefixes: ['sales'] }]);
    await eventually('the new token to work', async () => (await status('new-token')) === 200, 5000);
    expect(await status('old-token')).to.equal(401);

    write('[{"name": "half');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await status('new-token'), 'a broken file keeps the tokens in force').to.equal(200);
    write([{ name: 'bad', sha256: hashToken('bad-token'), tablePrefixes: [''] }]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await status('new-token'), 'an empty prefix is refused on reload too').to.equal(200);
    expect(await status('bad-token')).to.equal(401);

    write([{ name: 'hup', sha256: hashToken('hup-token'), tablePrefixes: ['*'] }]);
    process.emit('SIGHUP', 'SIGHUP');
    await eventually('the SIGHUP reload', async () => (await status('hup-token')) === 200, 5000);
  });
});
