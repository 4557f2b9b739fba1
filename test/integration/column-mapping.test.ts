/**
 * Column mapping (name and id) through import, refresh and the reader:
 * partition values and stats are stored under physical names (`col-…`), the
 * API names columns logically, as the metaData in force at the version asked
 * does. Tables: generated ones (partition column `date` renamed to `day`
 * and `event_time` to `event_ts` at renameAt, `category` dropped at dropAt;
 * a struct `geo.city` with nested physical names) in name and id mode, and
 * one written by delta-rs (its rename and drop written by hand, since
 * delta-rs 1.6 cannot, then appended to by delta-rs under the new schema).
 * Every filter is checked against a computation over the log written out
 * here (names resolved from the schema by this file, not by the reader's
 * code), at versions before and after the rename and the drop, with L3 on
 * and off and L1/L2 off; file_index is built before the rename and
 * refreshed across it, so L3 answers rows written under the old names.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, generateTable, replay, type AddAction, type MetadataAction, type TableState } from '../../shared/delta/index.ts';
import { commit, importTable } from '../../shared/log-store/index.ts';
import { refreshTable, verifyTable } from '../../shared/materialized/index.ts';
import { deltaRsState, ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader, type RunningReader } from '../support/reader.ts';
import { TempDirs } from '../support/tables.ts';

const run = promisify(execFile);

interface Field {
  readonly name: string;
  readonly type: unknown;
  readonly metadata?: Record<string, unknown>;
}

/** Logical path → physical path, from the schema, written here independently of the reader. */
function physicalPath(metadata: MetadataAction, logical: readonly string[]): string[] | undefined {
  let fields = (JSON.parse(metadata.schemaString) as { fields: Field[] }).fields;
  const out: string[] = [];
  for (const part of logical) {
    const field = fields.find((candidate) => candidate.name === part);
    const physical = field?.metadata?.['delta.columnMapping.physicalName'];
    if (!field || typeof physical !== 'string') return undefined;
    out.push(physical);
    fields = typeof field.type === 'object' && field.type !== null ? ((field.type as { fields?: Field[] }).fields ?? []) : [];
  }
  return out;
}

type Stats = { minValues?: Record<string, unknown>; maxValues?: Record<string, unknown> };

function statOf(add: AddAction, group: 'minValues' | 'maxValues', keys: readonly string[]): unknown {
  let node: unknown = typeof add.stats === 'string' ? (JSON.parse(add.stats) as Stats)[group] : undefined;
  for (const key of keys) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

/** One filter and what it keeps, computed from the log's add actions under the physical names. */
interface Query {
  readonly query: string;
  readonly keeps: (add: AddAction) => boolean;
}

function partitionQuery(metadata: MetadataAction, logical: string, value: string | null): Query {
  const key = physicalPath(metadata, [logical])?.[0];
  if (key === undefined) throw new Error(`test: no column ${logical}`);
  return {
    query: `partition.${logical}=${encodeURIComponent(value ?? '')}`,
    keeps: (add) => (add.partitionValues[key] || null) === value,
  };
}

function statsQuery(metadata: MetadataAction, logical: string, op: 'gte' | 'lte', bound: number | string): Query {
  const keys = physicalPath(metadata, logical.split('.'));
  if (!keys) throw new Error(`test: no column ${logical}`);
  return {
    query: `stats.${logical}.${op}=${encodeURIComponent(String(bound))}`,
    keeps: (add) => {
      const value = statOf(add, op === 'gte' ? 'maxValues' : 'minValues', keys);
      if (value === undefined || value === null) return true;
      return op === 'gte' ? (value as number | string) >= bound : (value as number | string) <= bound;
    },
  };
}

function linesOf(state: TableState, keeps: (add: AddAction) => boolean): string {
  return state.liveLines().filter((line) => keeps((JSON.parse(line) as { add: AddAction }).add)).map((line) => `${line}\n`).join('');
}

interface Problem {
  readonly status: number;
  readonly detail: string;
}

async function problemOf(url: string): Promise<Problem> {
  const response = await fetch(url);
  const body = (await response.json()) as { detail?: string };
  return { status: response.status, detail: body.detail ?? '' };
}

const variants: Array<[string, Record<string, string>]> = [
  ['all levels', {}],
  ['L3 off', { DELTAMETA_READER_L3: 'off' }],
  ['L1 and L2 off', { DELTAMETA_READER_L1: 'off', DELTAMETA_READER_L2: 'off' }],
];

describeWithEnv('column mapping: logical names at the API, physical names stored', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  const readers: RunningReader[] = [];

  before(function () {
    pool = env.pool(4);
  });

  after(async function () {
    this.timeout(30_000);
    for (const reader of readers.splice(0)) await reader.stop();
    await pool.end();
    dirs.removeAll();
  });

  async function reader(overrides: Record<string, string>, suffix: string): Promise<RunningReader> {
    const running = await startTestReader(env, overrides, suffix);
    readers.push(running);
    return running;
  }

  for (const mode of ['name', 'id'] as const) {
    describe(`a generated ${mode}-mode table, renamed at 6 and dropped at 9`, function () {
      const table = `cm_gen_${mode}`;
      const renameAt = 6;
      const dropAt = 9;
      const mv = 8;
      let dir: string;
      let head: number;
      const states = new Map<number, TableState>();

      async function stateAt(version: number): Promise<TableState> {
        let state = states.get(version);
        if (!state) states.set(version, (state = await replay(dir, { version })));
        return state;
      }

      before(async function () {
        this.timeout(120_000);
        dir = dirs.make(`cm-${mode}`);
        await generateTable(dir, { files: 300, commits: 14, partitions: 5, checkpointInterval: 5, seed: mode === 'name' ? 21 : 22, columnMapping: { mode, renameAt, dropAt } });
        await importTable(pool, dir, table, { history: true });
        // file_index written before the rename, then refreshed across it: L3 must answer old rows by new names without a rewrite.
        await refreshTable(pool, table, { upToVersion: renameAt - 2 });
        await refreshTable(pool, table, { upToVersion: mv });
        head = (await replay(dir)).version;
        expect(head).to.equal(14);
      });

      it('keeps physical keys in the log, the snapshot and file_index, and verifies', async function () {
        const state = await stateAt(mv);
        const key = physicalPath(state.metadata as MetadataAction, ['day'])?.[0] ?? '';
        expect(key).to.match(/^col-/);
        const { rows } = await pool.query<{ keys: string[] }>(
          `SELECT DISTINCT array(SELECT jsonb_object_keys(partition_values)) AS keys FROM deltameta.file_index f JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1`, [table],
        );
        expect(rows.map((row) => row.keys)).to.deep.equal([[key]]);
        const verified = await verifyTable(pool, table);
        expect(verified.problems, JSON.stringify(verified.problems)).to.deep.equal([]);
      });

      for (const [label, overrides] of variants) {
        it(`filters by logical names at versions before and after the rename and the drop (${label})`, async function () {
          this.timeout(120_000);
          const { base } = await reader(overrides, `${mode}-${label.replace(/ /g, '-')}:`);
          for (const version of [renameAt - 2, renameAt - 1, renameAt, mv, dropAt, head]) {
            const state = await stateAt(version);
            const metadata = state.metadata as MetadataAction;
            const partition = version >= renameAt ? 'day' : 'date';
            const eventTime = version >= renameAt ? 'event_ts' : 'event_time';
            const adds = [...state.files.values()];
            const date = adds.map((add) => Object.values(add.partitionValues)[0]).find((value) => typeof value === 'string') ?? '';
            const ids = adds.map((add) => statOf(add, 'minValues', physicalPath(metadata, ['id']) ?? []) as number).sort((a, b) => a - b);
            const middle = ids[Math.floor(ids.length / 2)] ?? 0;
            const queries: Query[][] = [
              [partitionQuery(metadata, partition, date)],
              [partitionQuery(metadata, partition, null)],
              [statsQuery(metadata, 'id', 'gte', middle)],
              [statsQuery(metadata, eventTime, 'lte', '2026-01-01T06:00:00.000Z')],
              [statsQuery(metadata, 'geo.city', 'lte', 'city2')],
              [partitionQuery(metadata, partition, date), statsQuery(metadata, 'id', 'lte', middle)],
              ...(version < dropAt ? [[statsQuery(metadata, 'category', 'gte', 'c40')]] : []),
            ];
            for (const combined of queries) {
              const query = combined.map((q) => q.query).join('&');
              const expected = linesOf(state, (add) => combined.every((q) => q.keeps(add)));
              // A filter that keeps every file or none could not show a mistranslated name.
              if (expected === '' || expected === linesOf(state, () => true)) throw new Error(`test data: ${query} does not prune at ${version}`);
              const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&${query}`);
              expect(response.status, `${query} at ${version}: ${response.status}`).to.equal(200);
              expect(await response.text(), `${query} at ${version}`).to.equal(expected);
            }
            // the whole list is the add actions as stored: physical keys
            const whole = await fetch(`${base}/v1/tables/${table}/files?version=${version}`);
            expect(await whole.text()).to.equal(linesOf(state, () => true));
            const summary = (await (await fetch(`${base}/v1/tables/${table}?version=${version}`)).json()) as { metadata: MetadataAction };
            expect(summary.metadata.partitionColumns).to.deep.equal([partition]);
          }
        });
      }

      it('refuses names the schema at that version does not have, naming them', async function () {
        const { base } = await reader({}, `${mode}-refusals:`);
        const cases: Array<[number, string, string]> = [
          [renameAt - 1, 'partition.day=2026-01-01', 'day'],
          [renameAt, 'partition.date=2026-01-01', 'date'],
          [renameAt, 'stats.event_time.gte=2026', 'event_time'],
          [dropAt - 1, 'stats.nope.gte=1', 'nope'],
          [dropAt, 'stats.category.gte=c1', 'category'],
          [head, 'stats.geo.town.lte=x', 'geo.town'],
          [head, 'partition.nope=', 'nope'],
        ];
        for (const [version, query, column] of cases) {
          const problem = await problemOf(`${base}/v1/tables/${table}/files?version=${version}&${query}`);
          expect(problem.status, `${query} at ${version}`).to.equal(400);
          expect(problem.detail, `${query} at ${version}`).to.contain(`"${column}"`);
        }
        // the physical name is not an API name either
        const physical = physicalPath((await stateAt(head)).metadata as MetadataAction, ['day'])?.[0] ?? '';
        expect((await problemOf(`${base}/v1/tables/${table}/files?version=${head}&partition.${physical}=2026-01-01`)).status).to.equal(400);
      });

      it('answers a commit made through deltameta (physical keys) by its logical name from the log tail', async function () {
        this.timeout(60_000);
        const state = await stateAt(head);
        const metadata = state.metadata as MetadataAction;
        const key = physicalPath(metadata, ['day'])?.[0] ?? '';
        const template = [...state.files.values()][0] as AddAction;
        const add: AddAction = { ...template, path: `${key}=2030-01-01/committed-${mode}.parquet`, partitionValues: { [key]: '2030-01-01' }, dataChange: true };
        const { version } = await commit(pool, { table, actions: [{ kind: 'add', add }], readVersion: head });
        for (const [label, overrides] of variants) {
          const { base } = await reader(overrides, `${mode}-commit-${label.replace(/ /g, '-')}:`);
          const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&partition.day=2030-01-01`);
          const paths = (await response.text()).trim().split('\n').map((line) => (JSON.parse(line) as { add: AddAction }).add.path);
          expect(paths, label).to.deep.equal([add.path]);
        }
      });
    });
  }

  describe('a table written by delta-rs (name mode, struct column), renamed and dropped by hand, appended to after', function () {
    const table = 'cm_deltars';
    let dir: string;
    // v0 create, v1 append, v2 rename country → nation, v3 append, v4 drop score, v5 append
    const script = `
import json, sys
import pyarrow as pa
from deltalake import write_deltalake
d = sys.argv[1]
log = d + '/_delta_log/'
def rows(ids, countries, key):
    return pa.table({'id': pa.array(ids, pa.int64()), key: countries,
                     'geo': pa.array([{'city': 'c%d' % (i % 5)} for i in ids]), 'score': pa.array([i * 1.5 for i in ids])})
write_deltalake(d, rows(list(range(0, 12)), ['US', 'FR', 'DE', None] * 3, 'country'), partition_by=['country'],
                configuration={'delta.columnMapping.mode': 'name'})
write_deltalake(d, rows(list(range(12, 20)), ['US', 'FR'] * 4, 'country'), mode='append')
def metadata_change(version, change, operation):
    meta = None
    for v in range(version):
        for line in open(log + '%020d.json' % v):
            if 'metaData' in line:
                meta = json.loads(line)['metaData']
    schema = json.loads(meta['schemaString'])
    change(meta, schema)
    meta['schemaString'] = json.dumps(schema)
    with open(log + '%020d.json' % version, 'w') as out:
        out.write(json.dumps({'commitInfo': {'timestamp': 1800000000000 + version, 'operation': operation}}) + '\\n')
        out.write(json.dumps({'metaData': meta}) + '\\n')
def rename(meta, schema):
    for field in schema['fields']:
        if field['name'] == 'country':
            field['name'] = 'nation'
    meta['partitionColumns'] = ['nation']
metadata_change(2, rename, 'RENAME COLUMN')
write_deltalake(d, rows(list(range(20, 26)), ['DE', 'US', 'JP'] * 2, 'nation'), mode='append')
def drop(meta, schema):
    schema['fields'] = [f for f in schema['fields'] if f['name'] != 'score']
metadata_change(4, drop, 'DROP COLUMN')
write_deltalake(d, rows(list(range(26, 30)), ['JP', 'FR'] * 2, 'nation').drop_columns(['score']), mode='append')
`;

    before(async function () {
      this.timeout(120_000);
      const python = await ensureDeltaRs();
      dir = dirs.make('cm-deltars');
      const file = path.join(dir, '..', `${path.basename(dir)}-write.py`);
      writeFileSync(file, script);
      await run(python, [file, dir]);
      expect(readFileSync(path.join(dir, '_delta_log', commitFileName(5)), 'utf8')).to.contain('"add"');
      await importTable(pool, dir, table, { history: true });
      await refreshTable(pool, table, { upToVersion: 3 });
    });

    for (const [label, overrides] of variants) {
      it(`filters by logical names as delta-rs names them, at every version (${label})`, async function () {
        this.timeout(120_000);
        const { base } = await reader(overrides, `deltars-${label.replace(/ /g, '-')}:`);
        for (let version = 0; version <= 5; version++) {
          const state = await replay(dir, { version });
          const metadata = state.metadata as MetadataAction;
          const partition = version >= 2 ? 'nation' : 'country';
          // delta-rs names partition values logically: its answer is the expected file set, independently of the log's keys.
          const reference = await deltaRsState(dir, version);
          expect(reference.metadata.partitionColumns).to.deep.equal([partition]);
          for (const value of ['US', 'JP', null]) {
            const expectedPaths = reference.files.filter((file) => (file.partitionValues[partition] ?? null) === value).map((file) => file.path).sort();
            const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&partition.${partition}=${value ?? ''}`);
            const text = await response.text();
            const paths = text === '' ? [] : text.trim().split('\n').map((line) => (JSON.parse(line) as { add: AddAction }).add.path).sort();
            expect(paths, `partition.${partition}=${value} at ${version}`).to.deep.equal(expectedPaths);
            expect(text).to.equal(linesOf(state, partitionQuery(metadata, partition, value).keeps));
          }
          const queries = [statsQuery(metadata, 'id', 'gte', 14), statsQuery(metadata, 'geo.city', 'lte', 'c1'), ...(version < 4 ? [statsQuery(metadata, 'score', 'lte', 6)] : [])];
          for (const { query, keeps } of queries) {
            const response = await fetch(`${base}/v1/tables/${table}/files?version=${version}&${query}`);
            expect(await response.text(), `${query} at ${version}`).to.equal(linesOf(state, keeps));
          }
          const stale = version >= 2 ? 'partition.country=US' : 'partition.nation=US';
          expect((await problemOf(`${base}/v1/tables/${table}/files?version=${version}&${stale}`)).status, `${stale} at ${version}`).to.equal(400);
          if (version >= 4) expect((await problemOf(`${base}/v1/tables/${table}/files?version=${version}&stats.score.lte=6`)).status).to.equal(400);
        }
      });
    }
  });
});
