/**
 * A bad checkpoint and a bad commit fail alike: a LogFormatError (code
 * BAD_INPUT, CLI exit code 2) whose message names the file, whether the
 * Parquet file is truncated, not Parquet at all, or lacks a field the
 * protocol requires — never a bare Error from hyparquet.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readJsonActions, readParquetActions, writeParquetCheckpoint, type Action } from '../../shared/delta/index.ts';
import { exitCodeFor, LogFormatError } from '../../shared/errors/index.ts';

async function failureOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

async function readAll(file: string): Promise<Action[]> {
  const actions: Action[] = [];
  for await (const action of readParquetActions(file)) actions.push(action);
  return actions;
}

function expectBadInput(error: unknown, file: string): void {
  expect(error, String(error)).to.be.instanceOf(LogFormatError);
  expect((error as LogFormatError).code).to.equal('BAD_INPUT');
  expect((error as LogFormatError).file).to.equal(file);
  expect((error as LogFormatError).message).to.contain(file);
  expect(exitCodeFor(error)).to.equal(2);
}

describe('errors: a bad checkpoint and a bad commit exit alike', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deltameta-errors-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a JSON commit with a line that is not JSON', async () => {
    const file = path.join(dir, '00000000000000000001.json');
    fs.writeFileSync(file, '{"add": {"path": "a.parquet"\n');
    expectBadInput(await failureOf(() => readJsonActions(file)), file);
  });

  it('a truncated Parquet checkpoint', async () => {
    const file = path.join(dir, '00000000000000000010.checkpoint.parquet');
    const add = { path: 'a.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true };
    await writeParquetCheckpoint(file, [{ kind: 'add', add }]);
    fs.truncateSync(file, fs.statSync(file).size - 10);
    expectBadInput(await failureOf(() => readAll(file)), file);
  });

  it('a file that is not Parquet at all', async () => {
    const file = path.join(dir, '00000000000000000010.checkpoint.parquet');
    fs.writeFileSync(file, 'PAR1 this is not a parquet file, only its magic at both ends PAR1');
    expectBadInput(await failureOf(() => readAll(file)), file);
  });

  it('a Parquet checkpoint whose add lacks a required field', async () => {
    const file = path.join(dir, '00000000000000000010.checkpoint.parquet');
    // An add column with a path and nothing else: size, modificationTime and dataChange are missing.
    const bytes = parquetWriteBuffer({
      schema: [
        { name: 'root', num_children: 1 },
        { name: 'add', repetition_type: 'OPTIONAL', num_children: 1 },
        { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      ],
      columnData: [{ name: 'add', data: [{ path: 'a.parquet' }] }],
    });
    fs.writeFileSync(file, new Uint8Array(bytes));
    const error = await failureOf(() => readAll(file));
    expectBadInput(error, file);
    expect((error as Error).message).to.match(/add\.size/);
  });
});
