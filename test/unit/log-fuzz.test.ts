/**
 * Property-based fuzzing of log parsing (fast-check): commit lines with
 * random action objects, fields and values; checkpoint rows through the
 * Parquet row-to-action path; and checkpoint files with corrupted bytes.
 * Whatever comes in, parsing either yields actions whose values pass the
 * input limits or fails with a project error (LogFormatError or
 * BadRequestError, code BAD_INPUT) — never a TypeError, RangeError or a hang.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  addLine, checkActionValues, parseActionLines, readParquetActions, writeParquetCheckpoint, type Action, type Json, type JsonObject,
} from '../../shared/delta/index.ts';
import { BadRequestError, LogFormatError } from '../../shared/errors/index.ts';

function expectProjectError(error: unknown, input: unknown): void {
  if (error instanceof LogFormatError || error instanceof BadRequestError) return;
  expect.fail(`not a project error for ${JSON.stringify(input)?.slice(0, 300)}: ${error instanceof Error ? error.stack : String(error)}`);
}

/** Values an attacker would reach for, mixed with ordinary JSON. */
const hostileNumber = fc.oneof(
  fc.integer(), fc.double(), fc.constantFrom(-1, 0, 2 ** 31, 2 ** 53, 2 ** 63, 1e16, 1e300, -1e300, 1.5, Number.MAX_SAFE_INTEGER),
);
const hostileString = fc.oneof(
  fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', '\udc00x', '..', '/etc/passwd', 'x'.repeat(70_000)),
);
const hostileStats = fc.oneof(
  hostileString,
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.record({ numRecords: hostileNumber }).map((value) => JSON.stringify(value)),
  fc.integer({ min: 1, max: 200 }).map((depth) => `{"numRecords":1,"x":${'['.repeat(depth)}${']'.repeat(depth)}}`),
  fc.constantFrom('{"numRecords":1e999999}', `{"a":0.${'0'.repeat(20_000)}1}`, '{"numRecords":-1}', '{'),
);
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue() as fc.Arbitrary<Json> },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 100 }).map((depth): Json => JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as Json) },
);

const validBodies: Record<string, JsonObject> = {
  add: { path: 'p=1/a.parquet', partitionValues: { p: '1' }, size: 10, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":1}' },
  remove: { path: 'p=1/a.parquet', dataChange: true, deletionTimestamp: 1_700_000_000_000, size: 10 },
  metaData: { id: 'x', format: { provider: 'parquet', options: {} }, schemaString: '{}', partitionColumns: ['p'], configuration: {} },
  protocol: { minReaderVersion: 1, minWriterVersion: 2 },
  txn: { appId: 'a', version: 1, lastUpdated: 1_700_000_000_000 },
  domainMetadata: { domain: 'd', configuration: '{}', removed: false },
  cdc: { path: 'c.parquet', partitionValues: {}, size: 1, dataChange: false },
  commitInfo: { timestamp: 1_700_000_000_000, operation: 'WRITE' },
  checkpointMetadata: { version: 1 },
  sidecar: { path: 's.parquet', sizeInBytes: 1, modificationTime: 1 },
};
const fieldNames = [...new Set(Object.values(validBodies).flatMap((body) => Object.keys(body))), 'deletionVector', 'tags', 'stats', 'baseRowId', 'inCommitTimestamp'];

/** A valid action with a few fields replaced by hostile values (or removed). */
const mutatedAction = fc.record({
  name: fc.constantFrom(...Object.keys(validBodies), 'futureAction'),
  changes: fc.array(fc.tuple(fc.constantFrom(...fieldNames), fc.oneof(hostileValue, hostileStats, fc.constant(undefined))), { maxLength: 3 }),
}).map(({ name, changes }): JsonObject => {
  const body: Record<string, Json | undefined> = { ...(validBodies[name] ?? {}) };
  for (const [field, value] of changes) body[field] = value;
  return { [name]: JSON.parse(JSON.stringify(body)) as Json };
});

/** A line: a mutated action, any JSON, or any text. */
const commitLine = fc.oneof(
  { weight: 4, arbitrary: mutatedAction.map((action) => JSON.stringify(action)) },
  { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
);

describe('log parsing under fuzzing', () => {
  it('commit lines: actions that pass the limits, or a project error', function () {
    this.timeout(30_000);
    fc.assert(fc.property(fc.array(commitLine, { maxLength: 6 }), (lines) => {
      const text = lines.join('\n');
      let parsed: ReturnType<typeof parseActionLines>;
      try {
        parsed = parseActionLines(text, 'fuzz.json');
      } catch (error) {
        expectProjectError(error, lines);
        return;
      }
      for (const { action, line } of parsed) {
        // Accepted means storable: the checks pass again, and the JSON a reader would be served can be made.
        checkActionValues(action, 'fuzz.json', line);
        if (action.kind === 'add') {
          expect(Number.isSafeInteger(action.add.size) && action.add.size >= 0).to.equal(true);
          expect(() => addLine(action.add)).not.to.throw();
        }
      }
    }), { numRuns: 400, seed: 10_10 });
  });

  describe('checkpoint rows (Parquet row-to-action path)', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'deltameta-fuzz-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    // Typed as the writer needs (it refuses wrong types as the caller's bug), hostile in value.
    const hostileAdd = fc.record({
      path: hostileString.filter((value) => value.length > 0),
      size: hostileNumber,
      modificationTime: hostileNumber,
      stats: hostileStats,
      partitionValue: fc.option(hostileString),
      cardinality: fc.option(hostileNumber),
    }).map(({ path: filePath, size, modificationTime, stats, partitionValue, cardinality }): Action => ({
      kind: 'add',
      add: {
        path: filePath, partitionValues: { p: partitionValue }, size: Math.trunc(size), modificationTime: Math.trunc(modificationTime), dataChange: true, stats,
        ...(cardinality === null ? {} : { deletionVector: { storageType: 'i', pathOrInlineDv: 'abc', sizeInBytes: 1, cardinality: Math.trunc(cardinality) } }),
      },
    }));

    it('hostile values written to a checkpoint read back as valid actions or a project error', async function () {
      this.timeout(60_000);
      let run = 0;
      await fc.assert(fc.asyncProperty(fc.array(hostileAdd, { minLength: 1, maxLength: 4 }), async (actions) => {
        const file = path.join(dir, `${run++}.checkpoint.parquet`);
        try {
          await writeParquetCheckpoint(file, actions);
        } catch {
          // The writer's own refusals (values its column types cannot hold) are not what is tested here.
          return;
        }
        try {
          for await (const action of readParquetActions(file)) checkActionValues(action, file, undefined);
        } catch (error) {
          expectProjectError(error, actions);
        }
      }), { numRuns: 60, seed: 10_11 });
    });

    it('a checkpoint with corrupted bytes reads as actions or fails with a project error', async function () {
      this.timeout(60_000);
      const base = path.join(dir, 'base.checkpoint.parquet');
      const actions: Action[] = [
        { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
        { kind: 'metaData', metaData: { id: 'x', format: { provider: 'parquet' }, schemaString: '{}', partitionColumns: [], configuration: {} } },
        ...Array.from({ length: 20 }, (_, index): Action => ({ kind: 'add', add: { path: `f${index}`, partitionValues: {}, size: index, modificationTime: 1, dataChange: true, stats: '{"numRecords":3}' } })),
      ];
      await writeParquetCheckpoint(base, actions);
      const bytes = readFileSync(base);
      let run = 0;
      await fc.assert(fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        async (flips) => {
          const corrupted = Buffer.from(bytes);
          for (const [offset, value] of flips) corrupted[offset] = value;
          const file = path.join(dir, `corrupt-${run++}.parquet`);
          writeFileSync(file, corrupted);
          try {
            for await (const action of readParquetActions(file)) checkActionValues(action, file, undefined);
          } catch (error) {
            expectProjectError(error, flips);
          }
        },
      ), { numRuns: 150, seed: 10_12 });
    });
  });
});
