/**
 * Delta Sharing (issue 16), `responseformat=delta`: what the official
 * connector reads through delta-kernel-rs (its `use_delta_format=True` path,
 * and the only one for tables with deletion vectors or column mapping). The
 * kernel writes the response into a temporary _delta_log and reads each
 * file's `path` (the signed URL) itself: the snapshot must give the rows
 * delta-rs reads, the change data feed what delta-rs's load_cdf reports.
 * The tables are sharing-query's partitioned table and sharing-changes's
 * CDF table, written by delta-rs.
 *
 * The file URLs carry their MAC in the `X-Databricks-Signature` query parameter: delta-kernel-rs
 * (delta_kernel_rust_sharing_wrapper, the connector's delta path) fetches an http(s) `path` only when
 * its query has a signature parameter it knows, and otherwise reads the URL's path from the local
 * filesystem ("Object at location /delta-sharing/files/<token> not found" before the parameter).
 */
import { expect } from 'chai';
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';
import { ensureDeltaSharingVenv, runSharingConnector } from '../support/delta-sharing.ts';
import { describeWithEnv } from '../support/env.ts';
import { filesOf, startSharingSuite, type SharingSuite } from '../support/sharing-suite.ts';
import { deltaRsChanges, deltaRsRows, writeSharingTable } from '../support/sharing-tables.ts';
import { TempDirs } from '../support/tables.ts';

/** Written by Spark (test/reference/spark_tables.py), with the rows Spark read back at each version. */
const sparkFixture = path.join(projectRoot, 'test', 'fixtures', 'spark', 'dv-column-mapping');

function sparkExpected(): { history: string[]; versions: Record<string, { count: number; rows: Array<Record<string, unknown>> }> } {
  return JSON.parse(readFileSync(`${sparkFixture}.expected.json`, 'utf8')) as ReturnType<typeof sparkExpected>;
}

const kernelCapabilities = 'responseformat=delta;readerfeatures=deletionvectors,columnmapping';

describeWithEnv('delta sharing: the official connector reads the delta response format', (env) => {
  const dirs = new TempDirs();
  let suite: SharingSuite;
  let events: string;
  let changes: string;

  before(async function () {
    this.timeout(180_000);
    events = dirs.make('sd-events');
    changes = dirs.make('sd-changes');
    const spark = dirs.make('sd-spark');
    cpSync(sparkFixture, spark, { recursive: true });
    await Promise.all([writeSharingTable('partitioned', events), writeSharingTable('cdf', changes), ensureDeltaSharingVenv()]);
    suite = await startSharingSuite(env, dirs.make('sd-profiles'), { sd_events: events, sd_changes: changes, sd_spark: spark }, 'sd_events');
  });

  after(async function () {
    this.timeout(30_000);
    await suite?.stop();
    dirs.removeAll();
  });

  it('the delta lines: deltaProtocol, deltaMetadata, then each add with its signed URL as path', async function () {
    this.timeout(30_000);
    const answer = await suite.query('sd_events', {}, { capabilities: kernelCapabilities });
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.headers.get('delta-sharing-capabilities')).to.match(/^responseformat=delta/);
    expect(Object.keys(answer.lines[0]?.['protocol'] ?? {})).to.deep.equal(['deltaProtocol']);
    expect(answer.lines[1]?.['metaData']).to.have.property('deltaMetadata');
    const files = filesOf(answer);
    expect(files.length).to.be.greaterThan(0);
    for (const file of files) {
      const add = (file['deltaSingleAction'] as { add: { path: string; size: number } }).add;
      expect(add.path.startsWith(`${suite.endpoint}/files/`), add.path).to.equal(true);
      expect((await fetch(add.path, { method: 'HEAD' })).headers.get('content-length')).to.equal(String(add.size));
    }
  });

  it('load_as_pandas(use_delta_format=True) returns the rows delta-rs reads, latest and with version=', async function () {
    this.timeout(120_000);
    const [latest, atOne] = await Promise.all([deltaRsRows(events), deltaRsRows(events, 1)]);
    const [shared, sharedOne] = await Promise.all([
      runSharingConnector(['load', suite.url('alice', 'sd_events'), '--delta']),
      runSharingConnector(['load', suite.url('alice', 'sd_events'), '--delta', '--version', '1']),
    ]);
    expect(shared.error, shared.message).to.equal(undefined);
    expect(shared.rows).to.deep.equal(latest.rows);
    expect(sharedOne.rows).to.deep.equal(atOne.rows);
  });

  it('includeHistoricalMetadata=true (what the connector\'s delta path asks): every metaData line carries its version, the first the starting one', async function () {
    this.timeout(30_000);
    for (const capabilities of [kernelCapabilities, 'responseformat=parquet']) {
      const answer = await suite.get('sd_changes', 'changes?startingVersion=1&endingVersion=4&includeHistoricalMetadata=true', { capabilities });
      expect(answer.status, answer.text).to.equal(200);
      const metadata = answer.lines.filter((line) => 'metaData' in line).map((line) => line['metaData'] ?? {});
      // PROTOCOL.md, Metadata (both formats): `version` is "returned when querying table data with a
      // version or timestamp parameter, or cdf query with includeHistoricalMetadata set to true".
      expect(metadata.map((line) => line['version']), capabilities).to.deep.equal([1]);
    }
  });

  it('a table Spark wrote with deletion vectors and a renamed column (column mapping): the delta format reads Spark\'s rows at every version', async function () {
    this.timeout(120_000);
    const expected = sparkExpected();
    const versions = Object.keys(expected.versions).map(Number).sort((a, b) => a - b);
    expect(versions).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const answers = await Promise.all([
      runSharingConnector(['load', suite.url('alice', 'sd_spark'), '--delta']),
      ...versions.map((version) => runSharingConnector(['load', suite.url('alice', 'sd_spark'), '--delta', '--version', String(version)])),
    ]);
    const [latest, ...atVersions] = answers;
    expect(latest?.error, latest?.message).to.equal(undefined);
    expect(latest?.rows).to.deep.equal(expected.versions['6']?.rows);
    versions.forEach((version, index) => {
      const answer = atVersions[index];
      expect(answer?.error, `version ${version}: ${answer?.message ?? ''}`).to.equal(undefined);
      expect(answer?.rows, `version ${version} (${expected.history[version] ?? ''})`).to.deep.equal(expected.versions[String(version)]?.rows);
    });
    // Deleted rows really are skipped through the vectors: v2 keeps every file of v1 and drops 20 rows.
    expect(expected.versions['1']?.count).to.equal(200);
    expect(expected.versions['2']?.count).to.equal(180);
  });

  it('the parquet format refuses that table by name of what it cannot express; the deletion vectors are signed URLs in delta', async function () {
    this.timeout(30_000);
    const refused = await suite.query('sd_spark', {});
    expect(refused.status, refused.text).to.equal(400);
    const refusal = JSON.parse(refused.text) as { errorCode: string; message: string };
    expect(refusal.errorCode).to.equal('UNSUPPORTED_OPERATION');
    expect(refusal.message).to.match(/deletionvectors/i).and.match(/columnmapping/i);
    const answer = await suite.query('sd_spark', {}, { capabilities: kernelCapabilities });
    const vectors = filesOf(answer).map((file) => (file['deltaSingleAction'] as { add: { deletionVector?: { storageType: string; pathOrInlineDv: string; offset?: number; sizeInBytes: number } } }).add.deletionVector).filter((dv) => dv !== undefined);
    expect(vectors.length).to.be.above(0);
    for (const dv of vectors) {
      expect(dv.storageType).to.equal('p');
      expect(dv.pathOrInlineDv.startsWith(`${suite.endpoint}/files/`), dv.pathOrInlineDv).to.equal(true);
      // the vector's bytes are where its offset says, in the file the URL serves
      const range = await fetch(dv.pathOrInlineDv, { headers: { range: `bytes=${dv.offset ?? 0}-${(dv.offset ?? 0) + 3}` } });
      expect(range.status).to.equal(206);
      expect((await range.arrayBuffer()).byteLength).to.equal(4);
    }
  });

  it('load_table_changes_as_pandas(use_delta_format=True) equals delta-rs load_cdf', async function () {
    this.timeout(120_000);
    const [expected, shared] = await Promise.all([
      deltaRsChanges(changes, 1, 4), runSharingConnector(['changes', suite.url('alice', 'sd_changes'), '--start', '1', '--end', '4', '--delta']),
    ]);
    expect(shared.error, shared.message).to.equal(undefined);
    expect(shared.rows).to.deep.equal(expected.rows);
  });
});
