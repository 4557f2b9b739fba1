/**
 * Delta Sharing (issue 16), the change data feed: a CDF-enabled table written
 * by delta-rs (inserts, an UPDATE, a DELETE and a MERGE, which write
 * `_change_data` files), imported with its history, shared with the real CLI
 * and read through a real reader by the official Python connector's
 * `load_table_changes_as_pandas`, compared with delta-rs's own `load_cdf`
 * over the same folder; the raw `…/changes` lines checked against the
 * table's `_delta_log` (cdc files where a version has them, adds and removes
 * otherwise, each with its version and the version's timestamp).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureDeltaSharingVenv, runSharingConnector } from '../support/delta-sharing.ts';
import { describeWithEnv } from '../support/env.ts';
import { filesOf, startSharingSuite, type SharingSuite } from '../support/sharing-suite.ts';
import { deltaRsChanges, writeSharingTable } from '../support/sharing-tables.ts';
import { TempDirs } from '../support/tables.ts';

/** Per version, how many add (dataChange), remove (dataChange) and cdc actions its commit file holds. */
function logActions(dir: string, versions: number): Array<{ add: number; remove: number; cdc: number }> {
  return Array.from({ length: versions }, (_, version) => {
    const text = readFileSync(path.join(dir, '_delta_log', `${String(version).padStart(20, '0')}.json`), 'utf8');
    const counts = { add: 0, remove: 0, cdc: 0 };
    for (const line of text.split('\n').filter((entry) => entry.trim() !== '')) {
      const action = JSON.parse(line) as Record<string, { dataChange?: boolean }>;
      for (const kind of ['add', 'remove', 'cdc'] as const) if (action[kind] !== undefined && (kind === 'cdc' || action[kind].dataChange !== false)) counts[kind] += 1;
    }
    return counts;
  });
}

describeWithEnv('delta sharing: the official connector reads the change data feed', (env) => {
  const dirs = new TempDirs();
  let suite: SharingSuite;
  let table: string;

  before(async function () {
    this.timeout(180_000);
    table = dirs.make('sc-changes');
    await Promise.all([writeSharingTable('cdf', table), ensureDeltaSharingVenv()]);
    suite = await startSharingSuite(env, dirs.make('sc-profiles'), { sc_changes: table }, 'sc_changes');
  });

  after(async function () {
    this.timeout(30_000);
    await suite?.stop();
    dirs.removeAll();
  });

  const changes = (start: number, end: number, ...args: string[]): ReturnType<typeof runSharingConnector> =>
    runSharingConnector(['changes', suite.url('alice', 'sc_changes'), '--start', String(start), '--end', String(end), ...args]);

  it('the fixture is what the proof needs: delta-rs wrote _change_data files for the update, the delete and the merge', () => {
    const actions = logActions(table, 5);
    expect(actions.map((version) => version.cdc > 0)).to.deep.equal([false, false, true, true, true]);
    expect(actions[0]?.add).to.be.greaterThan(0);
    expect(actions[1]?.add).to.be.greaterThan(0);
  });

  it('load_table_changes_as_pandas equals delta-rs load_cdf over the whole history (rows, _change_type, _commit_version)', async function () {
    this.timeout(120_000);
    const [expected, shared] = await Promise.all([deltaRsChanges(table, 0, 4), changes(0, 4)]);
    expect(shared.error, shared.message).to.equal(undefined);
    expect(shared.columns).to.include.members(['_change_type', '_commit_version', '_commit_timestamp']);
    expect(expected.rows.map((row) => row['_change_type'])).to.include.members(['insert', 'update_preimage', 'update_postimage', 'delete']);
    expect(shared.count).to.equal(expected.count);
    expect(shared.rows).to.deep.equal(expected.rows);
  });

  it('a range of versions: the update alone, the delete and the merge, the appends', async function () {
    this.timeout(120_000);
    for (const [start, end] of [[2, 2], [3, 4], [0, 1]] as const) {
      const [expected, shared] = await Promise.all([deltaRsChanges(table, start, end), changes(start, end)]);
      expect(shared.error, shared.message).to.equal(undefined);
      expect(expected.count, `${start}..${end}`).to.be.greaterThan(0);
      expect(shared.rows, `${start}..${end}`).to.deep.equal(expected.rows);
    }
  });

  it('the raw …/changes lines: cdf files where a version has them, adds and removes otherwise, each with its version and timestamp', async function () {
    this.timeout(60_000);
    const { rows } = await suite.pool.query<{ version: string; timestamp_ms: string }>(
      `SELECT c.version, c.timestamp_ms FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'sc_changes' ORDER BY c.version`,
    );
    const times = rows.map((row) => Number(row.timestamp_ms));
    const answer = await suite.get('sc_changes', 'changes?startingVersion=0&endingVersion=4');
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.headers.get('delta-table-version')).to.equal('0');
    expect(Object.keys(answer.lines[0] ?? {})).to.deep.equal(['protocol']);
    expect(Object.keys(answer.lines[1] ?? {})).to.deep.equal(['metaData']);
    expect(answer.lines[1]?.['metaData']?.['configuration']).to.deep.include({ 'delta.enableChangeDataFeed': 'true' });
    const actions = logActions(table, 5);
    for (const [version, expected] of actions.entries()) {
      const count = (kind: string): number => filesOf(answer, [kind]).filter((file) => file['version'] === version).length;
      const seen = { add: count('add'), remove: count('remove'), cdc: count('cdf') };
      expect(seen, `version ${version}`).to.deep.equal(expected.cdc > 0 ? { add: 0, remove: 0, cdc: expected.cdc } : { ...expected, cdc: 0 });
    }
    for (const file of filesOf(answer, ['add', 'remove', 'cdf'])) {
      expect(file['timestamp'], `version ${String(file['version'])}`).to.equal(times[Number(file['version'])]);
      expect(String(file['url']).startsWith(`${suite.endpoint}/files/`)).to.equal(true);
      expect(file['expirationTimestamp']).to.be.a('number');
    }
    const sliced = await suite.get('sc_changes', 'changes?startingVersion=3&endingVersion=3');
    expect(filesOf(sliced, ['add', 'remove', 'cdf']).map((file) => file['version'])).to.deep.equal(Array(actions[3]?.cdc).fill(3));
  });
});
