/**
 * File pages (sql/000005, shared/refresh/file-pages.ts) against the log
 * tables: built whole, then kept up version by version, the pages valid at
 * every version from their min_version on carry exactly the log's list at
 * that version (byte for byte, as one gzip member); bounds ascend and hold
 * their lines; pages split, merge and empty out; a commit rewrites only the
 * pages it touched; far-behind pages are rebuilt; retention, rebuild,
 * concurrent maintainers and tampering (found by verifyTable).
 */
import { expect } from 'chai';
import { crc32, gunzipSync } from 'node:zlib';
import type { Pool } from '../../shared/db/index.ts';
import { compareCodePoints, generateTable, type Action, type AddAction } from '../../shared/delta/index.ts';
import { commit, importTable } from '../../shared/log-store/index.ts';
import {
  GzipAssembler, applyRetention, compressPage, gzipHeader, inflatePage, pagesAt, pagesRange, rebuildTable, refreshFilePages, refreshTable, verifyTable, type StoredPage,
} from '../../shared/materialized/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { commitOnHead, snapshotOf, TempDirs } from '../support/tables.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

function createActions(): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] } },
    {
      kind: 'metaData',
      metaData: { id: 'pages-test', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: { 'delta.enableDeletionVectors': 'true' } },
    },
  ];
}

function fileAdd(path: string, dv?: string): AddAction {
  return {
    path, partitionValues: {}, size: 1000 + path.length, modificationTime: 1_700_000_000_000, dataChange: true,
    stats: JSON.stringify({ numRecords: 10, minValues: { id: 1 }, maxValues: { id: 99 } }),
    ...(dv ? { deletionVector: { storageType: 'i', pathOrInlineDv: dv, sizeInBytes: 8, cardinality: 1 } } : {}),
  };
}

const add = (path: string, dv?: string): Action => ({ kind: 'add', add: fileAdd(path, dv) });
const remove = (path: string, dv?: string): Action => ({
  kind: 'remove',
  remove: { path, deletionTimestamp: 1_700_000_000_001, dataChange: true, ...(dv ? { deletionVector: { storageType: 'i', pathOrInlineDv: dv, sizeInBytes: 8, cardinality: 1 } } : {}) },
});

interface PagesAt {
  readonly pages: StoredPage[];
  readonly text: string;
}

describeWithEnv('materialized state: file pages', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;

  async function tableIdOf(table: string): Promise<number> {
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table]);
    return rows[0]?.table_id ?? -1;
  }

  /** The pages valid at a version, read as the reader reads them (one snapshot), with the invariants of their layout checked. */
  async function pagesOf(table: string, version: number): Promise<PagesAt> {
    const tableId = await tableIdOf(table);
    const client = await pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const range = await pagesRange(client, tableId);
      expect(range, `${table}: pages`).to.not.equal(undefined);
      expect(version).to.be.within(range?.minVersion ?? 0, range?.version ?? -1);
      const pages: StoredPage[] = [];
      for await (const page of pagesAt(client, tableId, version, version === range?.version)) pages.push(page);
      await client.query('COMMIT');
      const assembler = new GzipAssembler();
      let previousLast: string | undefined;
      const texts: string[] = [];
      for (const [i, page] of pages.entries()) {
        assembler.add(page);
        const raw = inflatePage(page.body);
        expect(raw.length).to.equal(page.rawBytes);
        expect(crc32(raw)).to.equal(page.crc32);
        const lines = raw.length === 0 ? [] : raw.toString('utf8').replace(/\n$/, '').split('\n');
        expect(lines.length).to.equal(page.lines);
        if (i === 0) expect(page.lowerPath, 'the first bound').to.equal('');
        if (i > 0) expect(compareCodePoints((pages[i - 1] as StoredPage).lowerPath, page.lowerPath), 'bounds ascend').to.be.lessThan(0);
        if (previousLast !== undefined) expect(compareCodePoints(previousLast, page.lowerPath), `lines of the page before ${page.lowerPath}`).to.be.lessThan(0);
        for (const line of lines) {
          const path = (JSON.parse(line) as { add: { path: string } }).add.path;
          expect(compareCodePoints(path, page.lowerPath), `${path} in page ${page.lowerPath}`).to.be.at.least(0);
          previousLast = path;
        }
        if (i > 0 && lines.length === 0) expect.fail(`an empty page other than the first: ${page.lowerPath}`);
        texts.push(raw.toString('utf8'));
      }
      const text = texts.join('');
      // The framing the reader sends decodes (CRC and length checked) to the same bytes.
      const gz = Buffer.concat([gzipHeader, ...pages.map((page) => page.body), assembler.trailer()]);
      expect(gunzipSync(gz).toString('utf8')).to.equal(text);
      return { pages, text };
    } finally {
      client.release();
    }
  }

  async function expectPagesEqualLog(table: string, from: number, to: number): Promise<void> {
    for (let version = from; version <= to; version++) {
      const { text } = await pagesOf(table, version);
      const log = await snapshotOf(pool, table, { version });
      expect(text, `${table} at version ${version}`).to.equal(log.lines.map((line) => `${line}\n`).join(''));
    }
  }

  async function expectVerified(table: string): Promise<void> {
    const result = await verifyTable(pool, table);
    expect(result.problems, `${table} verification`).to.deep.equal([]);
  }

  before(function () {
    pool = env.pool(6);
  });

  after(async function () {
    await pool.end();
    dirs.removeAll();
  });

  it('answers every version from the first build on like the log, keeping up version by version', async function () {
    this.timeout(120_000);
    const dir = dirs.make('pages');
    await generateTable(dir, { files: 500, commits: 40, partitions: 4, checkpointInterval: 10, seed: 23 });
    await importTable(pool, dir, 'gen', { history: true });
    await refreshTable(pool, 'gen', { upToVersion: 12 });
    const built = await refreshFilePages(pool, 'gen', { targetBytes: 4096 });
    expect(built).to.include({ fromVersion: null, version: 12, rebuilt: true });
    expect(built.pagesWritten).to.be.greaterThan(5);
    let version = 12;
    let seed = 5;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const head = 40;
    while (version < head) {
      version = Math.min(head, version + 1 + random(3));
      await refreshTable(pool, 'gen', { upToVersion: version });
      const step = await refreshFilePages(pool, 'gen', { targetBytes: 4096 });
      expect(step.rebuilt).to.equal(false);
      expect(step.version).to.equal(version);
    }
    await expectPagesEqualLog('gen', 12, head);
    await expectVerified('gen');
    const again = await refreshFilePages(pool, 'gen', { targetBytes: 4096 });
    expect(again).to.include({ fromVersion: head, version: head, pagesWritten: 0, pagesClosed: 0, linesRead: 0 });
  });

  it('splits, merges and empties pages; a commit rewrites only what it touched', async function () {
    this.timeout(60_000);
    const table = 'shapes';
    const options = { targetBytes: 2048 };
    await commit(pool, { table, actions: createActions() });
    const paths = Array.from({ length: 120 }, (_, i) => `d/${String(i).padStart(4, '0')}.parquet`);
    await commit(pool, { table, actions: paths.map((path) => add(path)) });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, options);
    const before = await pagesOf(table, 1);
    expect(before.pages.length).to.be.greaterThan(10);

    // One file in the middle: one page (or two, a neighbour merged) rewritten, not the table.
    await commit(pool, { table, actions: [add('d/0060.parquet-extra')] });
    await refreshTable(pool, table);
    const one = await refreshFilePages(pool, table, options);
    expect(one.pagesClosed).to.be.within(1, 2);
    expect(one.linesRead).to.be.lessThan(paths.length / 4);

    // A page's worth of files from one range, then DV variants of one path (never split apart), astral and
    // BMP-private paths that order differently in UTF-16 and code points.
    await commit(pool, { table, actions: Array.from({ length: 40 }, (_, i) => add(`d/0060.parquet-x${String(i).padStart(3, '0')}`)) });
    await commitOnHead(pool, { table, actions: [remove('d/0010.parquet'), add('d/0010.parquet', 'dv-a'), remove('d/0011.parquet'), add('d/0011.parquet', 'dv-b'), add('\u{1F600}/a'), add('\uFFFD/b')] });
    // Remove most of a range: pages there shrink and merge.
    await commitOnHead(pool, { table, actions: paths.slice(20, 100).map((path) => remove(path)) });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, options);
    const shrunk = await pagesOf(table, 5);
    const small = shrunk.pages.filter((page, i) => i > 0 && i < shrunk.pages.length - 1 && page.rawBytes < options.targetBytes / 4);
    expect(small, 'small pages left between others').to.have.length.at.most(1);

    // Everything removed: one empty page with the bound '' is left; then files again.
    const live = (await snapshotOf(pool, table)).lines.map((line) => (JSON.parse(line) as { add: AddAction }).add);
    await commitOnHead(pool, { table, actions: live.map((file) => remove(file.path, file.deletionVector?.pathOrInlineDv)) });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, options);
    const empty = await pagesOf(table, 6);
    expect(empty.pages.map((page) => [page.lowerPath, page.lines])).to.deep.equal([['', 0]]);
    await commit(pool, { table, actions: [add('z/1'), add('a/1')] });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, options);
    await expectPagesEqualLog(table, 1, 7);
    await expectVerified(table);
  });

  it('catches up several versions in one pass, and builds whole when too far behind', async function () {
    this.timeout(60_000);
    const table = 'behind';
    await commit(pool, { table, actions: [...createActions(), add('a'), add('b')] });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, { targetBytes: 512 });
    for (let i = 0; i < 6; i++) await commitOnHead(pool, { table, actions: [add(`f${i}`), i % 2 === 0 ? remove(i === 0 ? 'a' : `f${i - 2}`) : add(`e${i}`)] });
    await refreshTable(pool, table);
    const caughtUp = await refreshFilePages(pool, table, { targetBytes: 512 });
    expect(caughtUp).to.include({ fromVersion: 0, version: 6, rebuilt: false });
    await expectPagesEqualLog(table, 0, 6);

    for (let i = 0; i < 4; i++) await commit(pool, { table, actions: [add(`g${i}`)] });
    await refreshTable(pool, table);
    const rebuilt = await refreshFilePages(pool, table, { targetBytes: 512, maxIncrementalVersions: 3 });
    expect(rebuilt).to.include({ fromVersion: 6, version: 10, rebuilt: true });
    const client = await pool.connect();
    try {
      expect(await pagesRange(client, await tableIdOf(table))).to.include({ minVersion: 10, version: 10 });
    } finally {
      client.release();
    }
    await expectPagesEqualLog(table, 10, 10);
  });

  it('serializes concurrent maintainers; retention and rebuild keep pages and state in step', async function () {
    this.timeout(60_000);
    const table = 'kept';
    await commit(pool, { table, actions: [...createActions(), ...Array.from({ length: 30 }, (_, i) => add(`p${i}`))] });
    await refreshTable(pool, table);
    const [a, b] = await Promise.all([refreshFilePages(pool, table, { targetBytes: 1024 }), refreshFilePages(pool, table, { targetBytes: 1024 })]);
    expect([a.rebuilt, b.rebuilt].sort()).to.deep.equal([false, true]);
    expect(Math.min(a.pagesWritten, b.pagesWritten)).to.equal(0);
    for (let i = 0; i < 5; i++) await commitOnHead(pool, { table, actions: [remove(`p${i * 5}`), add(`q${i}`)] });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, { targetBytes: 1024 });
    const id = await tableIdOf(table);
    const replaced = async (): Promise<number> => Number((await pool.query<{ n: number }>('SELECT count(*)::integer AS n FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NOT NULL', [id])).rows[0]?.n);
    expect(await replaced()).to.be.greaterThan(0);

    // Every commit is older than the retention: the minimum moves to the watermark, replaced pages go.
    const kept = await applyRetention(pool, { retentionMs: 0, nowMs: Date.now() + 60_000 });
    expect(kept.find((entry) => entry.name === table)).to.include({ fileIndexMinVersion: 5 });
    expect(await replaced()).to.equal(0);
    await expectPagesEqualLog(table, 5, 5);
    await expectVerified(table);

    await rebuildTable(pool, table);
    const state = await pool.query('SELECT * FROM deltameta.file_page_state WHERE table_id = $1', [id]);
    expect(state.rowCount, 'pages go with a rebuilt state').to.equal(0);
    expect((await refreshFilePages(pool, table)).rebuilt).to.equal(true);
    await expectPagesEqualLog(table, 5, 5);
  });

  it('is found out by verifyTable when a page is tampered with', async function () {
    this.timeout(60_000);
    const table = 'tampered';
    await commit(pool, { table, actions: [...createActions(), ...Array.from({ length: 40 }, (_, i) => add(`t${String(i).padStart(2, '0')}`))] });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, { targetBytes: 1024 });
    await expectVerified(table);
    const id = await tableIdOf(table);
    // A page that lost its last line, with a CRC and length that match its new body: only the whole-list check sees it.
    const { rows } = await pool.query<{ lower_path: string; body: Buffer }>(
      'SELECT lower_path, body FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL AND lines > 1 ORDER BY lower_path LIMIT 1', [id],
    );
    const page = rows[0];
    if (!page) throw new Error('a page with lines expected');
    const lines = inflatePage(page.body).toString('utf8').replace(/\n$/, '').split('\n').slice(0, -1);
    const shorter = await compressPage(Buffer.from(lines.map((line) => `${line}\n`).join('')));
    await pool.query(
      'UPDATE deltameta.file_page SET body = $3, raw_bytes = $4, crc32 = $5, lines = $6 WHERE table_id = $1 AND valid_to IS NULL AND lower_path = $2',
      [id, page.lower_path, shorter.body, shorter.rawBytes, shorter.crc32 | 0, lines.length],
    );
    const result = await verifyTable(pool, table);
    expect(result.ok).to.equal(false);
    expect(result.problems.join('\n')).to.match(/file pages at version 0: 39 lines/);
  });
});
