/**
 * The commit API (services/committer) against real PostgreSQL, started
 * in-process on port 0 with the committer's own login: a table created by a
 * version-0 commit, appends, a conflict between two MERGE-like transactions
 * (409 naming its type and the winning version), an idempotency key retried,
 * malformed input refused naming line and field with nothing written, a
 * followed table refused naming its location, write tokens' scopes and
 * reload, the role check, the limits, and concurrent writers landing
 * versions without gap or duplicate.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { loadCommitterConfig, committerMetrics, hashWriteToken, startCommitter, type Committer } from '../../services/committer/index.ts';
import { localLoginUrl } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable } from '../../shared/delta/index.ts';
import { ConfigError } from '../../shared/errors/index.ts';
import { findTable, importTable } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, type Registry } from '../../shared/metrics/index.ts';
import { ServiceProcess } from '../../shared/service/index.ts';
import { describeWithEnv, type TestEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const logger = createLogger('committer-test', 'silent');
const schemaString = JSON.stringify({ type: 'struct', fields: [
  { name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'country', type: 'string', nullable: true, metadata: {} },
] });

const createLines = (id: string): string[] => [
  JSON.stringify({ commitInfo: { timestamp: 1_700_000_000_000, operation: 'CREATE TABLE' } }),
  JSON.stringify({ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }),
  JSON.stringify({ metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['country'], configuration: {} } }),
  addLine('US', `${id}-us-0`), addLine('FR', `${id}-fr-0`),
];
function addLine(country: string, name: string): string {
  return JSON.stringify({ add: { path: `country=${country}/${name}.parquet`, partitionValues: { country }, size: 100, modificationTime: 1_700_000_000_000, dataChange: true } });
}
function removeLine(country: string, name: string): string {
  return JSON.stringify({ remove: { path: `country=${country}/${name}.parquet`, partitionValues: { country }, size: 100, deletionTimestamp: 1_700_000_000_001, dataChange: true } });
}

interface Answer { status: number; headers: Headers; body: Record<string, unknown> }

async function startOn(env: TestEnv, overrides: Record<string, string> = {}, registry: Registry = createRegistry('committer-test')): Promise<Committer> {
  const config = loadCommitterConfig(env.config.postgresUrl, { DELTAMETA_COMMITTER_PORT: '0', DELTAMETA_COMMITTER_PG_POOL_MAX: '8', ...overrides });
  return startCommitter({ config, logger, metrics: committerMetrics(registry) });
}

describeWithEnv('committer: the HTTP commit API', (env) => {
  const dirs = new TempDirs();
  const registry = createRegistry('committer-test');
  let committer: Committer;
  let pool: Pool;
  let base: string;

  before(async () => {
    pool = env.pool(2);
    committer = await startOn(env, { DELTAMETA_COMMITTER_MAX_BODY_BYTES: '65536', DELTAMETA_COMMITTER_MAX_LINES: '100' }, registry);
    base = `http://127.0.0.1:${committer.port}`;
  });

  after(async function () {
    this.timeout(30_000);
    await committer.stop();
    await pool.end();
    dirs.removeAll();
  });

  async function post(table: string, lines: readonly string[] | string, headers: Record<string, string> = {}, url = base): Promise<Answer> {
    const json = typeof lines === 'string';
    const response = await fetch(`${url}/v1/tables/${encodeURIComponent(table)}/commits`, {
      method: 'POST', headers: { 'content-type': json ? 'application/json' : 'application/x-ndjson', ...headers }, body: json ? lines : `${lines.join('\n')}\n`,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> };
  }

  const head = async (table: string): Promise<number | undefined> => (await findTable(pool, table))?.headVersion;

  it('creates a table by a version-0 commit and appends to it', async () => {
    const created = await post('api.orders', createLines('orders'), { 'delta-read-version': '-1' });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    expect(created.body).to.deep.equal({ table: 'api.orders', version: 0, attempts: 1, alreadyCommitted: false, created: true });
    expect(created.headers.get('location')).to.equal('/v1/tables/api.orders?version=0');
    expect(created.headers.get('delta-table-version')).to.equal('0');

    const appended = await post('api.orders', [addLine('US', 'orders-us-1')], { 'delta-blind-append': 'true' });
    expect(appended.status).to.equal(201);
    expect(appended.body).to.include({ version: 1, created: false, alreadyCommitted: false });

    const again = await post('api.orders', createLines('orders2'), { 'delta-read-version': '-1' });
    expect(again.status).to.equal(409);
    const unknown = await post('api.nothing_here', [addLine('US', 'x')]);
    expect(unknown.status).to.equal(404);
    expect(unknown.headers.get('content-type')).to.match(/^application\/problem\+json/);
  });

  it('two MERGE-like transactions on one partition: one 201, one 409 naming the conflict and the winning version', async () => {
    await post('api.merge', createLines('merge'), { 'delta-read-version': '-1' });
    const merge = (name: string): string[] => [removeLine('US', 'merge-us-0'), addLine('US', name)];
    const context = { 'delta-read-version': '0', 'delta-read-predicates': JSON.stringify(['country=US']), 'delta-isolation-level': 'Serializable' };
    // Sent at once: whichever lands first wins, the other is checked against it.
    const answers = await Promise.all([post('api.merge', merge('merge-us-a'), context), post('api.merge', merge('merge-us-b'), context)]);
    const [first, second] = [...answers].sort((a, b) => a.status - b.status) as [Answer, Answer];
    expect(first.status).to.equal(201);
    expect(first.body['version']).to.equal(1);
    expect(second.status, JSON.stringify(second.body)).to.equal(409);
    expect(second.body).to.include({ type: 'https://deltameta.dev/problems/commit-conflict', winningVersion: 1, readVersion: 0, table: 'api.merge' });
    // Spark checks the winner's adds in the partition read first (ConcurrentAppendException), then its removes.
    expect(second.body['conflictType']).to.equal('concurrent-append');
    expect(second.body['detail']).to.contain('commit conflict (concurrent-append) with version 1');
    // The other partition, read by its own predicate (structured form), is no conflict.
    const other = await post('api.merge', '{"readVersion":0,"readPredicates":[[{"column":"country","op":"=","values":["FR"]}]],'
      + `"actions":${JSON.stringify([removeLine('FR', 'merge-fr-0'), addLine('FR', 'merge-fr-a')].join('\n'))}}`);
    expect(other.status, JSON.stringify(other.body)).to.equal(201);
    expect(other.body['version']).to.equal(2);
    expect(await head('api.merge')).to.equal(2);
  });

  it('an idempotency key retried gets the same version, alreadyCommitted', async () => {
    await post('api.idem', createLines('idem'), { 'delta-read-version': '-1' });
    const first = await post('api.idem', [addLine('US', 'idem-1')], { 'idempotency-key': 'job-42' });
    const retried = await post('api.idem', [addLine('US', 'idem-1')], { 'idempotency-key': 'job-42' });
    const enveloped = await post('api.idem', JSON.stringify({ idempotencyKey: 'job-42', actions: [JSON.parse(addLine('US', 'idem-1')) as unknown] }));
    expect(first.body).to.include({ version: 1, alreadyCommitted: false });
    expect(retried.status).to.equal(201);
    expect(retried.body).to.include({ version: 1, alreadyCommitted: true });
    expect(enveloped.body).to.include({ version: 1, alreadyCommitted: true });
    expect(await head('api.idem')).to.equal(1);
    const contradicting = await post('api.idem', [JSON.stringify({ commitInfo: { txnId: 'other' } }), addLine('US', 'idem-2')], { 'idempotency-key': 'job-43' });
    expect(contradicting.body).to.include({ status: 400, line: 1, field: 'commitInfo.txnId' });
  });

  it('malformed input is refused naming the line and field, and nothing is written', async () => {
    await post('api.bad', createLines('bad'), { 'delta-read-version': '-1' });
    const badSize = addLine('US', 'bad-1').replace('"size":100', '"size":"big"');
    const typed = await post('api.bad', [addLine('US', 'ok-1'), '', badSize]);
    expect(typed.status).to.equal(400);
    expect(typed.body).to.include({ line: 3, field: 'add.size' });
    expect(typed.body['detail']).to.match(/^line 3: add\.size: must be a number/);
    const notJson = await post('api.bad', [addLine('US', 'ok-2'), '{"add": ']);
    expect(notJson.body).to.include({ status: 400, line: 2 });
    // Refused by the commit itself (a partition value the metadata does not have), reported on the body's line, past a blank one.
    const wrongPartition = JSON.stringify({ add: { path: 'p.parquet', partitionValues: { region: 'x' }, size: 1, modificationTime: 1, dataChange: true } });
    const semantic = await post('api.bad', [addLine('US', 'ok-3'), '', wrongPartition]);
    expect(semantic.status).to.equal(400);
    expect(semantic.body['line'], JSON.stringify(semantic.body)).to.equal(3);
    const envelope = await post('api.bad', JSON.stringify({ readVersion: 'zero', actions: '' }));
    expect(envelope.status).to.equal(400);
    expect(envelope.body['detail']).to.contain('readVersion');
    const mixed = await post('api.bad', JSON.stringify({ actions: addLine('US', 'ok-4') }), { 'delta-read-version': '0' });
    expect(mixed.status).to.equal(400);
    const text = await fetch(`${base}/v1/tables/api.bad/commits`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: addLine('US', 'ok-5') });
    expect(text.status).to.equal(415);
    const empty = await fetch(`${base}/v1/tables/api.bad/commits`, { method: 'POST' });
    expect(empty.status).to.equal(400);
    expect(await empty.text()).to.contain('application/x-ndjson');
    expect(await head('api.bad')).to.equal(0);
  });

  it('refuses bodies over the byte and line limits (413)', async () => {
    const big = await post('api.orders', [addLine('US', 'x'.repeat(70_000))]);
    expect(big.status).to.equal(413);
    const many = await post('api.orders', Array.from({ length: 101 }, (_, i) => addLine('US', `many-${i}`)));
    expect(many.status).to.equal(413);
    expect(many.body['detail']).to.contain('DELTAMETA_COMMITTER_MAX_LINES');
  });

  it('a body that trickles in is cut off at DELTAMETA_COMMITTER_REQUEST_TIMEOUT_MS (408)', async () => {
    const slow = await startOn(env, { DELTAMETA_COMMITTER_REQUEST_TIMEOUT_MS: '300' });
    try {
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        let data = '';
        const socket = connect(slow.port, '127.0.0.1', () => socket.write('POST /v1/tables/api.orders/commits HTTP/1.1\r\nHost: c\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{"add":'));
        socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
        socket.on('error', reject);
        socket.on('close', () => resolve(data));
      });
      expect(answer).to.match(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).to.be.lessThan(5000);
    } finally {
      await slow.stop();
    }
  });

  it('a followed table is refused with 409 naming its location', async function () {
    this.timeout(30_000);
    const dir = path.join(dirs.make('committer-followed'), 'table');
    await generateTable(dir, { files: 10, commits: 2, partitions: 2, checkpointInterval: 0, seed: 3 });
    const imported = await importTable(pool, dir, 'api.followed', { follow: 'register' });
    const refused = await post('api.followed', [JSON.stringify({ add: { path: 'x.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } })]);
    expect(refused.status).to.equal(409);
    expect(refused.body).to.include({ type: 'https://deltameta.dev/problems/table-followed', location: dir, table: 'api.followed' });
    expect(await head('api.followed')).to.equal(imported.toVersion);
  });

  it('write tokens: 401 without one, scopes by whole segments, reloaded without a restart', async function () {
    this.timeout(30_000);
    const file = path.join(dirs.make('committer-tokens'), 'tokens.json');
    const grant = (name: string, token: string, prefixes: string[]) => ({ name, sha256: hashWriteToken(token), tablePrefixes: prefixes });
    writeFileSync(file, JSON.stringify([grant('sales-writer', 'w-sales', ['sales'])]));
    const guarded = await startOn(env, { DELTAMETA_COMMITTER_TOKENS_FILE: file, DELTAMETA_COMMITTER_TOKENS_RELOAD_INTERVAL_MS: '100' });
    const url = `http://127.0.0.1:${guarded.port}`;
    try {
      const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'delta-read-version': '-1' });
      expect((await post('sales_eu', createLines('s1'), { 'delta-read-version': '-1' }, url)).status).to.equal(401);
      expect((await post('sales_eu', createLines('s1'), bearer('w-wrong'), url)).status).to.equal(401);
      expect((await post('sales_eu', createLines('s1'), bearer('w-sales'), url)).status).to.equal(201);
      expect((await post('sales.orders', createLines('s2'), bearer('w-sales'), url)).status).to.equal(201);
      const denied = await post('salesforce', createLines('s3'), bearer('w-sales'), url);
      expect(denied.status).to.equal(403);
      expect(await head('salesforce')).to.equal(undefined);
      writeFileSync(file, JSON.stringify([grant('all', 'w-all', ['*'])]));
      await eventually('the reloaded tokens', async () => (await post('salesforce', createLines('s3'), bearer('w-all'), url)).status === 201, 5000);
      expect((await post('sales.more', createLines('s4'), bearer('w-sales'), url)).status).to.equal(401);
      // A file that does not validate keeps the tokens in force.
      writeFileSync(file, '[{"name": "half');
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await post('salesforce', [addLine('US', 'after-broken')], { authorization: 'Bearer w-all' }, url)).status).to.equal(201);
      expect(() => loadCommitterConfig(env.config.postgresUrl, { DELTAMETA_COMMITTER_HOST: '0.0.0.0' })).to.throw(ConfigError, /DELTAMETA_COMMITTER_ALLOW_ANONYMOUS/);
      expect(loadCommitterConfig(env.config.postgresUrl, { DELTAMETA_COMMITTER_HOST: '0.0.0.0', DELTAMETA_COMMITTER_ALLOW_ANONYMOUS: 'on' }).host).to.equal('0.0.0.0');
      expect(loadCommitterConfig(env.config.postgresUrl, { DELTAMETA_COMMITTER_HOST: '0.0.0.0', DELTAMETA_COMMITTER_TOKENS_FILE: file }).host).to.equal('0.0.0.0');
      writeFileSync(file, JSON.stringify([grant('empty', 'w-e', [''])]));
      expect(() => loadCommitterConfig(env.config.postgresUrl, { DELTAMETA_COMMITTER_TOKENS_FILE: file, DELTAMETA_COMMITTER_PORT: '0' })).not.to.throw();
      await startOn(env, { DELTAMETA_COMMITTER_TOKENS_FILE: file }).then(() => expect.fail('an empty prefix must be refused'), (error: unknown) => expect(String(error)).to.contain('empty table prefix'));
    } finally {
      await guarded.stop();
    }
  });

  it('refuses to start with a role that can write beyond the log tables, or cannot commit', async () => {
    for (const url of [env.config.postgresUrl, localLoginUrl(env.config.postgresUrl, 'refresher'), localLoginUrl(env.config.postgresUrl, 'reader')]) {
      const refused = await startOn(env, { DELTAMETA_COMMITTER_PG_URL: url }).then(() => undefined, (error: unknown) => error);
      expect(refused, url).to.be.instanceOf(ConfigError);
      expect(String(refused)).to.match(/DELTAMETA_COMMITTER_PG_URL: connects as role "\w+", which (can write beyond the log tables|cannot commit)/);
    }
  });

  async function appendConcurrently(tables: readonly string[], clients: number, perClient: number): Promise<Map<string, number[]>> {
    for (const table of tables) expect((await post(table, createLines(table.replace(/\W/g, '_')), { 'delta-read-version': '-1' })).status).to.equal(201);
    const versions = new Map(tables.map((table) => [table, [] as number[]]));
    await Promise.all(Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; i < perClient; i++) {
        const table = tables[(client + i) % tables.length] as string;
        const answer = await post(table, [addLine('US', `c${client}-${i}`)], { 'delta-blind-append': 'true' });
        expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
        versions.get(table)?.push(answer.body['version'] as number);
      }
    }));
    return versions;
  }

  it('8 concurrent writers × 25 blind appends on one table and on several: versions 1..N, no gap, no duplicate', async function () {
    this.timeout(60_000);
    for (const tables of [['api.hot'], ['api.many_0', 'api.many_1', 'api.many_2', 'api.many_3']]) {
      const versions = await appendConcurrently(tables, 8, 25);
      for (const [table, got] of versions) {
        const expected = Array.from({ length: 200 / tables.length }, (_, i) => i + 1);
        expect([...got].sort((a, b) => a - b), table).to.deep.equal(expected);
        expect(await head(table)).to.equal(expected.length);
      }
    }
  });

  it('6 writers conflicting at once: each answer a 201 or a 409 concurrent-append past its read version; one version per 201', async function () {
    this.timeout(60_000);
    await post('api.contended', createLines('contended'), { 'delta-read-version': '-1' });
    const won: number[] = [];
    const conflicts: Array<Record<string, unknown>> = [];
    await Promise.all(Array.from({ length: 6 }, async (_, writer) => {
      for (let i = 0; i < 5; i++) {
        const read = String(await head('api.contended'));
        const answer = await post('api.contended', [addLine('US', `w${writer}-${i}`)], { 'delta-read-version': read, 'delta-read-predicates': '["country=US"]', 'delta-blind-append': 'false' });
        if (answer.status === 201) won.push(answer.body['version'] as number);
        else conflicts.push({ ...answer.body, read });
      }
    }));
    for (const body of conflicts) {
      expect(body, JSON.stringify(body)).to.include({ status: 409, conflictType: 'concurrent-append', readVersion: Number(body['read']) });
      expect(body['winningVersion']).to.be.greaterThan(Number(body['read']));
    }
    expect(conflicts.length).to.be.greaterThan(0);
    expect(won.sort((a, b) => a - b)).to.deep.equal(Array.from({ length: won.length }, (_, i) => i + 1));
    expect(await head('api.contended')).to.equal(won.length);
  });

  it('runs as its own process: logs its ports, commits as its own login, exports its metrics', async function () {
    this.timeout(60_000);
    const service = ServiceProcess.spawn('committer', {
      env: { ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_COMMITTER_PORT: '0', DELTAMETA_COMMITTER_ADMIN_PORT: '0', DELTAMETA_LOG_LEVEL: 'info' },
    });
    try {
      await service.waitReady();
      const answer = await post('api.spawned', createLines('spawned'), {}, `http://127.0.0.1:${service.apiPort}`);
      expect(answer.status, service.output.join('\n')).to.equal(201);
      expect(await (await fetch(service.adminUrl('/metrics'))).text()).to.match(/deltameta_commit_requests_total\{[^}]*outcome="committed"[^}]*\} 1/);
      const { rows } = await pool.query<{ role: string }>('SELECT usename AS role FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', ['deltameta-committer']);
      expect(rows.length).to.be.greaterThan(0);
      expect(new Set(rows.map((row) => row.role))).to.deep.equal(new Set(['deltameta_committer']));
    } finally {
      await service.terminate();
    }
  });

  it('counts outcomes in deltameta_commit_requests_total and deltameta_commit_duration_seconds', async () => {
    const text = await registry.metrics();
    for (const outcome of ['committed', 'already_committed', 'conflict', 'refused']) {
      const count = Number(new RegExp(`deltameta_commit_requests_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
      expect(count, outcome).to.be.greaterThan(0);
    }
    expect(text).to.match(/deltameta_commit_duration_seconds_count\{[^}]*outcome="committed"[^}]*\} [1-9]/);
  });
});
