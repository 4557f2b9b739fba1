/**
 * How the reader answers Delta Sharing's table endpoints, beside what the
 * official connector proves (sharing-query.test.ts): small answers through
 * the cache levels with the same bytes while their URL bucket lasts, the
 * signed URLs serving bytes and ranges, the Host header checked before it is
 * written into URLs, partition push-down returning exactly the partition's
 * files, `maxFiles` pages pinned to the first page's version while commits
 * land, `startingTimestamp`, and the protocol's errors for bad requests.
 * Tables generated (shared/delta generateTable) and imported with their
 * materialized state, as `deltameta import` does.
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable } from '../../shared/delta/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { importMaterialized } from '../../shared/materialized/index.ts';
import { fileTokenOfUrl } from '../../services/reader/index.ts';
import { createRecipient, shareTables } from '../../shared/sharing/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader, type RunningReader } from '../support/reader.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const ttlMs = 60_000;

interface Line {
  protocol?: unknown;
  metaData?: { partitionColumns?: string[]; version?: number };
  file?: { url: string; id: string; partitionValues: Record<string, string | null>; expirationTimestamp: number; version?: number };
  endStreamAction?: { nextPageToken?: string; minUrlExpirationTimestamp?: number };
}

describeWithEnv('delta sharing answers: cache levels, signed URLs, push-down, pages, errors', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let reader: RunningReader;
  let endpoint: string;
  let token: string;
  let tableDir: string;
  const base = '/shares/answers/schemas/main/tables';

  const post = async (table: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; lines: Line[]; headers: Headers }> => {
    const response = await fetch(`${endpoint}${base}/${table}/query`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
    });
    const text = await response.text();
    const lines = response.status === 200 ? text.trim().split('\n').map((line) => JSON.parse(line) as Line) : [];
    return { status: response.status, text, lines, headers: response.headers };
  };
  const get = async (target: string, method = 'GET'): Promise<{ status: number; text: string; headers: Headers }> => {
    const response = await fetch(`${endpoint}${target}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, text: await response.text(), headers: response.headers };
  };
  const files = (lines: Line[]): NonNullable<Line['file']>[] => lines.flatMap((line) => (line.file ? [line.file] : []));

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(2);
    tableDir = dirs.make('answers');
    await generateTable(tableDir, { files: 300, commits: 6, partitions: 5, checkpointInterval: 0, seed: 11, deletionVectors: false });
    await importMaterialized(pool, tableDir, 'answers_a');
    const plain = dirs.make('plain');
    await generateTable(plain, { files: 20, commits: 2, partitions: 0, checkpointInterval: 0, seed: 12, deletionVectors: false });
    await importMaterialized(pool, plain, 'answers_plain');
    await shareTables(pool, 'answers', 'main', ['answers_a', 'answers_plain']);
    const profileFile = path.join(dirs.make('profile'), 'r.share');
    await createRecipient(pool, { name: 'reader_one', shares: ['answers'], endpoint: 'http://127.0.0.1/delta-sharing', profileFile, expiresAt: null });
    token = (JSON.parse(readFileSync(profileFile, 'utf8')) as { bearerToken: string }).bearerToken;
    reader = await startTestReader(env, { DELTAMETA_READER_SHARING_URL_TTL_MS: String(ttlMs) }, ':sharing-answers');
    endpoint = `${reader.base}/delta-sharing`;
  });

  after(async function () {
    this.timeout(30_000);
    await reader.stop();
    await pool.end();
    dirs.removeAll();
  });

  it('a small answer goes through the cache levels: stored at L3, then the same bytes from L1; its URLs live at least the TTL', async () => {
    const startedMs = Date.now();
    const first = await post('answers_a', {});
    expect(first.status, first.text).to.equal(200);
    expect(first.headers.get('cache-status')).to.match(/fwd=miss; stored; detail=l3/);
    expect(first.headers.get('content-type')).to.equal('application/x-ndjson; charset=utf-8');
    expect(first.headers.get('delta-table-version')).to.equal('6');
    expect(first.lines[0]).to.have.property('protocol');
    expect(first.lines[1]?.metaData?.partitionColumns).to.have.length(1);
    const listed = files(first.lines);
    expect(listed).to.have.length(300);
    expect(new Set(listed.map((file) => file.id)).size).to.equal(300);
    for (const file of listed) {
      expect(file.expirationTimestamp - startedMs).to.be.at.least(ttlMs).and.at.most(ttlMs * 1.25 + 5000);
      expect(file.expirationTimestamp % (ttlMs / 4)).to.equal(0);
      expect(file.url.startsWith(`${endpoint}/files/`), file.url).to.equal(true);
    }
    const second = await post('answers_a', {});
    expect(second.headers.get('cache-status')).to.equal('deltameta; hit; detail=l1');
    expect(second.text).to.equal(first.text);
  });

  it('a signed URL serves the file and its byte ranges; a Host that is not a host name is refused before any URL is made', async () => {
    const [file] = files((await post('answers_a', {})).lines);
    expect(file).to.not.equal(undefined);
    const token64 = fileTokenOfUrl(file?.url ?? '');
    const relative = (JSON.parse(Buffer.from(token64.split('.')[0] ?? '', 'base64url').toString('utf8')) as [string, string, string, number])[2];
    const bytes = Buffer.from('PAR1 a generated file has no bytes: these stand in PAR1');
    mkdirSync(path.dirname(path.join(tableDir, relative)), { recursive: true });
    writeFileSync(path.join(tableDir, relative), bytes);
    const whole = await fetch(file?.url ?? '');
    expect(whole.status).to.equal(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).to.equal(true);
    const range = await fetch(file?.url ?? '', { headers: { range: 'bytes=5-13' } });
    expect(range.status).to.equal(206);
    expect(await range.text()).to.equal(bytes.subarray(5, 14).toString());
    const hostile = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${endpoint}${base}/answers_a/query`);
      const outgoing = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { host: 'evil.example"><x', authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      outgoing.on('error', reject);
      outgoing.end('{}');
    });
    expect(hostile.status).to.equal(400);
    expect(JSON.parse(hostile.body)).to.deep.include({ errorCode: 'INVALID_PARAMETER_VALUE' });
  });

  it('a partition equality is pushed into SQL and returns exactly that partition\'s files', async () => {
    const all = files((await post('answers_a', {})).lines);
    const column = Object.keys(all[0]?.partitionValues ?? {})[0] ?? '';
    const value = all.map((file) => file.partitionValues[column]).find((candidate) => candidate !== null && candidate !== undefined) ?? '';
    const predicate = { op: 'equal', children: [{ op: 'column', name: column, valueType: 'string' }, { op: 'literal', value, valueType: 'string' }] };
    const pruned = files((await post('answers_a', { jsonPredicateHints: JSON.stringify(predicate) })).lines);
    const expected = all.filter((file) => file.partitionValues[column] === value).map((file) => file.id).sort();
    expect(expected.length).to.be.above(0).and.below(all.length);
    expect(pruned.map((file) => file.id).sort()).to.deep.equal(expected);
  });

  it('a table beyond KEEP_MAX_FILES: its whole list streamed; an answer a limit or a predicate makes small kept, then from L1; one that stays big streamed', async function () {
    this.timeout(30_000);
    const all = files((await post('answers_a', {})).lines);
    const column = Object.keys(all[0]?.partitionValues ?? {})[0] ?? '';
    const value = all.map((file) => file.partitionValues[column]).find((candidate) => candidate !== null && candidate !== undefined) ?? '';
    const equal = { op: 'equal', children: [{ op: 'column', name: column, valueType: 'string' }, { op: 'literal', value, valueType: 'string' }] };
    // 300 files, 100 kept at most (100 KiB of lines): the table is big for this reader
    const keeper = await startTestReader(env, { DELTAMETA_READER_SHARING_URL_TTL_MS: String(ttlMs), DELTAMETA_READER_SHARING_KEEP_MAX_FILES: '100' }, ':sharing-answers-keep');
    const query = async (body: unknown): Promise<{ text: string; cacheStatus: string | null; timing: string | null; files: number }> => {
      const response = await fetch(`${keeper.base}/delta-sharing${base}/answers_a/query`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const text = await response.text();
      expect(response.status, text).to.equal(200);
      return { text, cacheStatus: response.headers.get('cache-status'), timing: response.headers.get('server-timing'), files: text.split('\n').filter((line) => line.startsWith('{"file"')).length };
    };
    try {
      for (let round = 0; round < 2; round++) {
        const whole = await query({});
        expect(whole.files).to.equal(300);
        expect(whole.cacheStatus).to.equal('deltameta; fwd=miss; detail=l3');
        expect(whole.timing).to.match(/desc="delta sharing, streamed"/);
      }
      const partition = all.filter((file) => file.partitionValues[column] === value).length;
      expect(partition).to.be.below(100);
      for (const body of [{ limitHint: 1 }, { jsonPredicateHints: JSON.stringify(equal) }]) {
        const first = await query(body);
        expect(first.cacheStatus, JSON.stringify(body)).to.match(/fwd=miss; stored; detail=l3/);
        expect(first.files).to.equal('limitHint' in body ? 1 : partition);
        const second = await query(body);
        expect(second.cacheStatus, JSON.stringify(body)).to.equal('deltameta; hit; detail=l1');
        expect(second.text).to.equal(first.text);
      }
      // equal OR NOT equal: every file with a partition value (NULL's is unknown: SQL drops it), >100 KiB of lines:
      // made, found too big, streamed; then streamed at once
      const everything = JSON.stringify({ op: 'or', children: [equal, { op: 'not', children: [equal] }] });
      const valued = all.filter((file) => file.partitionValues[column] !== null).length;
      expect(valued).to.be.above(150);
      const l1Misses = async (): Promise<number> => (await keeper.metrics.cacheRequestsTotal.get()).values.find((value) => value.labels['level'] === 'l1' && value.labels['result'] === 'miss')?.value ?? 0;
      const missesBefore = await l1Misses();
      for (let round = 0; round < 2; round++) {
        const big = await query({ jsonPredicateHints: everything });
        expect(big.files).to.equal(valued);
        expect(big.cacheStatus).to.equal('deltameta; fwd=miss; detail=l3');
        expect(big.timing).to.match(/desc="delta sharing, streamed"/);
        // tried through the cache levels the first time only: the second is streamed at once
        expect(await l1Misses() - missesBefore, `round ${round}`).to.equal(1);
      }
    } finally {
      await keeper.stop();
    }
  });

  it('maxFiles pages visit every file of the first page\'s version exactly once while commits land between them', async () => {
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await post('answers_a', { maxFiles: 70, ...(pageToken ? { pageToken } : {}) });
      expect(page.status, page.text).to.equal(200);
      expect(page.headers.get('delta-table-version')).to.equal('6');
      const end = page.lines.at(-1)?.endStreamAction;
      expect(end, 'the last line ends the stream').to.not.equal(undefined);
      seen.push(...files(page.lines).map((file) => file.id));
      pageToken = end?.nextPageToken;
      if (pages++ === 0) await commit(pool, { table: 'answers_a', actions: [{ kind: 'add', add: { path: 'late.parquet', partitionValues: { [Object.keys(files(page.lines)[0]?.partitionValues ?? {})[0] ?? 'p']: null }, size: 1, modificationTime: 1, dataChange: true } }] });
    } while (pageToken !== undefined && pages < 20);
    expect(pages).to.equal(5);
    expect(seen).to.have.length(300);
    expect(new Set(seen).size).to.equal(300);
    // The latest is what the reader's head tracker knows: no pipeline runs here, so it learns version 7 from PostgreSQL
    // when its safety TTL (DELTAMETA_READER_HEAD_SAFETY_TTL_MS) passes.
    let latest = await post('answers_a', {});
    await eventually('the new version served as the latest', async () => (latest = await post('answers_a', {})).headers.get('delta-table-version') === '7', 10_000);
    expect(files(latest.lines)).to.have.length(301);
  });

  it('version: the latest, or the earliest committed at or after startingTimestamp; the deprecated HEAD the same', async () => {
    const latest = await get(`${base}/answers_plain/version`);
    expect(latest.status).to.equal(200);
    expect(latest.text).to.equal('');
    expect(latest.headers.get('delta-table-version')).to.equal('2');
    expect((await get(`${base}/answers_plain`, 'HEAD')).headers.get('delta-table-version')).to.equal('2');
    const { rows } = await pool.query<{ version: string; timestamp_ms: string }>(
      "SELECT c.version, c.timestamp_ms FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'answers_plain' ORDER BY c.version",
    );
    const times = rows.map((row) => ({ version: Number(row.version), ms: Number(row.timestamp_ms) }));
    for (const probe of [times[0]!.ms - 60_000, times[1]!.ms, times[1]!.ms + 1, times[2]!.ms]) {
      const expected = times.find((time) => time.ms >= probe)?.version;
      const answer = await get(`${base}/answers_plain/version?startingTimestamp=${encodeURIComponent(new Date(probe).toISOString())}`);
      if (expected === undefined) {
        expect(answer.status).to.equal(400);
      } else {
        expect(answer.status, answer.text).to.equal(200);
        expect(answer.headers.get('delta-table-version'), new Date(probe).toISOString()).to.equal(String(expected));
      }
    }
    const after = await get(`${base}/answers_plain/version?startingTimestamp=${encodeURIComponent(new Date(times[2]!.ms + 60_000).toISOString())}`);
    expect(after.status).to.equal(400);
    expect(JSON.parse(after.text)).to.deep.include({ errorCode: 'INVALID_PARAMETER_VALUE' });
  });

  it('metadata goes through the cache levels per version and format; version says where it came from (Server-Timing)', async () => {
    const metadata = async (query: string, headers: Record<string, string> = {}): Promise<{ text: string; cacheStatus: string | null; version: string | null }> => {
      const response = await fetch(`${endpoint}${base}/answers_plain/metadata${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
      const text = await response.text();
      expect(response.status, text).to.equal(200);
      return { text, cacheStatus: response.headers.get('cache-status'), version: response.headers.get('delta-table-version') };
    };
    const first = await metadata('');
    expect(first.cacheStatus).to.match(/fwd=miss; stored; detail=l4/);
    expect(first.version).to.equal('2');
    const again = await metadata('');
    expect(again.cacheStatus).to.equal('deltameta; hit; detail=l1');
    expect(again.text).to.equal(first.text);
    expect(JSON.parse(first.text.split('\n')[1] ?? '{}')).to.not.have.nested.property('metaData.version');
    // another entry: the version asked (the line says it), the delta format
    const atOne = await metadata('?version=1');
    expect(atOne.cacheStatus).to.match(/fwd=miss; stored/);
    expect(atOne.version).to.equal('1');
    expect(JSON.parse(atOne.text.split('\n')[1] ?? '{}')).to.have.nested.property('metaData.version', 1);
    const delta = await metadata('', { 'delta-sharing-capabilities': 'responseformat=delta' });
    expect(delta.cacheStatus).to.match(/fwd=miss; stored/);
    expect(JSON.parse(delta.text.split('\n')[1] ?? '{}')).to.have.nested.property('metaData.deltaMetadata');
    expect((await get(`${base}/answers_plain/version`)).headers.get('server-timing')).to.match(/^head;dur=[\d.]+;desc="delta sharing version"$/);
    expect((await get(`${base}/answers_plain/version?startingTimestamp=2000-01-01T00:00:00Z`)).headers.get('server-timing')).to.match(/^l4;dur=/);
  });

  it('bad requests are the protocol\'s errors, naming what was wrong', async () => {
    const cases: Array<[() => Promise<{ status: number; text: string }>, number, string, RegExp]> = [
      [() => post('answers_a', { version: -1 }), 400, 'INVALID_PARAMETER_VALUE', /version/],
      [() => post('answers_a', { version: 99 }), 404, 'RESOURCE_DOES_NOT_EXIST', /version 99 does not exist/],
      [() => post('answers_a', { startingVersion: 5, endingVersion: 2 }), 400, 'INVALID_PARAMETER_VALUE', /endingVersion 2 is before startingVersion 5/],
      [() => post('answers_a', { maxFiles: 10, pageToken: 'forged.token' }), 400, 'INVALID_PARAMETER_VALUE', /pageToken/],
      [() => post('answers_nope', {}), 404, 'RESOURCE_DOES_NOT_EXIST', /answers_nope does not exist/],
      [() => get(`${base}/answers_plain/changes?startingVersion=0`), 400, 'INVALID_PARAMETER_VALUE', /change data feed is not enabled at version 0/],
      [() => get(`${base}/answers_plain/changes`), 400, 'INVALID_PARAMETER_VALUE', /startingVersion or startingTimestamp is required/],
      [() => get(`${base}/answers_plain/metadata?version=1&timestamp=2026-01-01%2000:00:00`), 400, 'INVALID_PARAMETER_VALUE', /not both/],
    ];
    for (const [request, status, errorCode, message] of cases) {
      const answer = await request();
      expect(answer.status, answer.text).to.equal(status);
      const body = JSON.parse(answer.text) as { errorCode: string; message: string };
      expect(body.errorCode, answer.text).to.equal(errorCode);
      expect(body.message).to.match(message);
    }
    // A page token of one request does not continue another (here: the same table with a hint).
    const page = await post('answers_a', { maxFiles: 10 });
    const nextPageToken = page.lines.at(-1)?.endStreamAction?.nextPageToken ?? '';
    const transplanted = await post('answers_a', { maxFiles: 10, pageToken: nextPageToken, limitHint: 5 });
    expect(transplanted.status, transplanted.text).to.equal(400);
  });
});
