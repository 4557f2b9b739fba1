/**
 * GET /v1/tables/{name}/files in Arrow (services/reader/arrow-files.ts,
 * shared/arrow, the Arrow side of the file pages, sql/000009): read back by
 * pyarrow, the stream carries the NDJSON list's files and values at
 * versions before the pages' first build (rows) and inside their range
 * (stored batches), filtered and paged alike; a metaData change that
 * changes the columns rewrites the pages in the new layout; `fields=`
 * projects and names an unknown column; and for a table delta-rs wrote, the
 * columns equal delta-rs's own get_add_actions(flatten=True), name by name,
 * type by type, value by value.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, type AddAction, type MetadataAction } from '../../shared/delta/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { refreshFilePages, refreshTable } from '../../shared/materialized/index.ts';
import { deltaRsWriteSample, runReference } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader, type RunningReader } from '../support/reader.ts';
import { commitOnHead, TempDirs } from '../support/tables.ts';

const arrowType = 'application/vnd.apache.arrow.stream';
const script = path.join(projectRoot, 'test', 'reference', 'arrow_files.py');

type Row = Record<string, unknown>;
interface StreamRows {
  readonly schema: Array<[string, string, boolean]>;
  readonly rows: Row[];
}

describeWithEnv('reader: file lists in Arrow', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let reader: RunningReader;
  let streams = 0;

  before(async function () {
    this.timeout(180_000);
    pool = env.pool(4);
    const dir = dirs.make('gen');
    await generateTable(dir, { files: 400, commits: 6, partitions: 4, checkpointInterval: 10, seed: 12 });
    await importTable(pool, dir, 'gen', { history: true });
    // Pages first built at version 3: versions before it come from the rows.
    await refreshTable(pool, 'gen', { upToVersion: 3 });
    await refreshFilePages(pool, 'gen', { targetBytes: 8 * 1024 });
    await refreshTable(pool, 'gen');
    await refreshFilePages(pool, 'gen', { targetBytes: 8 * 1024 });
    reader = await startTestReader(env, {}, 'arrow');
  });

  after(async function () {
    this.timeout(30_000);
    await reader?.stop();
    await pool?.end();
    dirs.removeAll();
  });

  async function get(query: string, accept?: string): Promise<Response> {
    return fetch(`${reader.base}/v1/tables/${query}`, { headers: accept ? { accept } : {} });
  }

  /** The body through pyarrow.ipc.open_stream. */
  async function pyarrowRows(body: ArrayBuffer): Promise<StreamRows> {
    const file = path.join(dirs.make(`stream-${++streams}`), 'list.arrows');
    await writeFile(file, Buffer.from(body));
    return await runReference(['rows', file], script) as StreamRows;
  }

  async function ndjson(query: string): Promise<AddAction[]> {
    const response = await get(query);
    expect(response.status, await response.clone().text()).to.equal(200);
    return (await response.text()).split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { add: AddAction }).add);
  }

  async function arrow(query: string): Promise<{ rows: StreamRows; response: Response }> {
    const response = await get(query, arrowType);
    expect(response.status, await response.clone().text()).to.equal(200);
    expect(response.headers.get('content-type')).to.equal(arrowType);
    expect(response.headers.get('vary')).to.include('Accept,');
    return { rows: await pyarrowRows(await response.arrayBuffer()), response };
  }

  function statsValue(stats: Row | undefined, group: string, column: string): unknown {
    let node: unknown = stats?.[group];
    for (const part of column.split('.')) node = typeof node === 'object' && node !== null ? (node as Row)[part] : undefined;
    return node ?? null;
  }

  /** Each Arrow row against its NDJSON add: same files in the same order, same values. */
  function expectSameFiles(rows: StreamRows, adds: AddAction[]): void {
    expect(rows.rows.map((row) => row['path'])).to.deep.equal(adds.map((add) => add.path));
    const columns = rows.schema.map(([name]) => name);
    expect(columns.slice(0, 5)).to.deep.equal(['path', 'size_bytes', 'modification_time', 'data_change', 'num_records']);
    let checked = 0;
    rows.rows.forEach((row, i) => {
      const add = adds[i] as AddAction;
      const stats = add.stats ? JSON.parse(add.stats) as Row : undefined;
      expect(row['size_bytes']).to.equal(add.size);
      expect(row['modification_time']).to.equal(add.modificationTime);
      expect(row['num_records']).to.equal(stats?.['numRecords'] ?? null);
      expect(row['deletionVector.pathOrInlineDv']).to.equal(add.deletionVector?.pathOrInlineDv ?? null);
      expect(row['deletionVector.cardinality']).to.equal(add.deletionVector?.cardinality ?? null);
      for (const column of columns) {
        const [group, ...rest] = column.split('.');
        const name = rest.join('.');
        const expected = group === 'min' ? statsValue(stats, 'minValues', name) : group === 'max' ? statsValue(stats, 'maxValues', name)
          : group === 'null_count' ? statsValue(stats, 'nullCount', name) : group === 'partition' ? add.partitionValues[name] ?? null : undefined;
        if (expected === undefined) continue;
        const actual = row[column];
        // Timestamps: microseconds against the log's ISO spelling; partition values: typed against their string form.
        if (typeof expected === 'string' && typeof actual === 'number' && /^\d{4}-\d\d-\d\d[T ]/.test(expected)) expect(actual, column).to.equal(Date.parse(expected.includes('T') ? expected : `${expected.replace(' ', 'T')}Z`) * 1000);
        else if (group === 'partition') expect(actual === null ? null : JSON.stringify(actual).replace(/^"|"$/g, ''), column).to.equal(expected);
        else expect(actual, `${add.path} ${column}`).to.deep.equal(expected);
        checked++;
      }
    });
    expect(checked, 'stats and partition values compared').to.be.greaterThan(adds.length);
  }

  it('equals the NDJSON list before the pages, inside their range and at the head', async function () {
    this.timeout(120_000);
    const sources: string[] = [];
    for (const version of [1, 3, 5, 6]) {
      const adds = await ndjson(`gen/files?version=${version}`);
      expect(adds.length, `files at ${version}`).to.be.greaterThan(10);
      const { rows, response } = await arrow(`gen/files?version=${version}`);
      expect(response.headers.get('delta-table-version')).to.equal(String(version));
      sources.push(response.headers.get('server-timing') ?? '');
      expectSameFiles(rows, adds);
    }
    expect(sources[0], 'version 1: before the pages').to.include('rows');
    for (const source of sources.slice(1)) expect(source).to.include('file pages');
  });

  it('filters and pages like NDJSON, every page a stream pyarrow reads', async function () {
    this.timeout(120_000);
    const partition = (await ndjson('gen/files?version=4')).map((add) => Object.entries(add.partitionValues)[0]).find((entry) => entry?.[1] !== null);
    expect(partition, 'a partitioned table').to.not.equal(undefined);
    const [column, value] = partition as [string, string];
    const filter = `partition.${column}=${encodeURIComponent(value)}`;
    const filtered = await ndjson(`gen/files?version=4&${filter}`);
    expect(filtered.length).to.be.within(1, (await ndjson('gen/files?version=4')).length - 1);
    expectSameFiles((await arrow(`gen/files?version=4&${filter}`)).rows, filtered);

    const paths: unknown[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const { rows, response } = await arrow(`gen/files?version=4&pageSize=37${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
      expect(rows.rows.length).to.be.within(1, 37);
      paths.push(...rows.rows.map((row) => row['path']));
      token = response.headers.get('next-page-token');
      pages++;
    } while (token !== null && pages < 100);
    expect(pages).to.be.greaterThan(2);
    expect(paths).to.deep.equal((await ndjson('gen/files?version=4')).map((add) => add.path));
  });

  it('answers a partition filter at the head from the pages: their stored batches where a page is of one partition, the lines of mixed pages', async function () {
    this.timeout(120_000);
    const { rows: kinds } = await pool.query<{ pure: number; mixed: number }>(
      `SELECT count(*) FILTER (WHERE partition_values IS NOT NULL)::int AS pure, count(*) FILTER (WHERE partition_values IS NULL)::int AS mixed
         FROM deltameta.file_page p JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'gen' AND p.valid_to IS NULL`,
    );
    expect(kinds[0]?.pure, 'pages of one partition').to.be.greaterThan(0);
    expect(kinds[0]?.mixed, 'pages spanning two partitions').to.be.greaterThan(0);
    const head = await ndjson('gen/files');
    const values = [...new Set(head.map((add) => Object.entries(add.partitionValues)[0]).filter((entry) => entry !== undefined).map(([column, value]) => `${column}=${value ?? ''}`))];
    expect(values.length, 'several partitions').to.be.greaterThan(1);
    let listed = 0;
    for (const value of [...values, `${(values[0] ?? 'x=').split('=')[0] ?? 'x'}=no-such-value`]) {
      const filter = `partition.${encodeURIComponent(value.split('=')[0] ?? '')}=${encodeURIComponent(value.slice(value.indexOf('=') + 1))}`;
      const filtered = await ndjson(`gen/files?${filter}`);
      const { rows, response } = await arrow(`gen/files?${filter}`);
      expect(response.headers.get('server-timing'), value).to.include('file pages');
      if (filtered.length > 0) expectSameFiles(rows, filtered);
      else expect(rows.rows, value).to.deep.equal([]);
      listed += filtered.length;
    }
    expect(listed, 'the partitions together are the table').to.equal(head.length);
    // Not at an older version (partition_summary counts only the head): from the rows, equal all the same.
    const [column, value] = (values[0] as string).split('=') as [string, string];
    const older = await arrow(`gen/files?version=4&partition.${column}=${encodeURIComponent(value)}`);
    expect(older.response.headers.get('server-timing')).to.not.include('file pages');
    expectSameFiles(older.rows, await ndjson(`gen/files?version=4&partition.${column}=${encodeURIComponent(value)}`));
  });

  it('projects with fields= and names an unknown field', async function () {
    this.timeout(60_000);
    const { rows } = await arrow('gen/files?fields=path,num_records');
    expect(rows.schema.map(([name]) => name)).to.deep.equal(['path', 'num_records']);
    expect(rows.rows.map((row) => row['path'])).to.deep.equal((await ndjson('gen/files')).map((add) => add.path));
    const unknown = await get('gen/files?fields=path,nope', arrowType);
    expect(unknown.status).to.equal(400);
    expect((await unknown.json() as { detail: string }).detail).to.include('no column "nope"');
    expect((await get('gen/files?fields=path')).status, 'fields without Arrow').to.equal(400);
    expect((await get('gen/files')).headers.get('content-type'), 'NDJSON stays the default').to.equal('application/x-ndjson');
  });

  it('rewrites the pages in the new columns when a metaData change adds a column', async function () {
    this.timeout(120_000);
    const { rows: metadataRows } = await pool.query<{ action: string }>(
      `SELECT m.action FROM deltameta.delta_metadata m JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'gen' ORDER BY m.version DESC LIMIT 1`);
    const metadata = JSON.parse(metadataRows[0]?.action ?? '{}') as MetadataAction;
    const schema = JSON.parse(metadata.schemaString) as { fields: unknown[] };
    schema.fields.push({ name: 'added_later', type: 'long', nullable: true, metadata: {} });
    const { version } = await commitOnHead(pool, { table: 'gen', actions: [{ kind: 'metaData', metaData: { ...metadata, schemaString: JSON.stringify(schema) } }] });
    await refreshTable(pool, 'gen');
    const result = await refreshFilePages(pool, 'gen', { targetBytes: 8 * 1024 });
    expect(result.rebuilt, 'incremental, the layout change rewrites every page').to.equal(false);
    const before = await arrow(`gen/files?version=${version - 1}`);
    const after = await arrow(`gen/files?version=${version}`);
    expect(after.response.headers.get('server-timing')).to.include('file pages');
    expect(before.response.headers.get('server-timing')).to.include('file pages');
    expect(after.rows.schema.map(([name]) => name)).to.include('null_count.added_later');
    expect(before.rows.schema.map(([name]) => name)).to.not.include('null_count.added_later');
    expect(after.rows.rows.every((row) => row['null_count.added_later'] === null)).to.equal(true);
    expectSameFiles(after.rows, await ndjson(`gen/files?version=${version}`));
  });

  it('has the columns, types and values of delta-rs get_add_actions(flatten=True) for a table delta-rs wrote', async function () {
    this.timeout(300_000);
    const dir = dirs.make('deltars');
    const { versions } = await deltaRsWriteSample(dir, { seed: 12 });
    await importTable(pool, dir, 'deltars', { history: true });
    await refreshTable(pool, 'deltars', { upToVersion: versions - 3 });
    await refreshFilePages(pool, 'deltars');
    await refreshTable(pool, 'deltars');
    await refreshFilePages(pool, 'deltars');
    for (const version of [versions - 5, versions - 2, versions - 1]) {
      const response = await get(`deltars/files?version=${version}`, arrowType);
      expect(response.status).to.equal(200);
      const file = path.join(dirs.make(`deltars-${version}`), 'list.arrows');
      await writeFile(file, Buffer.from(await response.arrayBuffer()));
      const compared = await runReference(['compare', file, dir, String(version)], script) as { mismatches: string[]; compared: number; extra: string[]; rows: number };
      expect(compared.mismatches, `version ${version}`).to.deep.equal([]);
      expect(compared.rows, `version ${version}: files`).to.be.greaterThan(0);
      expect(compared.compared).to.be.greaterThan(compared.rows * 10);
      expect(compared.extra).to.deep.equal(['data_change', 'deletionVector.storageType', 'deletionVector.pathOrInlineDv', 'deletionVector.offset', 'deletionVector.sizeInBytes', 'deletionVector.cardinality']);
    }
  });
});
