/**
 * `deltameta import` of a hostile `_delta_log`: files that lead outside
 * the folder, a gzip bomb in a checkpoint page, absurd multi-part names,
 * and a sync import of a folder that is not the table's. Each is refused
 * with BAD_INPUT, with memory bounded and nothing written.
 */
import { expect } from 'chai';
import { mkdirSync, symlinkSync, writeFileSync, rmSync, cpSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, writeParquetCheckpoint, type Action, type JsonObject } from '../../shared/delta/index.ts';
import { BadRequestError, LogFormatError } from '../../shared/errors/index.ts';
import { commit, findTable, importTable } from '../../shared/log-store/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

function metaData(id: string): JsonObject {
  return { id, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {}, createdTime: 1_700_000_000_000 };
}

function add(name: string): JsonObject {
  return { path: `${name}.parquet`, partitionValues: {}, size: 10, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":1}' };
}

function writeLog(dir: string, id: string, versions: number, tag = 'f'): string {
  const logDir = path.join(dir, '_delta_log');
  mkdirSync(logDir, { recursive: true });
  for (let version = 0; version < versions; version++) {
    const lines: JsonObject[] = version === 0
      ? [{ commitInfo: { operation: 'CREATE' } }, { protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData: metaData(id) }]
      : [{ commitInfo: { operation: 'WRITE' } }, { add: add(`${tag}${version}`) }];
    writeFileSync(path.join(logDir, commitFileName(version)), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  }
  return logDir;
}

function asActions(lines: readonly JsonObject[]): Action[] {
  return lines.map((line) => {
    const [kind] = Object.keys(line) as [string];
    return { kind, [kind]: line[kind] } as unknown as Action;
  });
}

async function refusal(work: Promise<unknown>): Promise<Error> {
  const error = await work.then(() => undefined, (caught: unknown) => caught);
  expect(error, 'expected a refusal').to.be.instanceOf(Error);
  expect((error as { code?: string }).code, String(error)).to.equal('BAD_INPUT');
  expect(error instanceof LogFormatError || error instanceof BadRequestError, String(error)).to.equal(true);
  return error as Error;
}

const id1 = '11111111-1111-4111-8111-111111111111';
const id2 = '22222222-2222-4222-8222-222222222222';

describeWithEnv('hostile imports', (env) => {
  let pool: Pool;
  const dirs = new TempDirs();
  before(() => {
    pool = env.pool(4);
  });
  after(async () => {
    dirs.removeAll();
    await pool.end();
  });

  it('a sidecar path leading out of _delta_log (relative or absolute) is refused', async () => {
    const other = dirs.make('other');
    const otherLog = writeLog(other, id2, 1);
    const stolen = path.join(otherLog, 'stolen.parquet');
    await writeParquetCheckpoint(stolen, asActions([{ add: add('secret') }]));
    for (const sidecarPath of [path.relative(path.join(other, 'x'), stolen), stolen]) {
      const dir = dirs.make('sidecar');
      const logDir = writeLog(dir, id1, 2);
      // a V2 checkpoint at version 1 naming the other table's file as its sidecar
      const relative = path.relative(path.join(logDir, '_sidecars'), stolen);
      const lines: JsonObject[] = [
        { checkpointMetadata: { version: 1 } },
        { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
        { metaData: metaData(id1) },
        { sidecar: { path: sidecarPath === stolen ? stolen : relative, sizeInBytes: 100, modificationTime: 1_700_000_000_000 } },
      ];
      writeFileSync(path.join(logDir, `${'1'.padStart(20, '0')}.checkpoint.${id1}.json`), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
      const error = await refusal(importTable(pool, dir, 'sidecar_escape'));
      expect(error.message).to.match(/sidecar\.path/);
      expect(await findTable(pool, 'sidecar_escape')).to.equal(undefined);
    }
  });

  it('a commit file that is a symlink to a file outside _delta_log is refused', async () => {
    const other = dirs.make('other-commit');
    const otherLog = writeLog(other, id2, 3, 'other');
    const dir = dirs.make('symlink');
    const logDir = writeLog(dir, id1, 1);
    symlinkSync(path.join(otherLog, commitFileName(1)), path.join(logDir, commitFileName(1)));
    const error = await refusal(importTable(pool, dir, 'symlink_escape', { history: true }));
    expect(error.message).to.include('outside');
    expect(await findTable(pool, 'symlink_escape')).to.equal(undefined);
  });

  it('an absurd multi-part checkpoint name is refused at once, with nothing allocated for it', async () => {
    const dir = dirs.make('parts');
    const logDir = writeLog(dir, id1, 3);
    writeFileSync(path.join(logDir, `${'2'.padStart(20, '0')}.checkpoint.0000000001.9999999999.parquet`), 'PAR1');
    const rss = process.memoryUsage().rss;
    const started = Date.now();
    const error = await refusal(importTable(pool, dir, 'absurd_parts'));
    expect(error.message).to.include('9999999999 parts');
    expect(Date.now() - started).to.be.below(5_000);
    expect(process.memoryUsage().rss - rss).to.be.below(200 * 2 ** 20);
    expect(await findTable(pool, 'absurd_parts')).to.equal(undefined);
  });

  it('a gzip bomb in a checkpoint page is refused after the declared page size, RSS bounded', async function () {
    this.timeout(60_000);
    const dir = dirs.make('bomb');
    const logDir = writeLog(dir, id1, 2);
    // 1 GiB of zeros as 16 gzip members of 64 MiB each (about 1 MiB on disk): gunzip concatenates members.
    const member = zlib.gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 1 });
    const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
    let bombed = false;
    const actions = asActions([{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData: metaData(id1) }, { add: add('f1') }]);
    await writeParquetCheckpoint(path.join(logDir, `${'1'.padStart(20, '0')}.checkpoint.parquet`), actions, {
      codec: 'GZIP',
      // The first page with content (empty pages are never decompressed) is the bomb.
      compressors: { GZIP: (input) => (input.length > 0 && !bombed ? ((bombed = true), bomb) : zlib.gzipSync(input)) },
    });
    const rss = process.memoryUsage().rss;
    const error = await refusal(importTable(pool, dir, 'gzip_bomb'));
    expect(error.message).to.match(/checkpoint\.parquet/);
    expect(process.memoryUsage().rss - rss, 'RSS growth').to.be.below(400 * 2 ** 20);
    expect(await findTable(pool, 'gzip_bomb')).to.equal(undefined);
  });

  it('the uncompressed page ceiling is configurable and checked before decompressing', async () => {
    const dir = dirs.make('ceiling');
    const logDir = writeLog(dir, id1, 2);
    const actions = asActions([{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData: metaData(id1) }, { add: add('f1') }]);
    await writeParquetCheckpoint(path.join(logDir, `${'1'.padStart(20, '0')}.checkpoint.parquet`), actions);
    const error = await refusal(importTable(pool, dir, 'page_ceiling', { limits: { maxUncompressedPageBytes: 8 } }));
    expect(error.message).to.include('over the limit of 8');
    expect(await findTable(pool, 'page_ceiling')).to.equal(undefined);
    expect((await importTable(pool, dir, 'page_ceiling')).toVersion).to.equal(1);
  });

  it('an in-commit timestamp out of range in a commit the import only takes the checkpoint of is refused', async () => {
    const dir = dirs.make('ict');
    const logDir = writeLog(dir, id1, 2);
    writeFileSync(path.join(logDir, commitFileName(1)), `${JSON.stringify({ commitInfo: { inCommitTimestamp: 1e16 } })}\n${JSON.stringify({ add: add('f1') })}\n`);
    const actions = asActions([{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData: metaData(id1) }, { add: add('f1') }]);
    await writeParquetCheckpoint(path.join(logDir, `${'1'.padStart(20, '0')}.checkpoint.parquet`), actions);
    const error = await refusal(importTable(pool, dir, 'ict_range'));
    expect(error.message).to.include('commitInfo.inCommitTimestamp');
    expect(await findTable(pool, 'ict_range')).to.equal(undefined);
  });

  it('a sync import from another folder than the one imported from is refused, nothing written', async () => {
    const dir = dirs.make('sync-a');
    writeLog(dir, id1, 2);
    await importTable(pool, dir, 'sync_location', { history: true });
    const other = dirs.make('sync-b');
    writeLog(other, id1, 4, 'b');
    const error = await refusal(importTable(pool, other, 'sync_location'));
    expect(error.message).to.include('imported from');
    expect((await findTable(pool, 'sync_location'))?.headVersion).to.equal(1);
  });

  it('a sync import of another table put in the same folder is refused (metadata id, stored versions), nothing written', async () => {
    const dir = dirs.make('sync-swap');
    writeLog(dir, id1, 2);
    await importTable(pool, dir, 'sync_swap', { history: true });
    // Same id, but the stored head version differs from the file now there.
    rmSync(path.join(dir, '_delta_log'), { recursive: true });
    writeLog(dir, id1, 4, 'other');
    let error = await refusal(importTable(pool, dir, 'sync_swap'));
    expect(error.message).to.include('version 1');
    expect((await findTable(pool, 'sync_swap'))?.headVersion).to.equal(1);
    // Another table's log (another metadata id) whose head commit happens to match.
    rmSync(path.join(dir, '_delta_log'), { recursive: true });
    writeLog(dir, id2, 4);
    error = await refusal(importTable(pool, dir, 'sync_swap'));
    expect(error.message).to.include('metadata id');
    expect((await findTable(pool, 'sync_swap'))?.headVersion).to.equal(1);
  });

  it('an import into a table made by commits checks the metadata id (no stored location)', async () => {
    await commit(pool, { table: 'sync_committed', actions: asActions([{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData: metaData(id1) }]) });
    const other = dirs.make('committed-other');
    writeLog(other, id2, 3);
    const error = await refusal(importTable(pool, other, 'sync_committed'));
    expect(error.message).to.include('metadata id');
    expect((await findTable(pool, 'sync_committed'))?.headVersion).to.equal(0);
  });

  it('a sync import of the same folder (or a copy of it at the same place) still appends', async () => {
    const dir = dirs.make('sync-ok');
    writeLog(dir, id1, 2);
    await importTable(pool, dir, 'sync_ok', { history: true });
    const copy = dirs.make('sync-ok-copy');
    cpSync(dir, copy, { recursive: true });
    writeLog(dir, id1, 4);
    expect((await importTable(pool, dir, 'sync_ok')).toVersion).to.equal(3);
    expect((await findTable(pool, 'sync_ok'))?.headVersion).to.equal(3);
  });
});
