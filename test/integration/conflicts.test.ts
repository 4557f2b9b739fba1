// One file on purpose: the case table is the point, and splitting it would scatter one rule set.
/**
 * Spark's conflict rules, shaped like Spark's OptimisticTransactionSuite: a
 * table of cases (setup, the winner's actions, the loser's actions with what
 * it read, its isolation level and blind-append flag) → the outcome, each run
 * through the library and through `deltameta commit` (a spawned CLI). Then
 * real concurrency: two insert-only MERGEs, row-tracking ids and in-commit
 * timestamps under parallel committers.
 */
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import { type Action, type AddAction, type DeletionVectorDescriptor, type ProtocolAction } from '../../shared/delta/index.ts';
import { BadRequestError, CommitConflictError, type ConflictReason } from '../../shared/errors/index.ts';
import { commit, type CommitRequest, type IsolationLevel, type ReadPredicate } from '../../shared/log-store/index.ts';
import { runDeltameta, type CliRun } from '../support/cli.ts';
import { describeWithEnv } from '../support/env.ts';


interface TableShape {
  readonly partitionColumns?: readonly string[];
  readonly configuration?: Record<string, string>;
  readonly protocol?: ProtocolAction;
  /** column mapping mode name: country's physical name is col-country */
  readonly columnMapping?: boolean;
}

interface Loser {
  readonly actions: Action[];
  readonly readPredicates?: readonly ReadPredicate[] | 'whole-table';
  readonly readFiles?: readonly string[];
  readonly isolationLevel?: IsolationLevel;
  readonly isBlindAppend?: boolean;
  /** default 1 (the version before the winner); 'none' omits it */
  readonly readVersion?: number | 'none';
}

type Expected = 'committed' | 'rebased' | ConflictReason | { refused: RegExp };

interface ConflictCase {
  readonly name: string;
  readonly table?: TableShape;
  /** committed at version 1 */
  readonly setup?: Action[];
  /** committed at version 2 after the loser read version 1; none: the loser lands at 2 */
  readonly winner?: Action[];
  readonly loser: Loser;
  readonly expected: Expected;
}

function schemaString(columnMapping: boolean): string {
  const field = (name: string, type: string, id: number): Record<string, unknown> => ({
    name, type, nullable: true,
    metadata: columnMapping ? { 'delta.columnMapping.id': id, 'delta.columnMapping.physicalName': `col-${name}` } : {},
  });
  return JSON.stringify({ type: 'struct', fields: [field('id', 'long', 1), field('country', 'string', 2), field('x', 'string', 3)] });
}

function createActions(shape: TableShape): Action[] {
  const configuration = { ...(shape.columnMapping ? { 'delta.columnMapping.mode': 'name', 'delta.columnMapping.maxColumnId': '3' } : {}), ...shape.configuration };
  return [
    { kind: 'protocol', protocol: shape.protocol ?? (shape.columnMapping ? { minReaderVersion: 2, minWriterVersion: 5 } : { minReaderVersion: 1, minWriterVersion: 2 }) },
    {
      kind: 'metaData',
      metaData: {
        id: 'c0ffee00-0000-4000-8000-000000000011', format: { provider: 'parquet', options: {} }, schemaString: schemaString(shape.columnMapping === true),
        partitionColumns: [...(shape.partitionColumns ?? ['country'])], configuration,
      },
    },
  ];
}

function dv(id: string): DeletionVectorDescriptor {
  return { storageType: 'i', pathOrInlineDv: id, sizeInBytes: 10, cardinality: 1 };
}

interface FileOptions {
  readonly key?: string;
  readonly records?: number;
  readonly dv?: string;
  readonly dataChange?: boolean;
  readonly baseRowId?: number;
}

function addFile(name: string, country: string | null, options: FileOptions = {}): Action {
  const add: AddAction = {
    path: `${name}.parquet`, partitionValues: country === undefined ? {} : { [options.key ?? 'country']: country }, size: 100,
    modificationTime: 1_700_000_000_000, dataChange: options.dataChange ?? true, stats: JSON.stringify({ numRecords: options.records ?? 10 }),
    ...(options.dv ? { deletionVector: dv(options.dv) } : {}),
    ...(options.baseRowId !== undefined ? { baseRowId: options.baseRowId } : {}),
  };
  return { kind: 'add', add };
}

const unpartitionedAdd = (name: string, options: FileOptions = {}): Action => {
  const action = addFile(name, null, options) as { kind: 'add'; add: AddAction };
  return { kind: 'add', add: { ...action.add, partitionValues: {} } };
};

function removeFile(name: string, country: string | null | undefined, options: FileOptions = {}): Action {
  return {
    kind: 'remove',
    remove: {
      path: `${name}.parquet`, deletionTimestamp: 1_700_000_000_001, dataChange: options.dataChange ?? true,
      ...(country !== undefined ? { partitionValues: { [options.key ?? 'country']: country } } : {}),
      ...(options.dv ? { deletionVector: dv(options.dv) } : {}),
    },
  };
}

const info = (operation: string, isBlindAppend?: boolean): Action => ({
  kind: 'commitInfo', commitInfo: { operation, ...(isBlindAppend !== undefined ? { isBlindAppend } : {}) },
});
const txn = (appId: string, version: number): Action => ({ kind: 'txn', txn: { appId, version } });
const domain = (name: string, configuration = '{}'): Action => ({ kind: 'domainMetadata', domainMetadata: { domain: name, configuration, removed: false } });
const us: ReadPredicate = [{ column: 'country', op: '=', values: ['US'] }];
const fr: ReadPredicate = [{ column: 'country', op: '=', values: ['FR'] }];

const rowTrackingTable: TableShape = {
  protocol: { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['domainMetadata', 'rowTracking'] },
  configuration: {
    'delta.enableRowTracking': 'true',
    'delta.rowTracking.materializedRowIdColumnName': '_row-id-col-1',
    'delta.rowTracking.materializedRowCommitVersionColumnName': '_row-commit-version-col-1',
  },
};
const domainTable: TableShape = { protocol: { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['domainMetadata'] } };
const dvTable: TableShape = {
  protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] },
  configuration: { 'delta.enableDeletionVectors': 'true' },
};
const ictTable: TableShape = {
  protocol: { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['inCommitTimestamp'] },
  configuration: { 'delta.enableInCommitTimestamps': 'true' },
};

const cases: ConflictCase[] = [
  // Allowed concurrent actions (Spark: OptimisticTransactionSuite "Allowed concurrent actions").
  { name: 'append / append (blind appends)', winner: [addFile('a', 'US')], loser: { actions: [addFile('b', 'US')] }, expected: 'rebased' },
  { name: 'blind append without a read version lands on any head', winner: [addFile('a', 'US')], loser: { actions: [addFile('b', 'US')], readVersion: 'none' }, expected: 'rebased' },
  { name: 'no concurrent winner', setup: [addFile('a', 'US')], loser: { actions: [removeFile('a', 'US'), addFile('b', 'US')], readPredicates: [us] }, expected: 'committed' },
  { name: 'disjoint txns', winner: [txn('t2', 0), addFile('a', 'US')], loser: { actions: [txn('t1', 0), addFile('b', 'US')] }, expected: 'rebased' },
  {
    name: 'disjoint delete / read', setup: [addFile('a', 'FR')], winner: [removeFile('a', 'FR')],
    loser: { actions: [addFile('b', 'US')], readPredicates: [us] }, expected: 'rebased',
  },
  { name: 'disjoint add / read', winner: [info('MERGE', false), addFile('a', 'FR')], loser: { actions: [addFile('b', 'US')], readPredicates: [us] }, expected: 'rebased' },
  { name: 'a different domain', table: domainTable, winner: [domain('app.one'), addFile('a', 'US')], loser: { actions: [domain('app.two'), addFile('b', 'US')] }, expected: 'rebased' },
  {
    name: 'winner restates the same protocol', winner: [{ kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } }],
    loser: { actions: [addFile('b', 'US')] }, expected: 'rebased',
  },
  {
    name: 'metadata-only loser over an append', winner: [addFile('a', 'US')],
    loser: { actions: [createActions({ configuration: { owner: 'me' } })[1] as Action] }, expected: 'rebased',
  },
  // Disallowed concurrent actions.
  { name: 'delete / delete', setup: [addFile('a', 'US')], winner: [removeFile('a', 'US')], loser: { actions: [removeFile('a', 'US')] }, expected: 'concurrent-delete-delete' },
  {
    name: 'delete / delete of the same path under another deletion vector', table: dvTable, setup: [addFile('a', 'US', { dv: 'dv1' })],
    winner: [removeFile('a', 'US', { dv: 'dv1' })], loser: { actions: [removeFile('a', 'US')] }, expected: 'concurrent-delete-delete',
  },
  {
    name: 'insert-only MERGE / insert-only MERGE (add / read + write)', winner: [info('MERGE', false), addFile('a', 'US')],
    loser: { actions: [info('MERGE'), addFile('b', 'US')], readPredicates: [us] }, expected: 'concurrent-append',
  },
  {
    name: 'insert-only MERGE reading the whole table', winner: [info('MERGE', false), addFile('a', 'FR')],
    loser: { actions: [info('MERGE'), addFile('b', 'US')], readPredicates: 'whole-table' }, expected: 'concurrent-append',
  },
  {
    name: 'a winner without commitInfo counts as not a blind append', winner: [addFile('a', 'US')],
    loser: { actions: [addFile('b', 'US')], readPredicates: [us] }, expected: 'concurrent-append',
  },
  {
    name: 'add in part=FR / read from US or FR, write to US', winner: [info('WRITE', false), addFile('a', 'FR')],
    loser: { actions: [addFile('b', 'US')], readPredicates: [us, fr] }, expected: 'concurrent-append',
  },
  {
    name: 'in-list and is-null predicates', winner: [info('WRITE', false), addFile('a', null)],
    loser: { actions: [addFile('b', 'US')], readPredicates: [[{ column: 'country', op: 'is-null' }]] }, expected: 'concurrent-append',
  },
  {
    name: 'WriteSerializable ignores a blind-append winner', winner: [info('WRITE', true), addFile('a', 'US')],
    loser: { actions: [addFile('b', 'US')], readPredicates: [us], isolationLevel: 'WriteSerializable' }, expected: 'rebased',
  },
  {
    name: 'Serializable counts a blind-append winner', winner: [info('WRITE', true), addFile('a', 'US')],
    loser: { actions: [addFile('b', 'US')], readPredicates: [us], isolationLevel: 'Serializable' }, expected: 'concurrent-append',
  },
  {
    name: "the table's delta.isolationLevel is the default", table: { configuration: { 'delta.isolationLevel': 'Serializable' } },
    winner: [info('WRITE', true), addFile('a', 'US')], loser: { actions: [addFile('b', 'US')], readPredicates: [us] }, expected: 'concurrent-append',
  },
  {
    name: 'WriteSerializable counts a blind-append winner when the loser changes metadata', winner: [info('WRITE', true), addFile('a', 'US')],
    loser: { actions: [createActions({ configuration: { owner: 'me' } })[1] as Action, addFile('b', 'US')], readPredicates: [us] }, expected: 'concurrent-append',
  },
  {
    name: 'a loser that changes no data checks no appends (SnapshotIsolation)', setup: [addFile('a', 'US'), addFile('c', 'US')],
    winner: [info('WRITE', false), addFile('w', 'US')],
    loser: { actions: [removeFile('a', 'US', { dataChange: false }), addFile('ac', 'US', { dataChange: false })], readPredicates: 'whole-table', readFiles: ['a.parquet'] },
    expected: 'rebased',
  },
  {
    name: 'unpartitioned: any non-blind add conflicts with a reader', table: { partitionColumns: [] }, setup: [unpartitionedAdd('a')],
    winner: [info('UPDATE', false), unpartitionedAdd('w')], loser: { actions: [unpartitionedAdd('b')], readFiles: ['a.parquet'] }, expected: 'concurrent-append',
  },
  {
    name: 'delete / read (a file it named)', setup: [addFile('a', 'US')], winner: [removeFile('a', 'US')],
    loser: { actions: [addFile('b', 'FR')], readFiles: ['a.parquet'] }, expected: 'concurrent-delete-read',
  },
  {
    name: 'delete / read (a partition it read)', setup: [addFile('a', 'US')], winner: [removeFile('a', 'US')],
    loser: { actions: [addFile('b', 'FR')], readPredicates: [us] }, expected: 'concurrent-delete-read',
  },
  {
    name: 'taint whole table', setup: [addFile('a', 'FR')], winner: [info('WRITE', false), addFile('w', 'DE')],
    loser: { actions: [addFile('c', 'JP')], readPredicates: 'whole-table' }, expected: 'concurrent-append',
  },
  {
    name: 'taint whole table + concurrent remove', table: { partitionColumns: [] }, setup: [unpartitionedAdd('a')], winner: [removeFile('a', undefined)],
    loser: { actions: [unpartitionedAdd('b')], readPredicates: 'whole-table' }, expected: 'concurrent-delete-read',
  },
  { name: 'schema change', winner: [createActions({ configuration: { changed: 'yes' } })[1] as Action], loser: { actions: [addFile('b', 'US')] }, expected: 'metadata-changed' },
  { name: 'conflicting txns', winner: [txn('t1', 1), addFile('a', 'US')], loser: { actions: [txn('t1', 2), addFile('b', 'US')] }, expected: 'concurrent-transaction' },
  {
    name: 'upgrade / upgrade', winner: [{ kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 3 } }],
    loser: { actions: [{ kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 4 } }] }, expected: 'protocol-changed',
  },
  { name: 'the same domain', table: domainTable, winner: [domain('app.one'), addFile('a', 'US')], loser: { actions: [domain('app.one'), addFile('b', 'US')] }, expected: 'concurrent-domain-metadata' },
  {
    name: 'the row-tracking domain is merged, not a conflict', table: rowTrackingTable,
    winner: [addFile('a', 'US')], loser: { actions: [domain('delta.rowTracking', '{"rowIdHighWaterMark":9}'), addFile('b', 'US', { baseRowId: 0 })] }, expected: 'rebased',
  },
  {
    name: 'column mapping: predicates by logical name match physical partition values', table: { columnMapping: true },
    winner: [info('MERGE', false), addFile('a', 'US', { key: 'col-country' })],
    loser: { actions: [info('MERGE'), addFile('b', 'US', { key: 'col-country' })], readPredicates: [us] }, expected: 'concurrent-append',
  },
  {
    name: 'column mapping: another partition', table: { columnMapping: true }, winner: [info('MERGE', false), addFile('a', 'FR', { key: 'col-country' })],
    loser: { actions: [info('MERGE'), addFile('b', 'US', { key: 'col-country' })], readPredicates: [us] }, expected: 'rebased',
  },
  // Refused descriptions.
  { name: 'a remove without a read version', setup: [addFile('a', 'US')], loser: { actions: [removeFile('a', 'US')], readVersion: 'none' }, expected: { refused: /needs the version it read/ } },
  {
    name: 'a metadata change without a read version', loser: { actions: [createActions({ configuration: { x: '1' } })[1] as Action], readVersion: 'none' },
    expected: { refused: /needs the version it read/ },
  },
  { name: 'a "blind append" that removes', setup: [addFile('a', 'US')], loser: { actions: [removeFile('a', 'US'), addFile('b', 'US')], isBlindAppend: true }, expected: { refused: /blind append only adds/ } },
  { name: 'a "blind append" that read', loser: { actions: [addFile('b', 'US')], readPredicates: [us], isBlindAppend: true }, expected: { refused: /blind append only adds/ } },
  { name: 'a predicate on a data column', loser: { actions: [addFile('b', 'US')], readPredicates: [[{ column: 'id', op: '=', values: ['1'] }]] }, expected: { refused: /not a partition column/ } },
  {
    name: 'a second deletion vector for a live path', table: dvTable, setup: [addFile('a', 'US', { dv: 'dv1' })],
    loser: { actions: [addFile('a', 'US', { dv: 'dv2' })] }, expected: { refused: /live at version 1 with deletion vector/ },
  },
  {
    name: 'a second deletion vector for a path a winner made live', table: dvTable, winner: [addFile('a', 'US', { dv: 'dv1' })],
    loser: { actions: [addFile('a', 'US', { dv: 'dv2' })] }, expected: { refused: /live at version 2 with deletion vector/ },
  },
  {
    name: 'an add without numRecords on a row-tracking table', table: rowTrackingTable,
    loser: { actions: [{ kind: 'add', add: { path: 'n.parquet', partitionValues: { country: 'US' }, size: 1, modificationTime: 1, dataChange: true } }] },
    expected: { refused: /has no stats\.numRecords/ },
  },
  {
    name: 'writer features are enforced on the commit path (appendOnly)', table: { configuration: { 'delta.appendOnly': 'true' } }, setup: [addFile('a', 'US')],
    loser: { actions: [removeFile('a', 'US')] }, expected: { refused: /append-only/ },
  },
];

function actionLine(action: Action): string {
  if (action.kind === 'unknown') return JSON.stringify({ [action.name]: action.value });
  return JSON.stringify({ [action.kind]: (action as Record<string, unknown>)[action.kind] });
}

function predicateFlag(predicate: ReadPredicate): string {
  return predicate.map((term) => (term.op === 'is-null' ? `${term.column} is null` : term.op === '=' ? `${term.column}=${term.values?.[0]}` : `${term.column} in (${(term.values ?? []).join(',')})`)).join(' and ');
}

function cliArgs(table: string, loser: Loser): string[] {
  const args = ['commit', '--table', table];
  const readVersion = loser.readVersion ?? 1;
  if (readVersion !== 'none') args.push('--read-version', String(readVersion));
  if (loser.isolationLevel) args.push('--isolation-level', loser.isolationLevel);
  if (loser.readPredicates === 'whole-table') args.push('--read-whole-table');
  else for (const predicate of loser.readPredicates ?? []) args.push('--read-predicate', predicateFlag(predicate));
  for (const file of loser.readFiles ?? []) args.push('--read-file', file);
  if (loser.isBlindAppend === true) args.push('--blind-append');
  if (loser.isBlindAppend === false) args.push('--no-blind-append');
  return args;
}

describeWithEnv('conflict rules (Spark ConflictChecker parity)', (env) => {
  let pool: Pool;
  const childEnv = { ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl };
  before(() => {
    pool = env.pool(12);
  });
  after(async () => {
    await pool.end();
  });

  const runCli = (args: string[], input: string): Promise<CliRun> => runDeltameta(args, childEnv, input);

  async function viaLibrary(table: string, loser: Loser): Promise<string> {
    const readVersion = loser.readVersion ?? 1;
    const request: CommitRequest = {
      table, actions: loser.actions,
      ...(readVersion !== 'none' ? { readVersion } : {}),
      ...(loser.readPredicates ? { readPredicates: loser.readPredicates } : {}),
      ...(loser.readFiles ? { readFiles: loser.readFiles } : {}),
      ...(loser.isolationLevel ? { isolationLevel: loser.isolationLevel } : {}),
      ...(loser.isBlindAppend !== undefined ? { isBlindAppend: loser.isBlindAppend } : {}),
    };
    try {
      return `ok@${(await commit(pool, request)).version}`;
    } catch (error) {
      if (error instanceof CommitConflictError) return error.reason;
      if (error instanceof BadRequestError) return `refused: ${error.message}`;
      throw error;
    }
  }

  async function viaCli(table: string, loser: Loser): Promise<string> {
    const result = await runCli(cliArgs(table, loser), `${loser.actions.map(actionLine).join('\n')}\n`);
    if (result.code === 0) return `ok@${result.stdout.trim()}`;
    if (result.code === 3) return /commit conflict \(([a-z-]+)\)/.exec(result.stderr)?.[1] ?? result.stderr;
    if (result.code === 2) return `refused: ${result.stderr}`;
    throw new Error(`deltameta commit exited ${result.code}: ${result.stderr}`);
  }

  async function prepareTable(table: string, testCase: ConflictCase): Promise<void> {
    await commit(pool, { table, actions: createActions(testCase.table ?? {}), readVersion: -1 });
    await commit(pool, { table, actions: testCase.setup ?? [txn('setup', 1)], readVersion: 0 });
    if (testCase.winner) expect((await commit(pool, { table, actions: testCase.winner, readVersion: 1 })).version).to.equal(2);
  }

  function check(got: string, expected: Expected): void {
    if (expected === 'committed') expect(got).to.equal('ok@2');
    else if (expected === 'rebased') expect(got).to.equal('ok@3');
    else if (typeof expected === 'string') expect(got).to.equal(expected);
    else expect(got).to.match(/^refused: /).and.to.match(expected.refused);
  }

  let tableNumber = 0;
  for (const testCase of cases) {
    const want = typeof testCase.expected === 'string' ? testCase.expected : `refused ${String(testCase.expected.refused)}`;
    for (const path_ of ['library', 'cli'] as const) {
      it(`${testCase.name} → ${want} (${path_})`, async function () {
        this.timeout(30_000);
        const table = `conflict_${tableNumber++}`;
        await prepareTable(table, testCase);
        const got = path_ === 'library' ? await viaLibrary(table, testCase.loser) : await viaCli(table, testCase.loser);
        check(got, testCase.expected);
        const { rows } = await pool.query<{ head: number }>(
          'SELECT max(version)::int AS head FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
        );
        const landed = testCase.expected === 'rebased' || testCase.expected === 'committed';
        expect(rows[0]?.head, 'a refused or conflicting commit writes nothing').to.equal(landed ? (testCase.winner ? 3 : 2) : (testCase.winner ? 2 : 1));
      });
    }
  }

  it('CLI flags: each refusal names its flag', async function () {
    this.timeout(30_000);
    await commit(pool, { table: 'flags', actions: createActions({}), readVersion: -1 });
    const line = `${actionLine(addFile('f', 'US'))}\n`;
    const bad: Array<[string[], RegExp]> = [
      [['--isolation-level', 'Snapshot'], /--isolation-level must be Serializable or WriteSerializable/],
      [['--read-predicate', 'country ~ US'], /--read-predicate "country ~ US"/],
      [['--read-whole-table', '--read-predicate', 'country=US'], /--read-whole-table/],
      [['--read-version', 'x'], /--read-version must be an integer/],
    ];
    for (const [flags, message] of bad) {
      const result = await runCli(['commit', '--table', 'flags', '--read-version', '0', ...flags], line);
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.match(message);
    }
    const inList = await runCli(['commit', '--table', 'flags', '--read-version', '0', '--read-predicate', 'country in (US,FR)', '--read-file', 'x.parquet'], line);
    expect(inList.code, inList.stderr).to.equal(0);
  });

  async function concurrentMerges(table: string, run: (actions: Action[]) => Promise<string>): Promise<string[]> {
    await commit(pool, { table, actions: createActions({}), readVersion: -1 });
    await commit(pool, { table, actions: [addFile('existing', 'US')], readVersion: 0 });
    // Both read version 1 (the whole table) and insert rows their MERGE found missing.
    return Promise.all([1, 2].map((writer) => run([info('MERGE'), addFile(`merge-${writer}`, 'US')])));
  }

  it('two truly concurrent insert-only MERGEs: exactly one lands, the other gets concurrent-append (library)', async function () {
    this.timeout(30_000);
    const results = await concurrentMerges('merges_lib', (actions) => viaLibrary('merges_lib', { actions, readPredicates: 'whole-table' }));
    expect(results.sort()).to.deep.equal(['concurrent-append', 'ok@2']);
  });

  it('two truly concurrent insert-only MERGEs: exactly one lands, the other gets concurrent-append (CLI)', async function () {
    this.timeout(30_000);
    const results = await concurrentMerges('merges_cli', (actions) => viaCli('merges_cli', { actions, readPredicates: [us] }));
    expect(results.sort()).to.deep.equal(['concurrent-append', 'ok@2']);
  });

  it('a commit whose protocol drops a feature the table supports is refused (deltameta has no DROP FEATURE); an upgrade lands', async function () {
    await commit(pool, { table: 'downgrade', actions: createActions({ protocol: { minReaderVersion: 1, minWriterVersion: 4 } }), readVersion: -1 });
    const refused = await commit(pool, { table: 'downgrade', actions: [{ kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } }], readVersion: 0 })
      .then(() => undefined, (error: unknown) => error as Error);
    expect(refused?.message).to.match(/drops table features? .*changeDataFeed/);
    const upgraded = await commit(pool, {
      table: 'downgrade', readVersion: 0,
      actions: [{ kind: 'protocol', protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['appendOnly', 'invariants', 'checkConstraints', 'changeDataFeed', 'generatedColumns', 'deletionVectors'] } }],
    });
    expect(upgraded.version).to.equal(1);
  });

  it('two concurrent blind appends both land', async function () {
    this.timeout(30_000);
    await commit(pool, { table: 'blind_pair', actions: createActions({}), readVersion: -1 });
    const results = await Promise.all([1, 2].map((writer) => viaLibrary('blind_pair', { actions: [addFile(`blind-${writer}`, 'US')], readVersion: 0 })));
    expect(results.sort()).to.deep.equal(['ok@1', 'ok@2']);
  });

  it('row tracking: a rebased loser gets fresh baseRowIds above the winner and defaultRowCommitVersion = its version', async function () {
    await commit(pool, { table: 'rows_rebase', actions: createActions(rowTrackingTable), readVersion: -1 });
    await commit(pool, { table: 'rows_rebase', actions: [addFile('a', 'US', { records: 5 })], readVersion: 0 });
    await commit(pool, { table: 'rows_rebase', actions: [addFile('w', 'US', { records: 10 })], readVersion: 1 });
    // The loser guessed ids from the read high-water mark (4): 5.. — the winner took them.
    const loser = await commit(pool, { table: 'rows_rebase', actions: [addFile('l', 'US', { records: 3, baseRowId: 5 })], readVersion: 1 });
    expect(loser.version).to.equal(3);
    const adds = await addsOf('rows_rebase');
    expect(adds.map((add) => [add.path, add.baseRowId, add.defaultRowCommitVersion])).to.deep.equal([
      ['a.parquet', 0, 1], ['w.parquet', 5, 2], ['l.parquet', 15, 3],
    ]);
    expect(await highWaterMark('rows_rebase')).to.equal(17);
  });

  it('row tracking under parallel committers: non-overlapping baseRowIds, the high-water mark advanced with each commit', async function () {
    this.timeout(60_000);
    const table = 'rows_parallel';
    await commit(pool, { table, actions: createActions(rowTrackingTable), readVersion: -1 });
    await Promise.all(Array.from({ length: 6 }, (_, writer) => (async () => {
      for (let i = 0; i < 4; i++) {
        await commit(pool, { table, actions: [addFile(`w${writer}-${i}-a`, 'US', { records: 1 + writer }), addFile(`w${writer}-${i}-b`, 'FR', { records: 7 })] });
      }
    })()));
    const adds = await addsOf(table);
    expect(adds).to.have.length(48);
    const ranges = adds.map((add) => [add.baseRowId as number, (add.baseRowId as number) + add.records - 1] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect((ranges[i] as readonly [number, number])[0], 'row id ranges overlap').to.be.greaterThan((ranges[i - 1] as readonly [number, number])[1]);
    for (const add of adds) expect(add.defaultRowCommitVersion).to.equal(add.version);
    expect(await highWaterMark(table)).to.equal(Math.max(...ranges.map((range) => range[1])));
  });

  it('in-commit timestamps under parallel committers: commitInfo first, inCommitTimestamp = the version timestamp, strictly increasing', async function () {
    this.timeout(60_000);
    const table = 'ict_parallel';
    await commit(pool, { table, actions: createActions(ictTable), readVersion: -1 });
    await Promise.all(Array.from({ length: 6 }, (_, writer) => (async () => {
      for (let i = 0; i < 4; i++) {
        const actions = i % 2 === 0 ? [addFile(`w${writer}-${i}`, 'US')] : [addFile(`w${writer}-${i}`, 'US'), info('WRITE')];
        await commit(pool, { table, actions });
      }
    })()));
    const { rows } = await pool.query<{ version: string; timestamp_ms: string; ict: string | null; ordinal: number | null }>(
      `SELECT c.version, c.timestamp_ms, c.commit_info->>'inCommitTimestamp' AS ict, c.commit_info_ordinal AS ordinal
         FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1 AND c.version > 0 ORDER BY c.version`, [table],
    );
    expect(rows).to.have.length(24);
    let previous = -Infinity;
    for (const row of rows) {
      expect(row.ordinal, `version ${row.version}: commitInfo first`).to.equal(0);
      expect(Number(row.ict), `version ${row.version}`).to.equal(Number(row.timestamp_ms));
      expect(Number(row.ict)).to.be.greaterThan(previous);
      previous = Number(row.ict);
    }
  });

  it('in-commit timestamps enabled by a rebased commit: the enablement version and timestamp are the landing version\'s', async function () {
    const table = 'ict_enable';
    const protocolOnly: TableShape = { ...(ictTable.protocol ? { protocol: ictTable.protocol } : {}) };
    await commit(pool, { table, actions: createActions(protocolOnly), readVersion: -1 });
    await commit(pool, { table, actions: [addFile('a', 'US')], readVersion: 0 });
    await commit(pool, { table, actions: [addFile('w', 'US')], readVersion: 1 });
    const enabling = createActions({ configuration: { 'delta.enableInCommitTimestamps': 'true', 'delta.inCommitTimestampEnablementVersion': '2' } })[1] as Action;
    expect((await commit(pool, { table, actions: [enabling], readVersion: 1 })).version).to.equal(3);
    const { rows } = await pool.query<{ configuration: Record<string, string>; timestamp_ms: string; ict: string; ordinal: number }>(
      `SELECT m.configuration, c.timestamp_ms, c.commit_info->>'inCommitTimestamp' AS ict, c.commit_info_ordinal AS ordinal
         FROM deltameta.delta_metadata m JOIN deltameta.delta_commit c USING (table_id, version) JOIN deltameta.delta_table t USING (table_id)
        WHERE t.name = $1 AND m.version = 3`, [table],
    );
    expect(rows[0]?.configuration['delta.inCommitTimestampEnablementVersion']).to.equal('3');
    expect(rows[0]?.configuration['delta.inCommitTimestampEnablementTimestamp']).to.equal(String(rows[0]?.timestamp_ms));
    expect(rows[0]?.ict).to.equal(String(rows[0]?.timestamp_ms));
    expect(rows[0]?.ordinal).to.equal(0);
  });

  async function addsOf(table: string): Promise<Array<{ path: string; version: number; records: number; baseRowId?: number; defaultRowCommitVersion?: number }>> {
    const { rows } = await pool.query<{ version: string; action: string }>(
      `SELECT a.version, a.action FROM deltameta.delta_add a JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1 ORDER BY a.version, a.ordinal`, [table],
    );
    return rows.map((row) => {
      const add = JSON.parse(row.action) as AddAction;
      return {
        path: add.path, version: Number(row.version), records: (JSON.parse(add.stats ?? '{}') as { numRecords: number }).numRecords,
        ...(typeof add.baseRowId === 'number' ? { baseRowId: add.baseRowId } : {}),
        ...(typeof add.defaultRowCommitVersion === 'number' ? { defaultRowCommitVersion: add.defaultRowCommitVersion } : {}),
      };
    });
  }

  async function highWaterMark(table: string): Promise<number> {
    const { rows } = await pool.query<{ configuration: string }>(
      `SELECT d.configuration FROM deltameta.delta_domain_metadata d JOIN deltameta.delta_table t USING (table_id)
        WHERE t.name = $1 AND d.domain = 'delta.rowTracking' ORDER BY d.version DESC LIMIT 1`, [table],
    );
    return (JSON.parse(rows[0]?.configuration ?? '{}') as { rowIdHighWaterMark: number }).rowIdHighWaterMark;
  }
});
