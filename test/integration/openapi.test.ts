/**
 * The HTTP contracts (docs/contracts/): the OpenAPI documents the reader
 * and the committer serve at GET /v1/openapi.json, generated from their
 * routes' schemas, are valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)
 * and describe what the services really answer: every status code and
 * content type of real requests (reader: 200, 304, 400, 401, 404, 410;
 * committer: 201, 400, 404, 409) is documented for its route, and every
 * JSON body (and each NDJSON line) validates against its documented schema
 * with ajv. The document needs no token when access control is on; the
 * routes still do.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'chai';
import { committerMetrics, loadCommitterConfig, startCommitter, type Committer } from '../../services/committer/index.ts';
import { AccessControl, Reader, hashToken } from '../../services/reader/index.ts';
import { loadReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { describeWithEnv, type TestEnv } from '../support/env.ts';

const logger = createLogger('openapi-test', 'silent');
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const table = 'contract.api';
const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const createLines = [
  JSON.stringify({ commitInfo: { operation: 'CREATE TABLE' } }),
  JSON.stringify({ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }),
  JSON.stringify({ metaData: { id: 'c0ffee00-0000-4000-8000-0000000a0a11', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } }),
];
const addLine = (name: string): string => JSON.stringify({ add: { path: `${name}.parquet`, partitionValues: {}, size: 100, modificationTime: 1_700_000_000_000, dataChange: true } });

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: object; 'x-ndjson-line'?: object }> }> }>>;
}

async function startReader(env: TestEnv, access?: AccessControl): Promise<{ base: string; stop: () => Promise<void> }> {
  const redis = env.redis();
  const reader = new Reader({
    config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }), defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger,
    metrics: readerMetrics(createRegistry('openapi-test')), ...(access ? { access } : {}),
  });
  await reader.start();
  return { base: `http://127.0.0.1:${reader.port}`, stop: async () => { await reader.stop(); redis.disconnect(); } };
}

describeWithEnv('HTTP contracts: OpenAPI of the reader and the committer, checked against real answers', (env) => {
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  ajv.addFormat('binary', true);
  const compiled = new Map<object, ValidateFunction>();
  const stops: Array<() => Promise<void>> = [];
  let pool: Pool;
  let committer: Committer;
  let committerBase: string;
  let readerBase: string;
  const documents = new Map<string, OpenApiDocument>();
  /** Every (service, route, status, content type) a real answer had. */
  const seen = new Set<string>();

  before(async function () {
    this.timeout(60_000);
    pool = env.pool(2);
    committer = await startCommitter({ config: loadCommitterConfig(env.config.postgresUrl, { DELTAMETA_COMMITTER_PORT: '0' }), logger, metrics: committerMetrics(createRegistry('openapi-test')) });
    committerBase = `http://127.0.0.1:${committer.port}`;
    const reader = await startReader(env);
    stops.push(reader.stop);
    readerBase = reader.base;
  });

  after(async function () {
    this.timeout(30_000);
    for (const stop of stops.splice(0)) await stop();
    await committer.stop();
    await pool.end();
  });

  async function documentOf(base: string): Promise<OpenApiDocument> {
    let document = documents.get(base);
    if (!document) {
      const response = await fetch(`${base}/v1/openapi.json`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^application\/json/);
      documents.set(base, (document = await response.json() as OpenApiDocument));
    }
    return document;
  }

  function validatorOf(schema: object): ValidateFunction {
    let validate = compiled.get(schema);
    if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
    return validate;
  }

  /** Sends the request and checks its answer against the service's document: status and content type documented, body valid. */
  async function check(base: string, method: 'GET' | 'POST', route: string, url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
    const document = await documentOf(base);
    const response = await fetch(`${base}${url}`, { method, ...init });
    const text = await response.text();
    const label = `${method} ${url} → ${response.status}`;
    const operation = document.paths[route]?.[method.toLowerCase()];
    expect(operation, `${route} is documented`).to.not.equal(undefined);
    const documented = operation?.responses[String(response.status)];
    expect(documented, `${label}: status documented (${text.slice(0, 200)})`).to.not.equal(undefined);
    const contentType = response.headers.get('content-type')?.split(';')[0]?.trim();
    seen.add(`${base === committerBase ? 'committer' : 'reader'} ${route} ${response.status} ${contentType ?? '-'}`);
    if (response.status === 304) return { status: response.status, headers: response.headers, text };
    const media = contentType === undefined ? undefined : documented?.content?.[contentType];
    expect(media, `${label}: content type ${contentType} documented`).to.not.equal(undefined);
    const bodies = media?.['x-ndjson-line'] ? text.split('\n').filter((line) => line !== '').map((line) => [JSON.parse(line), media['x-ndjson-line']] as const)
      : contentType?.endsWith('json') && media?.schema ? [[JSON.parse(text), media.schema] as const] : [];
    if (contentType?.endsWith('json') || contentType === 'application/x-ndjson') expect(bodies.length, `${label}: a body checked`).to.be.greaterThan(0);
    for (const [body, schema] of bodies) {
      const validate = validatorOf(schema as object);
      expect(validate(body), `${label}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 300)}`).to.equal(true);
    }
    return { status: response.status, headers: response.headers, text };
  }

  it('both documents are valid OpenAPI 3.1 with the /v1 routes and the commit API, and nothing else', async () => {
    for (const [base, paths] of [
      [readerBase, ['/v1/tables', '/v1/tables/{name}', '/v1/tables/{name}/commits', '/v1/tables/{name}/files']],
      [committerBase, ['/v1/tables/{name}/commits']],
    ] as const) {
      const document = await documentOf(base);
      expect(document.openapi).to.equal('3.1.0');
      const result = await new Validator().validate(document as unknown as Parameters<Validator['validate']>[0]);
      expect(result.valid, String(JSON.stringify(result.errors)).slice(0, 1000)).to.equal(true);
      expect(Object.keys(document.paths).sort()).to.deep.equal([...paths].sort());
    }
    expect(Object.keys((await documentOf(committerBase)).paths['/v1/tables/{name}/commits'] ?? {})).to.deep.equal(['post']);
  });

  it('the committer answers as documented: 201, 400, 404, 409', async function () {
    this.timeout(30_000);
    const route = '/v1/tables/{name}/commits';
    const url = `/v1/tables/${encodeURIComponent(table)}/commits`;
    const post = (body: string, headers: Record<string, string>): Promise<{ status: number }> => check(committerBase, 'POST', route, url, { body, headers: { 'content-type': 'application/x-ndjson', ...headers } });
    expect((await post(`${createLines.join('\n')}\n`, { 'delta-read-version': '-1' })).status).to.equal(201);
    expect((await post(`${addLine('a')}\n`, { 'delta-blind-append': 'true' })).status).to.equal(201);
    const envelope = JSON.stringify({ isBlindAppend: true, actions: [JSON.parse(addLine('b')) as object] });
    expect((await check(committerBase, 'POST', route, url, { body: envelope, headers: { 'content-type': 'application/json' } })).status).to.equal(201);
    expect((await post(`${createLines.join('\n')}\n`, { 'delta-read-version': '-1' })).status, 'created again').to.equal(409);
    expect((await post('{"add": {"path": 7}}\n', { 'delta-blind-append': 'true' })).status).to.equal(400);
    expect((await check(committerBase, 'POST', route, '/v1/tables/contract.nothing/commits', { body: `${addLine('x')}\n`, headers: { 'content-type': 'application/x-ndjson' } })).status).to.equal(404);
  });

  it('the reader answers as documented: 200 (JSON, NDJSON, Arrow), 304, 400, 404, 410', async function () {
    this.timeout(30_000);
    const name = encodeURIComponent(table);
    const listed = await check(readerBase, 'GET', '/v1/tables', '/v1/tables');
    expect(listed.text).to.contain(table);
    const etag = listed.headers.get('etag') ?? '';
    expect((await check(readerBase, 'GET', '/v1/tables', '/v1/tables', { headers: { 'if-none-match': etag } })).status).to.equal(304);
    expect((await check(readerBase, 'GET', '/v1/tables', '/v1/tables?pageSize=0')).status).to.equal(400);
    for (const [route, suffix] of [['/v1/tables/{name}', ''], ['/v1/tables/{name}/files', '/files'], ['/v1/tables/{name}/commits', '/commits?from=0&actions=true']] as const) {
      const url = `/v1/tables/${name}${suffix}`;
      const answer = await check(readerBase, 'GET', route, url);
      expect(answer.status, url).to.equal(200);
      expect((await check(readerBase, 'GET', route, url, { headers: { 'if-none-match': answer.headers.get('etag') ?? '' } })).status).to.equal(304);
      expect((await check(readerBase, 'GET', route, `/v1/tables/contract.nothing${suffix}`)).status).to.equal(404);
      expect((await check(readerBase, 'GET', route, `${url}${suffix.includes('?') ? '&' : '?'}version=x`)).status).to.equal(400);
    }
    const arrow = await check(readerBase, 'GET', '/v1/tables/{name}/files', `/v1/tables/${name}/files`, { headers: { accept: 'application/vnd.apache.arrow.stream' } });
    expect(arrow.status).to.equal(200);
    expect(arrow.headers.get('content-type')).to.equal('application/vnd.apache.arrow.stream');
    expect((await check(readerBase, 'GET', '/v1/tables/{name}/commits', `/v1/tables/${name}/commits?from=5`)).status, 'from after the head').to.equal(400);
    await pool.query('UPDATE deltameta.delta_table SET log_start_version = 1 WHERE name = $1', [table]);
    try {
      // A reader of its own: this one keeps what it resolved of the table.
      const fresh = await startReader(env);
      stops.push(fresh.stop);
      for (const [route, suffix] of [['/v1/tables/{name}', ''], ['/v1/tables/{name}/files', '/files']] as const) {
        expect((await check(fresh.base, 'GET', route, `/v1/tables/${name}${suffix}?version=0`)).status).to.equal(410);
      }
    } finally {
      await pool.query('UPDATE deltameta.delta_table SET log_start_version = 0 WHERE name = $1', [table]);
    }
    for (const status of ['200 application/vnd.apache.arrow.stream', '200 application/json', '200 application/x-ndjson', '304 -', '400 application/problem+json', '404 application/problem+json', '410 application/problem+json']) {
      expect([...seen].some((entry) => entry.startsWith('reader') && entry.endsWith(status)), status).to.equal(true);
    }
  });

  it('every documented query parameter is one the route reads: a malformed value is a 400 naming it', async function () {
    this.timeout(30_000);
    const document = await documentOf(readerBase);
    let checked = 0;
    for (const [route, methods] of Object.entries(document.paths)) {
      const parameters = (methods['get'] as unknown as { parameters?: Array<{ in: string; name: string }> }).parameters ?? [];
      for (const { name } of parameters.filter((parameter) => parameter.in === 'query')) {
        const url = `${route.replace('{name}', encodeURIComponent(table))}?${name}=${encodeURIComponent('not one!')}`;
        const answer = await check(readerBase, 'GET', route, url);
        expect(answer.status, url).to.equal(400);
        expect((JSON.parse(answer.text) as { detail: string }).detail, url).to.contain(name);
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(15);
  });

  it('with access control on, the document needs no token; the routes still do (401 as documented)', async function () {
    this.timeout(30_000);
    const reader = await startReader(env, AccessControl.fromGrants([{ name: 'all', sha256: hashToken('s3cret'), tablePrefixes: ['*'] }]));
    stops.push(reader.stop);
    const response = await fetch(`${reader.base}/v1/openapi.json`);
    expect(response.status).to.equal(200);
    expect(Object.keys((await response.json() as OpenApiDocument).paths)).to.have.length(4);
    expect((await check(reader.base, 'GET', '/v1/tables', '/v1/tables')).status).to.equal(401);
    expect((await check(reader.base, 'GET', '/v1/tables/{name}', `/v1/tables/${encodeURIComponent(table)}`)).status).to.equal(401);
    expect((await check(reader.base, 'GET', '/v1/tables', '/v1/tables', { headers: { authorization: 'Bearer s3cret' } })).status).to.equal(200);
    expect((await fetch(`${reader.base}/v1/openapi.json/x`)).status, 'only the document itself is public').to.equal(404);
  });
});
