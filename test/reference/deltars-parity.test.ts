/**
 * Independent parity: tables written by delta-rs 1.6.6 itself with the
 * protocol features it can write (column mapping name and id, the deletion
 * vector and v2 checkpoint features, racing writers, schema evolution with
 * the change data feed, a rowTracking protocol it then cannot write to),
 * one with in-commit timestamps enabled on delta-rs's log as Spark writes
 * them, and one whose commit file times tie and go back
 * (test/reference/deltars_parity.py says what delta-rs can and cannot
 * write). Each is imported with `deltameta import --history` and checked at
 * every version (parity-harness.ts): the snapshot equals delta-rs's, whole;
 * time travel follows Spark's rule; `deltameta export` reads back in
 * delta-rs as the same table.
 *
 * Where delta-rs differs from Spark, Spark's rule is the expectation and the
 * difference is asserted explicitly, so a delta-rs upgrade that changes it is
 * noticed: delta-rs 1.6 times every version by its commit file, ICT or not;
 * it does not make those times increasing; it answers a time before the
 * first commit with version 0 and one after the last with the latest, where
 * Spark refuses both.
 */
import { expect } from 'chai';
import { deltaRsTransactionVersions, type DeltaRsParityKind } from '../support/deltars-parity.ts';
import { describeWithEnv } from '../support/env.ts';
import { expectDeltaRsTravelAgrees, parityHarness, travelMismatches, versionTimes } from './parity-harness.ts';
import { sparkVersionAt } from './parity-state.ts';

const kinds: DeltaRsParityKind[] = ['column-mapping-name', 'column-mapping-id', 'deletion-vectors', 'v2-checkpoint', 'concurrent', 'schema-evolution', 'row-tracking-feature', 'in-commit-timestamps', 'tied-times', 'ict-property'];

describeWithEnv('delta-rs parity: tables delta-rs writes, at every version', (env) => {
  const checkParity = parityHarness(env, kinds);

  it('column mapping by name (DELETE, UPDATE, MERGE, properties, a constraint, RESTORE, checkpoints): snapshots, time travel and export agree at every version', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('column-mapping-name');
    expect(reference[0]?.metadata.configuration).to.include({ 'delta.columnMapping.mode': 'name' });
    // Stats stay keyed by physical names on both sides; partition values are compared by logical name.
    const latest = reference.at(-1);
    expect(Object.keys(latest?.files[0]?.minValues ?? {})).to.satisfy((keys: string[]) => keys.length > 0 && keys.every((key) => key.startsWith('col-')));
    expect(latest?.files.every((file) => typeof file.partitionValues['part'] === 'string')).to.equal(true);
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it('column mapping by id: the same', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('column-mapping-id');
    expect(reference[0]?.metadata.configuration).to.include({ 'delta.columnMapping.mode': 'id' });
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it('deletion vectors enabled (delta-rs 1.6 rewrites files instead): the same, with the feature in the protocol', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('deletion-vectors');
    expect(reference.at(-1)?.protocol.readerFeatures).to.include('deletionVectors');
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it('the v2Checkpoint feature added to a (1,2) table (legacy features left out of the list), checkpoints holding checkpointMetadata: the same', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('v2-checkpoint');
    expect(reference.at(-1)?.protocol.readerFeatures).to.deep.equal(['v2Checkpoint']);
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it("racing writers (two appenders, then a merge against an appender), committed through delta-rs's conflict checker: the same", async function () {
    this.timeout(120_000);
    const { tableDir, written, travel, storedTxns } = await checkParity('concurrent');
    const appIds = ['writer-0', 'writer-1', 'writer-2'];
    expect(written.notes['appIds']).to.deep.equal(appIds);
    // Each writer's txn (app id → its round) at every version, as delta-rs reads it.
    const fromDeltaRs = await deltaRsTransactionVersions(tableDir, appIds);
    expect(fromDeltaRs.map((entry) => entry.version)).to.deep.equal(Array.from({ length: written.versions }, (_, version) => version));
    for (const { version, txns } of fromDeltaRs) expect(await storedTxns(version, appIds), `txns at ${version}`).to.deep.equal(txns);
    expect(fromDeltaRs.at(-1)?.txns).to.deep.equal({ 'writer-0': 4, 'writer-1': 4, 'writer-2': 2 });
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it('schema evolution with the change data feed (add column, schema merge, cdc files, schema overwrite): the same', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('schema-evolution');
    const columns = (state: (typeof reference)[number] | undefined): unknown => (state?.metadata.schema as { fields?: { name: string }[] } | undefined)?.fields?.map((field) => field.name);
    expect(columns(reference[3])).to.include.members(['id', 'part', 'amount', 'label', 'note', 'score']);
    expect(columns(reference.at(-1))).to.deep.equal(['id', 'part', 'other']);
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it('a protocol naming rowTracking without domainMetadata (delta-rs refuses to write to it afterwards): the same', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('row-tracking-feature');
    expect(reference.at(-1)?.protocol.writerFeatures).to.deep.equal(['rowTracking']);
    expectDeltaRsTravelAgrees(travel, written.versions);
  });

  it('in-commit timestamps enabled at version 4: snapshots and export agree; time travel follows Spark (ICT from the enablement on), not delta-rs 1.6 (file times)', async function () {
    this.timeout(120_000);
    const { written, travel } = await checkParity('in-commit-timestamps');
    expect(written.notes['enabledAt']).to.equal(4);
    // delta-rs 1.6 answers by commit file times alone, as if ICT were off;
    // the ICTs sit an hour after the file times, so the two rules differ.
    const times = versionTimes(written);
    const byFileTimes = travel.probes.map((ms) => sparkVersionAt(times.map(({ version, fileMs }) => ({ version, fileMs })), ms));
    expect(travelMismatches(travel, 'deltaRs', { insideOnly: true, against: byFileTimes }), 'delta-rs against the file-time rule').to.deep.equal([]);
    expect(travelMismatches(travel, 'deltaRs', { insideOnly: true }), 'delta-rs against Spark').to.not.be.empty;
    // The export's commit file times are the ICTs to the millisecond: delta-rs reading them by file times agrees with Spark.
    expect(travelMismatches(travel, 'deltaRsOnExport', { insideOnly: true }), "delta-rs's time travel on the export").to.deep.equal([]);
  });

  it('commit file times that tie and go back: time travel follows Spark (times made increasing), where delta-rs 1.6 does not', async function () {
    this.timeout(120_000);
    const { written, travel } = await checkParity('tied-times');
    const [t0, , t2] = written.commitTimes;
    if (t0 === undefined || t2 === undefined) throw new Error('tied-times wrote too few versions');
    // Versions 1 and 2 share a file time and 3's is earlier: Spark times them t2, t2 + 1 ms, t2 + 2 ms.
    const at = (ms: number): { spark: number | null; deltaRs: number | null } => {
      const index = travel.probes.indexOf(ms);
      if (index < 0) throw new Error(`${ms} was not probed`);
      return { spark: travel.spark[index] ?? null, deltaRs: travel.deltaRs[index] ?? null };
    };
    expect(at(t2)).to.deep.equal({ spark: 1, deltaRs: 2 });
    expect(at(t0 + 1500)).to.deep.equal({ spark: 0, deltaRs: 0 });
    // The export writes the times made increasing as its commit file times, to the millisecond
    // (utimes with ms / 1000 once landed a nanosecond short and read back a millisecond early).
    expect(travelMismatches(travel, 'deltaRsOnExport', { insideOnly: true }), "delta-rs's time travel on the export").to.deep.equal([]);
  });

  it('the in-commit-timestamps property without the inCommitTimestamp feature (every delta-rs write of it): inert, file times rule, as in delta-rs and Spark', async function () {
    this.timeout(120_000);
    const { written, reference, travel } = await checkParity('ict-property');
    expect(reference.at(-1)?.metadata.configuration).to.include({ 'delta.enableInCommitTimestamps': 'true' });
    expect(reference.at(-1)?.protocol.writerFeatures).to.equal(null);
    expectDeltaRsTravelAgrees(travel, written.versions);
  });
});
