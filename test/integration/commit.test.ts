/**
 * The write path: optimistic concurrency on (table, version) and Delta's
 * conflict rules, as a matrix of winner × loser actions; real concurrent
 * committers; idempotency by commitInfo.txnId; and a randomized sequence
 * of commits (some from stale read versions) against an in-memory model.
 */
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import { addLine, type Action, type AddAction } from '../../shared/delta/index.ts';
import { BadRequestError, CommitConflictError, LogFormatError, NotFoundError, type ConflictReason } from '../../shared/errors/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { snapshotOf } from '../support/tables.ts';

const schemaString = JSON.stringify({
  type: 'struct',
  fields: [
    { name: 'id', type: 'long', nullable: false, metadata: {} },
    { name: 'p', type: 'string', nullable: true, metadata: {} },
  ],
});

function createActions(configuration: Record<string, string> = {}): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    metadata(configuration),
  ];
}

function metadata(configuration: Record<string, string>): Action {
  return {
    kind: 'metaData',
    metaData: { id: 'b7c3b1a2-0000-4000-8000-000000000001', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration },
  };
}

function addAction(path: string, p = '1'): AddAction {
  return { path: `p=${p}/${path}`, partitionValues: { p }, size: 100 + path.length, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":10}' };
}

const add = (path: string): Action => ({ kind: 'add', add: addAction(path) });
const remove = (path: string): Action => ({ kind: 'remove', remove: { path: `p=1/${path}`, deletionTimestamp: 1_700_000_000_001, dataChange: true } });
const txn = (appId: string, version: number): Action => ({ kind: 'txn', txn: { appId, version } });

async function outcome(work: Promise<{ version: number }>): Promise<string> {
  try {
    return `ok@${(await work).version}`;
  } catch (error) {
    if (error instanceof CommitConflictError) return error.reason;
    throw error;
  }
}

describeWithEnv('commits and conflicts', (env) => {
  let pool: Pool;
  before(() => {
    pool = env.pool(12);
  });
  after(async () => {
    await pool.end();
  });

  it('creates a table with version 0 and refuses a first commit without protocol and metadata', async function () {
    expect(await commit(pool, { table: 'created', actions: createActions() })).to.include({ version: 0, created: true });
    const error = await commit(pool, { table: 'never', actions: [add('a')] }).catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(NotFoundError);
    const again = await commit(pool, { table: 'created', actions: createActions(), readVersion: -1 }).catch((caught: unknown) => caught);
    expect(again).to.be.instanceOf(CommitConflictError);
  });

  describe('conflict matrix (winner commits at v2, loser read v1)', function () {
    const winners: Record<string, Action[]> = {
      append: [add('w')],
      'remove a': [remove('a')],
      metadata: [metadata({ 'delta.appendOnly': 'false' })],
      protocol: [{ kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 3 } }],
      'txn A': [txn('A', 1), add('wa')],
    };
    const losers: Record<string, { actions: Action[]; readFiles?: string[] }> = {
      append: { actions: [add('l')] },
      'remove a': { actions: [remove('a')] },
      'remove b': { actions: [remove('b')] },
      'read a, append': { actions: [add('l2')], readFiles: ['p=1/a'] },
      metadata: { actions: [metadata({ owner: 'loser' })] },
      'txn A': { actions: [txn('A', 1), add('la')] },
      'txn B': { actions: [txn('B', 1), add('lb')] },
    };
    // Spark's rules: blind appends rebase; a concurrent metadata/protocol change,
    // a concurrent delete of what we delete or read, or the same appId conflicts;
    // a metadata-only loser (no data change: SnapshotIsolation, no read
    // predicates) rebases over winners that did not touch metadata or protocol.
    // (Before Spark parity every metadata loser conflicted with any winner.)
    const expected: Record<string, Record<string, ConflictReason | 'rebased'>> = {
      append: { append: 'rebased', 'remove a': 'rebased', 'remove b': 'rebased', 'read a, append': 'rebased', metadata: 'rebased', 'txn A': 'rebased', 'txn B': 'rebased' },
      'remove a': { append: 'rebased', 'remove a': 'concurrent-delete-delete', 'remove b': 'rebased', 'read a, append': 'concurrent-delete-read', metadata: 'rebased', 'txn A': 'rebased', 'txn B': 'rebased' },
      metadata: { append: 'metadata-changed', 'remove a': 'metadata-changed', 'remove b': 'metadata-changed', 'read a, append': 'metadata-changed', metadata: 'metadata-changed', 'txn A': 'metadata-changed', 'txn B': 'metadata-changed' },
      protocol: { append: 'protocol-changed', 'remove a': 'protocol-changed', 'remove b': 'protocol-changed', 'read a, append': 'protocol-changed', metadata: 'protocol-changed', 'txn A': 'protocol-changed', 'txn B': 'protocol-changed' },
      'txn A': { append: 'rebased', 'remove a': 'rebased', 'remove b': 'rebased', 'read a, append': 'rebased', metadata: 'rebased', 'txn A': 'concurrent-transaction', 'txn B': 'rebased' },
    };
    let case_ = 0;
    for (const [winnerName, winnerActions] of Object.entries(winners)) {
      for (const [loserName, loser] of Object.entries(losers)) {
        const want = expected[winnerName]?.[loserName];
        it(`winner ${winnerName} × loser ${loserName} → ${want}`, async function () {
          const table = `matrix_${case_++}`;
          await commit(pool, { table, actions: createActions() });
          await commit(pool, { table, actions: [add('a'), add('b'), add('c')], readVersion: 0 });
          expect((await commit(pool, { table, actions: winnerActions, readVersion: 1 })).version).to.equal(2);
          const got = await outcome(commit(pool, { table, actions: loser.actions, readVersion: 1, ...(loser.readFiles ? { readFiles: loser.readFiles } : {}) }));
          expect(got).to.equal(want === 'rebased' ? 'ok@3' : want);
          const { rows } = await pool.query<{ head: number }>(
            'SELECT max(version)::int AS head FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
          );
          expect(rows[0]?.head, 'a conflicting commit writes nothing').to.equal(want === 'rebased' ? 3 : 2);
        });
      }
    }
  });

  it('serializes truly concurrent blind appends into consecutive versions, losing none', async function () {
    await commit(pool, { table: 'race_append', actions: createActions() });
    const writers = Array.from({ length: 8 }, (_, writer) => (async () => {
      const versions: number[] = [];
      for (let i = 0; i < 5; i++) versions.push((await commit(pool, { table: 'race_append', actions: [add(`w${writer}-${i}`)] })).version);
      return versions;
    })());
    const versions = (await Promise.all(writers)).flat().sort((a, b) => a - b);
    expect(versions).to.deep.equal(Array.from({ length: 40 }, (_, index) => index + 1));
    expect((await snapshotOf(pool, 'race_append')).lines).to.have.length(40);
  });

  it('queues writers of one table instead of racing them: a writer beside one committing in a loop never loses a round', async function () {
    this.timeout(60_000);
    await commit(pool, { table: 'hot_table', actions: createActions() });
    let looping = true;
    const loop = (async () => {
      let count = 0;
      for (; looping || count < 50; count++) await commit(pool, { table: 'hot_table', actions: [add(`loop-${count}`)] });
      return count;
    })();
    const attempts: number[] = [];
    for (let i = 0; i < 10; i++) attempts.push((await commit(pool, { table: 'hot_table', actions: [add(`beside-${i}`)] })).attempts);
    looping = false;
    const looped = await loop;
    // Each commit waits its turn on the table row and lands at the head it then reads: one attempt each.
    expect(attempts).to.deep.equal(Array.from({ length: 10 }, () => 1));
    expect((await snapshotOf(pool, 'hot_table')).lines).to.have.length(looped + 10);
  });

  it('lets exactly one of two concurrent deletes of the same file win', async function () {
    await commit(pool, { table: 'race_delete', actions: createActions() });
    await commit(pool, { table: 'race_delete', actions: [add('a'), add('b')] });
    const results = await Promise.all([
      outcome(commit(pool, { table: 'race_delete', actions: [remove('a')], readVersion: 1 })),
      outcome(commit(pool, { table: 'race_delete', actions: [remove('a'), add('a2')], readVersion: 1 })),
    ]);
    expect(results.sort()).to.deep.equal(['concurrent-delete-delete', 'ok@2']);
  });

  it('returns the existing version for a retried commitInfo.txnId and writes nothing', async function () {
    await commit(pool, { table: 'idempotent', actions: createActions() });
    const actions: Action[] = [{ kind: 'commitInfo', commitInfo: { operation: 'WRITE', txnId: 'retry-me' } }, add('x')];
    const first = await commit(pool, { table: 'idempotent', actions });
    const second = await commit(pool, { table: 'idempotent', actions });
    expect(first).to.include({ version: 1, alreadyCommitted: false });
    expect(second).to.include({ version: 1, alreadyCommitted: true });
    expect((await snapshotOf(pool, 'idempotent')).version).to.equal(1);
  });

  // Changed for protocol parity: this test used to require txn versions to move
  // forward per appId; PROTOCOL.md allows a txn version to decrease (a writer
  // that restarts its counter), so it is recorded as given.
  it('records txn versions as given, decreasing ones too (the spec allows it)', async function () {
    await commit(pool, { table: 'txn_order', actions: createActions() });
    await commit(pool, { table: 'txn_order', actions: [txn('stream', 5), add('a')] });
    expect(await outcome(commit(pool, { table: 'txn_order', actions: [txn('stream', 5), add('b')] }))).to.equal('ok@2');
    expect(await outcome(commit(pool, { table: 'txn_order', actions: [txn('stream', 3), add('c')] }))).to.equal('ok@3');
    const { rows } = await pool.query<{ txn_version: string }>(
      `SELECT x.txn_version FROM deltameta.delta_txn x JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'txn_order' ORDER BY x.version`,
    );
    expect(rows.map((row) => Number(row.txn_version))).to.deep.equal([5, 5, 3]);
  });

  it('rejects bad commits with a clear error and writes nothing', async function () {
    await commit(pool, { table: 'strict', actions: createActions() });
    const wrongPartition: Action = { kind: 'add', add: { ...addAction('z'), partitionValues: { q: '1' } } };
    const cases: Array<[Action[], new (...args: never[]) => Error, RegExp]> = [
      [[wrongPartition], LogFormatError, /partitioned by \[p\]/],
      [[add('d'), add('d')], LogFormatError, /a second add/],
      [[add('e'), remove('e')], BadRequestError, /both adds and removes/],
      [[], BadRequestError, /at least one action/],
    ];
    for (const [actions, type, message] of cases) {
      const error = await commit(pool, { table: 'strict', actions }).catch((caught: unknown) => caught);
      expect(error).to.be.instanceOf(type);
      expect((error as Error).message).to.match(message);
    }
    const future = await commit(pool, { table: 'strict', actions: [add('f')], readVersion: 9 }).catch((caught: unknown) => caught);
    expect(future).to.be.instanceOf(BadRequestError);
    expect((await snapshotOf(pool, 'strict')).version).to.equal(0);
  });

  it('matches an in-memory model over a randomized sequence of commits, some from stale reads', async function () {
    this.timeout(120_000);
    let seed = 12345;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 4294967296;
    };
    const table = 'model';
    // The model: per version, the live files and what that version changed.
    const liveAt: Array<Map<string, AddAction>> = [];
    const changes: Array<{ removed: Set<string>; metadata: boolean; appIds: Set<string> }> = [];
    await commit(pool, { table, actions: createActions() });
    liveAt.push(new Map());
    changes.push({ removed: new Set(), metadata: true, appIds: new Set() });
    let nextFile = 0;
    let txnVersion = 0;
    for (let step = 0; step < 150; step++) {
      const head = liveAt.length - 1;
      const readVersion = Math.max(0, head - (random() < 0.3 ? Math.floor(random() * 3) : 0));
      const live = [...(liveAt[readVersion] as Map<string, AddAction>).keys()];
      const roll = random();
      const actions: Action[] = [];
      const removed = new Set<string>();
      let changesMetadata = false;
      const appIds = new Set<string>();
      if (roll < 0.5 || live.length < 3) {
        for (let i = 0; i < 1 + Math.floor(random() * 4); i++) actions.push({ kind: 'add', add: addAction(`f${nextFile++}`, String(nextFile % 3)) });
        if (random() < 0.3) {
          actions.push(txn('app', ++txnVersion));
          appIds.add('app');
        }
      } else if (roll < 0.85) {
        const victim = live[Math.floor(random() * live.length)] as string;
        const victimAdd = (liveAt[readVersion] as Map<string, AddAction>).get(victim) as AddAction;
        actions.push({ kind: 'remove', remove: { path: victim, deletionTimestamp: 1, dataChange: true, partitionValues: victimAdd.partitionValues } });
        removed.add(victim);
        if (random() < 0.5) actions.push({ kind: 'add', add: addAction(`f${nextFile++}`, victimAdd.partitionValues['p'] ?? '0') });
      } else {
        actions.push(metadata({ step: String(step) }));
        changesMetadata = true;
      }
      // The model's verdict: Spark's rules winner by winner, in its order
      // (metadata, app ids, then deletes). No step reads a partition, so no
      // concurrent-append; a metadata-only loser changes no data.
      const winners = changes.slice(readVersion + 1, head + 1);
      let verdict: string | undefined;
      for (const change of winners) {
        if (change.metadata) verdict = 'metadata-changed';
        else if ([...appIds].some((appId) => change.appIds.has(appId))) verdict = 'concurrent-transaction';
        else if ([...removed].some((path) => change.removed.has(path))) verdict = 'concurrent-delete-delete';
        if (verdict) break;
      }
      const got = await outcome(commit(pool, { table, actions, readVersion }));
      if (verdict) {
        expect(got, `step ${step}`).to.equal(verdict);
        if (appIds.size > 0) txnVersion--;
        continue;
      }
      expect(got, `step ${step}`).to.equal(`ok@${head + 1}`);
      const next = new Map(liveAt[head]);
      for (const action of actions) {
        if (action.kind === 'add') next.set(action.add.path, action.add);
        if (action.kind === 'remove') next.delete(action.remove.path);
      }
      liveAt.push(next);
      changes.push({ removed, metadata: changesMetadata, appIds });
    }
    expect(liveAt.length, 'the sequence committed something').to.be.greaterThan(60);
    for (let version = 0; version < liveAt.length; version += 7) {
      const model = [...(liveAt[version] as Map<string, AddAction>).values()].sort((a, b) => (a.path < b.path ? -1 : 1)).map(addLine);
      expect((await snapshotOf(pool, table, { version })).lines, `version ${version}`).to.deep.equal(model);
    }
  });
});
