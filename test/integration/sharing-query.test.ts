/**
 * Delta Sharing (issue 16), the data: tables written by delta-rs with real
 * Parquet data, imported with their whole history, shared with the real CLI,
 * read through a real reader by the official Python connector
 * (`delta-sharing`, its own venv) and compared with what delta-rs reads from
 * the same folders: the rows at the latest version, at `version=` and at
 * `timestamp=`; `limit=`; `jsonPredicateHints` pruning files without losing a
 * matching row; a 10k-file table paged with maxFiles/pageToken; the signed
 * file URLs (ranges, tampering, expiry); a recipient without the share.
 * Change data feed: sharing-changes.test.ts.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureDeltaSharingVenv, runSharingClient, runSharingConnector } from '../support/delta-sharing.ts';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader } from '../support/reader.ts';
import { endStreamOf, filesOf, startSharingSuite, urlKey, type SharingSuite } from '../support/sharing-suite.ts';
import { deltaRsFiles, deltaRsRows, deltaRsVersionAt, writeSharingTable, type Row } from '../support/sharing-tables.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const manyFiles = 10_240;
const paged = 'responseformat=parquet;includeendstreamaction=true';

const column = (name: string, valueType: string): Record<string, string> => ({ op: 'column', name, valueType });
const literal = (value: string, valueType: string): Record<string, string> => ({ op: 'literal', value, valueType });
const inEurope = JSON.stringify({ op: 'equal', children: [column('region', 'string'), literal('eu', 'string')] });
const idFrom500 = JSON.stringify({ op: 'greaterThanOrEqual', children: [column('id', 'long'), literal('500', 'long')] });

const key = (row: Row): string => JSON.stringify(row, Object.keys(row).sort());

/** Whether every row of `part` is a row of `whole`, counting duplicates. */
function isSubMultiset(part: readonly Row[], whole: readonly Row[]): boolean {
  const counts = new Map<string, number>();
  for (const row of whole) counts.set(key(row), (counts.get(key(row)) ?? 0) + 1);
  for (const row of part) {
    const left = counts.get(key(row)) ?? 0;
    if (left === 0) return false;
    counts.set(key(row), left - 1);
  }
  return true;
}

/** The Parquet file of `dir` (recursively) whose bytes are `bytes`. */
function fileWithBytes(dir: string, bytes: Buffer): string | undefined {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile() && entry.name.endsWith('.parquet') && statSync(file).size === bytes.length && readFileSync(file).equals(bytes)) return file;
  }
  return undefined;
}

describeWithEnv('delta sharing: the official connector reads shared tables', (env) => {
  const dirs = new TempDirs();
  let suite: SharingSuite;
  let events: string;
  let many: string;

  before(async function () {
    this.timeout(240_000);
    events = dirs.make('sq-events');
    many = dirs.make('sq-many');
    await Promise.all([writeSharingTable('partitioned', events), writeSharingTable('many', many, manyFiles), ensureDeltaSharingVenv()]);
    suite = await startSharingSuite(env, dirs.make('sq-profiles'), { sq_events: events, sq_many: many }, 'sq_events');
  });

  after(async function () {
    this.timeout(30_000);
    await suite?.stop();
    dirs.removeAll();
  });

  const load = (...args: string[]): ReturnType<typeof runSharingConnector> => runSharingConnector(['load', suite.url('alice', 'sq_events'), ...args]);

  it('list_shares and list_all_tables list what the configuration shares with each recipient', async function () {
    this.timeout(60_000);
    const [shares, tables, bobShares, bobTables] = await Promise.all([
      runSharingClient(suite.profiles.alice, 'list_shares'), runSharingClient(suite.profiles.alice, 'list_all_tables'),
      runSharingClient(suite.profiles.bob, 'list_shares'), runSharingClient(suite.profiles.bob, 'list_all_tables'),
    ]);
    expect(shares).to.deep.equal({ names: ['lake'] });
    expect(tables).to.deep.equal({ names: ['lake.main.sq_events', 'lake.main.sq_many'] });
    expect(bobShares).to.deep.equal({ names: ['other'] });
    expect(bobTables).to.deep.equal({ names: ['other.misc.sq_events'] });
  });

  it('load_as_pandas returns the rows delta-rs reads: at the latest version, with version= and with timestamp=', async function () {
    this.timeout(120_000);
    const { rows: commits } = await suite.pool.query<{ version: string; timestamp_ms: string }>(
      `SELECT c.version, c.timestamp_ms FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'sq_events' ORDER BY c.version`,
    );
    const times = commits.map((row) => Number(row.timestamp_ms));
    expect(times).to.have.length(5);
    // The writer put v3 in the wall-clock second after v2: a whole second lies between them.
    const between = Math.ceil((times[2] ?? 0) / 1000) * 1000;
    expect(between).to.be.greaterThan(times[2] ?? 0).and.lessThan(times[3] ?? 0);
    const timestamp = new Date(between).toISOString().replace('.000Z', 'Z');
    expect(await deltaRsVersionAt(events, timestamp)).to.equal(2);

    const [latest, atOne, atThree, atTwo] = await Promise.all([deltaRsRows(events), deltaRsRows(events, 1), deltaRsRows(events, 3), deltaRsRows(events, 2)]);
    expect(latest.version).to.equal(4);
    const [shared, sharedOne] = await Promise.all([load(), load('--version', '1')]);
    expect(shared.error, shared.message).to.equal(undefined);
    expect(shared.count).to.equal(latest.count);
    expect(shared.rows).to.deep.equal(latest.rows);
    expect(sharedOne.rows).to.deep.equal(atOne.rows);
    const [sharedThree, sharedAt] = await Promise.all([load('--version', '3'), load('--timestamp', timestamp)]);
    expect(sharedThree.rows).to.deep.equal(atThree.rows);
    expect(sharedAt.error, sharedAt.message).to.equal(undefined);
    expect(sharedAt.rows).to.deep.equal(atTwo.rows);
    // The protocol's own timestamp form (`yyyy-mm-dd hh:mm:ss`, UTC here): the metaData and each file say version 2.
    const raw = await suite.query('sq_events', { timestamp: timestamp.replace('T', ' ').replace('Z', '') });
    expect(raw.status, raw.text).to.equal(200);
    expect(raw.lines[1]?.['metaData']?.['version']).to.equal(2);
    expect(new Set(filesOf(raw).map((file) => file['version']))).to.deep.equal(new Set([2]));
    // The versions differ (the fixture changes rows at each version): the comparisons above are not vacuous.
    expect(new Set([latest, atOne, atTwo, atThree].map((answer) => answer.count)).size).to.equal(4);

    const [version, versionFrom] = await Promise.all([
      runSharingConnector(['version', suite.url('alice', 'sq_events')]),
      runSharingConnector(['version', suite.url('alice', 'sq_events'), '--starting-timestamp', timestamp]),
    ]);
    expect(version.version).to.equal(4);
    expect(versionFrom.version, 'the earliest version at or after the timestamp').to.equal(3);
  });

  it('get_table_metadata answers the metadata the log holds; the metadata endpoint time-travels with version=', async function () {
    this.timeout(60_000);
    const logLines = readFileSync(path.join(events, '_delta_log', '00000000000000000000.json'), 'utf8').split('\n').filter((line) => line !== '');
    const logged = logLines.map((line) => JSON.parse(line) as { metaData?: { id: string; schemaString: string; partitionColumns: string[] } }).find((action) => action.metaData)?.metaData;
    const answer = await runSharingConnector(['metadata', suite.url('alice', 'sq_events')]);
    expect(answer.error, answer.message).to.equal(undefined);
    expect(answer.metadata?.id).to.equal(logged?.id);
    expect(answer.metadata?.partitionColumns).to.deep.equal(['region']);
    expect(JSON.parse(answer.metadata?.schemaString ?? 'null')).to.deep.equal(JSON.parse(logged?.schemaString ?? ''));
    const atOne = await suite.get('sq_events', 'metadata?version=1');
    expect(atOne.status, atOne.text).to.equal(200);
    expect(atOne.headers.get('delta-table-version')).to.equal('1');
    expect(atOne.lines[1]?.['metaData']).to.include({ id: logged?.id, version: 1 });
  });

  it('limit= returns exactly that many rows, all rows of the table; the limitHint response covers the limit', async function () {
    this.timeout(120_000);
    const [latest, limited] = await Promise.all([deltaRsRows(events), load('--limit', '25')]);
    expect(limited.count).to.equal(25);
    expect(isSubMultiset(limited.rows ?? [], latest.rows)).to.equal(true);
    const [all, hinted] = await Promise.all([suite.query('sq_events', {}), suite.query('sq_events', { limitHint: 25 })]);
    expect(hinted.status, hinted.text).to.equal(200);
    const records = filesOf(hinted).map((file) => (JSON.parse(String(file['stats'])) as { numRecords: number }).numRecords);
    expect(records.reduce((sum, value) => sum + value, 0)).to.be.at.least(25);
    expect(filesOf(hinted).length).to.be.at.most(filesOf(all).length);
  });

  it('jsonPredicateHints prune files (partition values, min/max stats) without losing a matching row', async function () {
    this.timeout(120_000);
    const [all, europe, ranged, garbage] = await Promise.all([
      suite.query('sq_events', {}), suite.query('sq_events', { jsonPredicateHints: inEurope }),
      suite.query('sq_events', { jsonPredicateHints: idFrom500 }), suite.query('sq_events', { jsonPredicateHints: '{"op": "nonsense' }),
    ]);
    for (const answer of [all, europe, ranged, garbage]) expect(answer.status, answer.text).to.equal(200);
    const allFiles = filesOf(all);
    const ids = (files: Array<Record<string, unknown>>): string[] => files.map((file) => String(file['id'])).sort();
    const mayMatch = (test: (file: Record<string, unknown>) => boolean): string[] => ids(allFiles.filter(test));
    const maxId = (file: Record<string, unknown>): number => (JSON.parse(String(file['stats'])) as { maxValues: { id: number } }).maxValues.id;
    expect(filesOf(europe).length).to.be.lessThan(allFiles.length);
    expect(ids(filesOf(europe))).to.include.members(mayMatch((file) => (file['partitionValues'] as Record<string, string>)['region'] === 'eu'));
    expect(filesOf(ranged).length).to.be.lessThan(allFiles.length);
    expect(ids(filesOf(ranged))).to.include.members(mayMatch((file) => maxId(file) >= 500));
    // A hint that cannot be parsed filters nothing (best effort, never an error).
    expect(ids(filesOf(garbage))).to.deep.equal(ids(allFiles));

    const [latest, sharedEurope, sharedRanged] = await Promise.all([deltaRsRows(events), load('--predicate', inEurope), load('--predicate', idFrom500)]);
    // The connector does not filter rows itself: it returns every row of the files the server kept.
    expect(isSubMultiset(sharedEurope.rows ?? [], latest.rows)).to.equal(true);
    expect((sharedEurope.rows ?? []).filter((row) => row['region'] === 'eu')).to.deep.equal(latest.rows.filter((row) => row['region'] === 'eu'));
    expect(sharedEurope.count).to.be.lessThan(latest.count);
    expect((sharedRanged.rows ?? []).filter((row) => Number(row['id']) >= 500)).to.deep.equal(latest.rows.filter((row) => Number(row['id']) >= 500));
    expect(sharedRanged.count).to.be.lessThan(latest.count);
  });

  it(`a table of ${manyFiles} files pages with maxFiles and nextPageToken, every file exactly once; the connector reads every row`, async function () {
    this.timeout(240_000);
    const seen = new Map<string, Record<string, unknown>>();
    const versions = new Set<string | null>();
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const answer = await suite.query('sq_many', { maxFiles: 1000, ...(pageToken === undefined ? {} : { pageToken }) }, { capabilities: paged });
      expect(answer.status, answer.text.slice(0, 500)).to.equal(200);
      pages += 1;
      versions.add(answer.headers.get('delta-table-version'));
      expect(Object.keys(answer.lines[0] ?? {})).to.deep.equal(['protocol']);
      expect(Object.keys(answer.lines[1] ?? {})).to.deep.equal(['metaData']);
      expect(Object.keys(answer.lines.at(-1) ?? {}), 'the last line is the endStreamAction').to.deep.equal(['endStreamAction']);
      const files = filesOf(answer);
      expect(files.length).to.be.at.most(1000);
      for (const file of files) {
        expect(seen.has(String(file['id'])), `file ${String(file['id'])} twice`).to.equal(false);
        seen.set(String(file['id']), file);
      }
      const next = endStreamOf(answer)?.['nextPageToken'];
      pageToken = typeof next === 'string' && next !== '' ? next : undefined;
      expect(pages).to.be.at.most(20);
    } while (pageToken !== undefined);
    expect(pages).to.be.at.least(Math.ceil(manyFiles / 1000));
    expect([...versions]).to.deep.equal(['0']);
    const describe = (partitionValues: unknown, size: unknown): string => `${JSON.stringify(partitionValues)} ${String(size)}`;
    const reference = (await deltaRsFiles(many)).map((file) => describe(file.partitionValues, file.size)).sort();
    expect(reference).to.have.length(manyFiles);
    expect([...seen.values()].map((file) => describe(file['partitionValues'], file['size'])).sort()).to.deep.equal(reference);

    const read = await runSharingConnector(['load', suite.url('alice', 'sq_many'), '--batches', '--count-only'], 230_000);
    expect(read.error, read.message).to.equal(undefined);
    expect(read.count).to.equal(manyFiles * 3);
  });

  it('a signed file URL serves exactly the bytes of a byte range (206); a tampered one is refused with 403 and no bytes', async function () {
    this.timeout(60_000);
    const answer = await suite.query('sq_events', {});
    const file = filesOf(answer)[0] ?? {};
    const url = String(file['url']);
    expect(url.startsWith(`${suite.endpoint}/files/`), url).to.equal(true);
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(whole.length).to.equal(file['size']);
    const onDisk = fileWithBytes(events, whole);
    expect(onDisk, 'the URL serves a Parquet file of the table, byte for byte').to.be.a('string');
    const bytes = readFileSync(onDisk ?? '');
    for (const [range, start, end] of [['bytes=4-99', 4, 100], ['bytes=-8', bytes.length - 8, bytes.length]] as const) {
      const response = await fetch(url, { headers: { range } });
      expect(response.status, range).to.equal(206);
      expect(response.headers.get('content-range')).to.equal(`bytes ${start}-${end - 1}/${bytes.length}`);
      expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(start, end)), range).to.equal(true);
    }
    // One character of the token changed (the path's last segment; a query string, if any, kept as it is).
    const [base, query] = url.split('?') as [string, string | undefined];
    const token = base.slice(base.lastIndexOf('/') + 1);
    const at = Math.floor(token.length / 2);
    const tampered = `${base.slice(0, base.length - token.length)}${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}${query === undefined ? '' : `?${query}`}`;
    for (const method of ['GET', 'HEAD']) {
      const refused = await fetch(tampered, { method });
      const body = Buffer.from(await refused.arrayBuffer());
      expect(refused.status, method).to.equal(403);
      expect(body.includes(Buffer.from('PAR1')), 'no file bytes').to.equal(false);
      expect(body.length).to.be.lessThan(1000);
    }
  });

  it('an expired file URL is refused with 403 and no bytes (a reader whose URLs live 3 s)', async function () {
    this.timeout(60_000);
    const shortLived = await startTestReader(env, { DELTAMETA_READER_SHARING_URL_KEY: urlKey, DELTAMETA_READER_SHARING_URL_TTL_MS: '3000' }, ':ttl');
    try {
      const asked = Date.now();
      const answer = await suite.query('sq_events', {}, { endpoint: `${shortLived.base}/delta-sharing` });
      const answered = Date.now();
      expect(answer.status, answer.text).to.equal(200);
      const file = filesOf(answer)[0] ?? {};
      const expires = Number(file['expirationTimestamp']);
      // A URL lives at least the TTL, at most one expiry bucket more (a quarter of the TTL, at least 1 s: answers are cached per bucket).
      expect(expires).to.be.within(asked + 3000, answered + 3000 + 1000);
      const url = String(file['url']);
      expect((await fetch(url)).status, 'served while fresh').to.equal(200);
      await eventually('the URL to expire', async () => (await fetch(url, { method: 'HEAD' })).status === 403, 15_000);
      expect(Date.now(), 'not refused before its expirationTimestamp').to.be.at.least(expires);
      const refused = await fetch(url);
      const body = Buffer.from(await refused.arrayBuffer());
      expect(refused.status).to.equal(403);
      expect(body.includes(Buffer.from('PAR1'))).to.equal(false);
      expect(body.length).to.be.lessThan(1000);
    } finally {
      await shortLived.stop();
    }
  });

  it('a recipient without the share gets the protocol\'s 404 error, from the connector and from raw requests', async function () {
    this.timeout(60_000);
    const [refused, own, latest] = await Promise.all([
      runSharingConnector(['load', suite.url('bob', 'sq_events')]), runSharingConnector(['load', suite.url('bob', 'sq_events', 'other'), '--count-only']), deltaRsRows(events),
    ]);
    expect(refused.error).to.equal(404);
    expect(refused.message).to.contain('RESOURCE_DOES_NOT_EXIST');
    expect(own.count, 'bob reads the share he has').to.equal(latest.count);
    for (const answer of [
      await suite.query('sq_events', {}, { recipient: 'bob' }), await suite.get('sq_events', 'version', { recipient: 'bob' }),
      await suite.get('sq_events', 'metadata', { recipient: 'bob' }), await suite.query('nope', {}),
    ]) {
      expect(answer.status, answer.text).to.equal(404);
      expect(answer.headers.get('content-type')).to.match(/^application\/json/);
      const body = JSON.parse(answer.text) as Record<string, unknown>;
      expect(body).to.have.keys(['errorCode', 'message']);
      expect(body['errorCode']).to.equal('RESOURCE_DOES_NOT_EXIST');
    }
  });
});
