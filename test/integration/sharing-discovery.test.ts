/**
 * Delta Sharing discovery (issue 16) end to end: shares, schemas, tables and
 * recipients configured with the real CLI against the suite's database, a
 * real reader (its /v1 tokens on, which sharing routes do not use), the
 * endpoints over HTTP, and the official Python connector (`delta-sharing`,
 * in its own venv) reading the profile the CLI wrote.
 */
import { expect } from 'chai';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { hashToken } from '../../services/reader/index.ts';
import { runDeltameta, type CliRun } from '../support/cli.ts';
import { runSharingClient } from '../support/delta-sharing.ts';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader, type RunningReader } from '../support/reader.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const created = (id: string): Action[] => [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
];

interface ListBody {
  items?: Array<Record<string, string>>;
  nextPageToken?: string;
}

describeWithEnv('delta sharing discovery', (env) => {
  const dirs = new TempDirs();
  const childEnv = { ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_REDIS_PREFIX: env.keyPrefix };
  const cli = (...args: string[]): Promise<CliRun> => runDeltameta(['sharing', ...args], childEnv);
  let pool: Pool;
  let reader: RunningReader;
  let dir: string;
  let endpoint: string;
  const profiles: Record<string, string> = {};
  const tokenOf = (recipient: string): string => (JSON.parse(readFileSync(profiles[recipient] ?? '', 'utf8')) as { bearerToken: string }).bearerToken;
  const get = async (target: string, recipient?: string): Promise<{ status: number; body: ListBody & Record<string, unknown>; headers: Headers }> => {
    const response = await fetch(`${endpoint}${target}`, { headers: recipient === undefined ? {} : { authorization: `Bearer ${tokenOf(recipient)}` } });
    return { status: response.status, body: await response.json() as ListBody & Record<string, unknown>, headers: response.headers };
  };
  /** Every item of a list, walking it `maxResults` at a time. */
  const walk = async (target: string, recipient: string, maxResults: number): Promise<Array<Record<string, string>>> => {
    const items: Array<Record<string, string>> = [];
    let token: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const answer = await get(`${target}?maxResults=${maxResults}${token === undefined ? '' : `&pageToken=${encodeURIComponent(token)}`}`, recipient);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body.items?.length ?? 0).to.be.at.most(maxResults);
      items.push(...(answer.body.items ?? []));
      token = answer.body.nextPageToken;
      if (token === undefined || token === '') return items;
    }
    throw new Error(`${target} did not end within 50 pages`);
  };

  before(async function () {
    this.timeout(60_000);
    pool = env.pool(2);
    for (const table of ['sales_eu', 'sales_us', 'sales_asia', 'hr_people', 'sales_Mixed']) await commit(pool, { table, actions: created(table) });
    dir = dirs.make('sharing');
    const tokensFile = path.join(dir, 'v1-tokens.json');
    writeFileSync(tokensFile, JSON.stringify([{ name: 'v1', sha256: hashToken('v1-secret'), tablePrefixes: ['*'] }]));
    reader = await startTestReader(env, { DELTAMETA_READER_TOKENS_FILE: tokensFile, DELTAMETA_READER_SHARING_RELOAD_MS: '100' }, ':sharing');
    endpoint = `${reader.base}/delta-sharing`;
  });

  after(async function () {
    this.timeout(30_000);
    await reader.stop();
    await pool.end();
    dirs.removeAll();
  });

  it('the CLI configures shares and recipients; bad input is exit 2 naming it, with nothing changed', async function () {
    this.timeout(300_000);
    const europe = await cli('share', 'retail', 'europe', 'sales_eu', '--as', 'eu_sales');
    expect(europe.code, europe.stderr).to.equal(0);
    const world = await cli('share', 'retail', 'world', 'sales_*');
    expect(world.code, world.stderr).to.equal(0);
    const hr = await cli('share', 'hr', 'people', 'hr_people', 'hr_missing');
    expect(hr.code, hr.stderr).to.equal(0);
    expect(hr.stderr).to.match(/warning: hr_missing matches no deltameta table now/);
    const before = (await cli('list', '--json')).stdout;
    const refused: Array<[string[], RegExp]> = [
      [['share', 'Retail', 'world', 'sales_us'], /share name "Retail" is not valid: lowercase letters/],
      [['share', 'retail', 'world', 'sales_Mixed'], /cannot be shared under its own name .* give --as/],
      [['share', 'retail', 'world', 'sales_us', 'sales_eu', '--as', 'two'], /--as names one table/],
      [['share', 'retail', 'world', 'bad name'], /table "bad name" is not a deltameta table name/],
      [['share', 'retail'], /missing required argument/],
      [['share', 'retail', 'europe', 'sales_us', '--as', 'eu_sales'], /already shares table "sales_eu" as eu_sales/],
      [['recipient', 'carol', '--share', 'retail,nope', '--profile', path.join(dir, 'carol.share')], /no share named nope/],
      [['recipient', 'carol', '--share', 'retail', '--profile', path.join(dir, 'carol.share'), '--expires-in', '5x'], /--expires-in must be/],
      [['recipient', 'carol', '--share', 'retail', '--profile', path.join(dir, 'carol.share'), '--endpoint', 'ftp://x'], /--endpoint must be an http\(s\) URL/],
      [['recipient', 'carol', '--share', 'retail', '--profile', path.join(dir, 'v1-tokens.json')], /cannot write the profile .*: it exists \(a profile is never overwritten\)/],
      [['unshare', 'retail', 'world', 'sales_zz*'], /has no table or prefix "sales_zz\*"/],
      [['revoke', 'nobody'], /no recipient named nobody/],
    ];
    // None of them changes anything: they run side by side (each is a node process start).
    const runs = await Promise.all(refused.map(([args]) => cli(...args)));
    for (const [index, [args, message]] of refused.entries()) {
      const run = runs[index];
      expect(run?.code, `${args.join(' ')}: ${run?.stderr}`).to.equal(2);
      expect(run?.stderr, args.join(' ')).to.match(message);
    }
    expect(existsSync(path.join(dir, 'carol.share'))).to.equal(false);
    expect((await cli('list', '--json')).stdout).to.equal(before);
    expect(readFileSync(path.join(dir, 'v1-tokens.json'), 'utf8')).not.to.contain('bearerToken');

    endpoint = `${reader.base}/delta-sharing`;
    for (const [name, shares] of [['alice', 'retail,hr'], ['bob', 'hr'], ['eve', 'retail']] as const) {
      profiles[name] = path.join(dir, `${name}.share`);
      const made = await cli('recipient', name, '--share', shares, '--profile', profiles[name] ?? '', '--endpoint', endpoint);
      expect(made.code, made.stderr).to.equal(0);
      const profile = JSON.parse(readFileSync(profiles[name] ?? '', 'utf8')) as Record<string, unknown>;
      expect(profile).to.have.keys(['shareCredentialsVersion', 'endpoint', 'bearerToken']);
      expect(profile['shareCredentialsVersion']).to.equal(1);
      expect(profile['bearerToken']).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(profiles[name] ?? '').mode & 0o777).to.equal(0o600);
      expect(made.stdout + made.stderr).not.to.contain(String(profile['bearerToken']));
    }
    const again = await cli('recipient', 'bob', '--share', 'hr', '--profile', path.join(dir, 'bob2.share'));
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/recipient bob exists: revoke it first/);
    const listed = await cli('list');
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/share retail/).and.to.match(/prefix sales_\*/).and.to.match(/table eu_sales \(deltameta table sales_eu\)/).and.to.match(/recipient alice \[active\] shares hr,retail/);
    for (const name of ['alice', 'bob', 'eve']) expect(listed.stdout).not.to.contain(tokenOf(name));
  });

  it('authenticates recipients with their own tokens, never the /v1 ones: 401 UNAUTHENTICATED without', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer v1-secret' }, { authorization: 'Basic abc' }, { authorization: `Bearer ${tokenOf('alice')}x` }]) {
      const response = await fetch(`${endpoint}/shares`, { headers });
      expect(response.status).to.equal(401);
      expect(response.headers.get('www-authenticate')).to.match(/^Bearer/);
      const body = await response.json() as Record<string, unknown>;
      expect(body).to.have.keys(['errorCode', 'message']);
      expect(body['errorCode']).to.equal('UNAUTHENTICATED');
    }
    expect((await fetch(`${reader.base}/v1/tables`, { headers: { authorization: `Bearer ${tokenOf('alice')}` } })).status).to.equal(401);
    expect((await fetch(`${reader.base}/v1/tables`, { headers: { authorization: 'Bearer v1-secret' } })).status).to.equal(200);
  });

  it('lists what the configuration shares with each recipient, prefixes expanded now, paged exactly once', async function () {
    this.timeout(30_000);
    const shares = await get('/shares', 'alice');
    expect(shares.status).to.equal(200);
    expect(shares.headers.get('content-type')).to.match(/^application\/json/);
    expect(shares.body.items?.map((item) => item.name)).to.deep.equal(['hr', 'retail']);
    expect(shares.body.items?.every((item) => /^[0-9a-f-]{36}$/.test(item.id ?? ''))).to.equal(true);
    expect((await get('/shares', 'bob')).body.items?.map((item) => item.name)).to.deep.equal(['hr']);
    const share = await get('/shares/RETAIL', 'alice');
    expect(share.body).to.deep.equal({ share: { name: 'retail', id: shares.body.items?.[1]?.id } });

    const allTables = ['europe.eu_sales', 'world.sales_asia', 'world.sales_eu', 'world.sales_us'];
    for (const maxResults of [1, 2, 1000]) {
      expect((await walk('/shares', 'alice', maxResults)).map((item) => item.name)).to.deep.equal(['hr', 'retail']);
      expect((await walk('/shares/retail/schemas', 'alice', maxResults))).to.deep.equal([{ name: 'europe', share: 'retail' }, { name: 'world', share: 'retail' }]);
      const tables = await walk('/shares/retail/all-tables', 'alice', maxResults);
      expect(tables.map((item) => `${item.schema}.${item.name}`)).to.deep.equal(allTables);
      expect(tables.every((item) => item.share === 'retail' && item.shareId === (share.body.share as { id: string }).id)).to.equal(true);
      expect((await walk('/shares/retail/schemas/world/tables', 'alice', maxResults)).map((item) => item.name)).to.deep.equal(['sales_asia', 'sales_eu', 'sales_us']);
    }
    const tables = await walk('/shares/retail/all-tables', 'alice', 1000);
    expect(Object.keys(tables[0] ?? {}).sort()).to.deep.equal(['id', 'name', 'schema', 'share', 'shareId']);
    expect(new Set(tables.map((item) => item.id)).size).to.equal(tables.length);
    const listed = JSON.parse((await cli('list', '--json')).stdout) as { shares: Array<{ name: string; schemas: Array<{ name: string; tables: Array<{ name?: string; id?: string }> }> }> };
    const euId = listed.shares.find((entry) => entry.name === 'retail')?.schemas.find((schema) => schema.name === 'europe')?.tables[0]?.id;
    expect(tables[0]?.id).to.equal(euId);
    // hr_missing does not exist (yet): not listed; created, it is, like a new table under a prefix.
    expect((await walk('/shares/hr/all-tables', 'bob', 1)).map((item) => item.name)).to.deep.equal(['hr_people']);
    await commit(pool, { table: 'sales_new', actions: created('sales_new') });
    await commit(pool, { table: 'hr_missing', actions: created('hr_missing') });
    expect((await walk('/shares/retail/schemas/world/tables', 'alice', 1)).map((item) => item.name)).to.deep.equal(['sales_asia', 'sales_eu', 'sales_new', 'sales_us']);
    expect((await walk('/shares/hr/all-tables', 'bob', 1)).map((item) => item.name)).to.deep.equal(['hr_missing', 'hr_people']);
    // The ids are stable from one request to the next.
    expect((await walk('/shares/retail/all-tables', 'alice', 1000)).filter((item) => item.name !== 'sales_new')).to.deep.equal(tables);

    const zero = await get('/shares?maxResults=0', 'alice');
    expect(zero.body.items ?? []).to.deep.equal([]);
    expect(zero.body.nextPageToken).to.be.a('string');
    const capped = await get('/shares/retail/all-tables?maxResults=5000', 'alice');
    expect(capped.status).to.equal(200);
    expect(capped.body.items).to.have.length(5);
  });

  it('refuses bad parameters, tampered or transplanted page tokens (400), unknown or ungranted shares (404)', async () => {
    for (const query of ['maxResults=-1', 'maxResults=abc', 'maxResults=1.5', 'maxResults=99999999999', 'maxResults=1&maxResults=2']) {
      const answer = await get(`/shares?${query}`, 'alice');
      expect(answer.status, query).to.equal(400);
      expect(answer.body['errorCode']).to.equal('INVALID_PARAMETER_VALUE');
      expect(answer.body['message']).to.contain('maxResults');
    }
    const first = await get('/shares/retail/all-tables?maxResults=1', 'alice');
    const token = first.body.nextPageToken ?? '';
    const tampered = `${token.slice(0, -2)}${token.endsWith('A') ? 'B' : 'A'}${token.slice(-1)}`;
    for (const [target, recipient] of [
      [`/shares/retail/all-tables?pageToken=${encodeURIComponent(tampered)}`, 'alice'],
      [`/shares/retail/all-tables?pageToken=garbage`, 'alice'],
      [`/shares/retail/schemas?pageToken=${encodeURIComponent(token)}`, 'alice'],
      [`/shares/retail/all-tables?pageToken=${encodeURIComponent(token)}`, 'eve'],
    ] as const) {
      const answer = await get(target, recipient);
      expect(answer.status, target).to.equal(400);
      expect(answer.body['errorCode']).to.equal('INVALID_PARAMETER_VALUE');
      expect(answer.body['message']).to.contain('pageToken');
    }
    for (const [target, recipient] of [
      ['/shares/nope', 'alice'], ['/shares/nope/schemas', 'alice'], ['/shares/retail', 'bob'], ['/shares/retail/all-tables', 'bob'],
      ['/shares/retail/schemas/nope/tables', 'alice'], ['/shares/retail/schemas/world/tables/x/y', 'alice'],
    ] as const) {
      const answer = await get(target, recipient);
      expect(answer.status, target).to.equal(404);
      expect(answer.body).to.have.keys(['errorCode', 'message']);
      expect(answer.body['errorCode']).to.equal('RESOURCE_DOES_NOT_EXIST');
    }
  });

  it('the official connector lists what the configuration shares; a recipient without the share gets its error', async function () {
    this.timeout(600_000);
    const shares = await runSharingClient(profiles['alice'] ?? '', 'list_shares');
    expect(shares).to.deep.equal({ names: ['hr', 'retail'] });
    const all = await runSharingClient(profiles['alice'] ?? '', 'list_all_tables');
    expect(all.names).to.deep.equal([
      'hr.people.hr_missing', 'hr.people.hr_people', 'retail.europe.eu_sales', 'retail.world.sales_asia', 'retail.world.sales_eu', 'retail.world.sales_new', 'retail.world.sales_us',
    ]);
    expect(await runSharingClient(profiles['alice'] ?? '', 'list_tables', 'retail', 'europe')).to.deep.equal({ names: ['retail.europe.eu_sales'] });
    const refused = await runSharingClient(profiles['bob'] ?? '', 'list_schemas', 'retail');
    expect(refused.error).to.equal(404);
    expect(refused.message).to.contain('RESOURCE_DOES_NOT_EXIST');
  });

  it('a revoked or expired recipient is refused without a restart; a revoked name can be issued again', async function () {
    this.timeout(120_000);
    expect((await cli('revoke', 'eve')).stdout).to.match(/recipient eve: revoked/);
    await eventually('the revocation to be served', async () => (await get('/shares', 'eve')).status === 401, 5000);
    expect((await get('/shares', 'eve')).body['message']).to.contain('revoked');
    expect((await runSharingClient(profiles['eve'] ?? '', 'list_shares')).error).to.equal(401);
    profiles['eve'] = path.join(dir, 'eve-2.share');
    expect((await cli('recipient', 'eve', '--share', 'hr', '--profile', profiles['eve'], '--endpoint', endpoint)).code).to.equal(0);
    await eventually('the new token to be served', async () => (await get('/shares', 'eve')).status === 200, 5000);
    expect((await get('/shares', 'eve')).body.items?.map((item) => item.name)).to.deep.equal(['hr']);

    profiles['dave'] = path.join(dir, 'dave.share');
    expect((await cli('recipient', 'dave', '--share', 'hr', '--profile', profiles['dave'], '--endpoint', endpoint, '--expires-in', '2s')).code).to.equal(0);
    expect(JSON.parse(readFileSync(profiles['dave'], 'utf8'))).to.have.property('expirationTime').that.matches(/^\d{4}-\d\d-\d\dT/);
    await eventually('dave to be served', async () => (await get('/shares', 'dave')).status === 200, 5000);
    await eventually('dave to expire', async () => (await get('/shares', 'dave')).status === 401, 5000);
    expect((await get('/shares', 'dave')).body['message']).to.contain('expired');
  });
});
