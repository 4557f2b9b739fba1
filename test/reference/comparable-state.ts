/**
 * A Delta log's state at a version (its metadata, protocol and live add
 * actions, however read) in the form delta-rs's answer takes
 * (test/support/deltars.ts, `ComparableState`), so that the two compare with
 * one deep equality.
 *
 * The log holds strings where delta-rs holds typed Arrow values; both sides
 * are brought to the same JSON the same way:
 * - partition values are typed by the schema's column type (numbers,
 *   booleans; dates stay `YYYY-MM-DD`; timestamps become microseconds since
 *   the epoch; null stays null);
 * - stats are parsed, timestamps in them become microseconds since the epoch,
 *   and null or absent values are dropped on both sides (delta-rs fills a
 *   column missing from a file's stats with null and cannot tell the two
 *   apart);
 * - a deletion vector becomes what reading its file gives: the number of
 *   deleted rows (the descriptor's cardinality) and the first deleted row
 *   (from the list of DV files written for the test).
 * Not comparable, because delta-rs 1.6 does not expose them: dataChange (a
 * snapshot holds false anyway), tags, baseRowId, defaultRowCommitVersion,
 * clusteringProvider, the stats' tightBounds, and the DV descriptor itself
 * (storage type, path, offset, sizeInBytes are only seen through the file
 * that delta-rs managed to read at that place).
 */
import { expect } from 'chai';
import { type AddAction, deletionVectorUniqueId, type MetadataAction, type ProtocolAction } from '../../shared/delta/index.ts';
import { type ComparableFile, type ComparableJson, type ComparableState, type WrittenDeletionVector } from '../support/deltars.ts';

export interface LogState {
  readonly version: number;
  readonly metadata: MetadataAction | undefined;
  readonly protocol: ProtocolAction | undefined;
  readonly adds: Iterable<AddAction>;
}

interface SchemaField {
  readonly name: string;
  readonly type: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function structFields(type: unknown): Map<string, SchemaField> {
  if (!isRecord(type) || type['type'] !== 'struct' || !Array.isArray(type['fields'])) return new Map();
  return new Map(
    type['fields'].flatMap((field: unknown) =>
      isRecord(field) && typeof field['name'] === 'string' ? [[field['name'], { name: field['name'], type: field['type'] }] as const] : [],
    ),
  );
}

const timestampText = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Microseconds since the epoch, as deltars.py computes them from delta-rs's
 * datetimes; parsed by hand because Date keeps milliseconds only. Without a
 * zone (partition values, timestamp_ntz) the digits are read as UTC, as the
 * Python side reads a naive datetime.
 */
export function epochMicros(text: string): number {
  const match = timestampText.exec(text);
  if (!match) throw new Error(`not a timestamp: ${JSON.stringify(text)}`);
  const [, year, month, day, hour, minute, second, fraction = '', zone = 'Z'] = match;
  const utcMs = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  const offsetMinutes = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  return (utcMs - offsetMinutes * 60_000) * 1000 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

const integerTypes = new Set(['long', 'integer', 'short', 'byte']);
const timestampTypes = new Set(['timestamp', 'timestamp_ntz']);

function partitionValue(column: string, type: unknown, value: string | null): ComparableJson {
  if (value === null) return null;
  if (type === 'string' || type === 'date') return value;
  if (timestampTypes.has(String(type))) return epochMicros(value);
  if (type === 'boolean') return value === 'true';
  if (integerTypes.has(String(type)) || type === 'double' || type === 'float') {
    const number = Number(value);
    if (!Number.isFinite(number) || (integerTypes.has(String(type)) && !Number.isSafeInteger(number))) {
      throw new Error(`partition ${column}: ${JSON.stringify(value)} is not comparable as a ${String(type)}`);
    }
    return number;
  }
  // Decimal, binary and the like would need a form agreed with deltars.py
  // first; no table here has them, so fail rather than compare unlike forms.
  throw new Error(`partition ${column}: no comparable form for type ${JSON.stringify(type)}`);
}

/** Stats of one kind (minValues, maxValues or nullCount) under the schema's struct type. */
function statsValues(values: unknown, structType: unknown, convertTimestamps: boolean): Record<string, ComparableJson> {
  const out: Record<string, ComparableJson> = {};
  if (!isRecord(values)) return out;
  const fields = structFields(structType);
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined) continue;
    const type = fields.get(name)?.type;
    if (isRecord(value)) {
      const nested = statsValues(value, type, convertTimestamps);
      if (Object.keys(nested).length > 0) out[name] = nested;
    } else if (convertTimestamps && typeof value === 'string' && timestampTypes.has(String(type))) {
      out[name] = epochMicros(value);
    } else {
      out[name] = value as ComparableJson;
    }
  }
  return out;
}

function comparableFile(add: AddAction, schema: unknown, partitionTypes: ReadonlyMap<string, unknown>, dvFirstRows: ReadonlyMap<string, number>): ComparableFile {
  const stats: unknown = typeof add.stats === 'string' ? JSON.parse(add.stats) : {};
  const statsRecord = isRecord(stats) ? stats : {};
  const numRecords = statsRecord['numRecords'];
  let deletionVector: ComparableFile['deletionVector'] = null;
  if (add.deletionVector) {
    const id = deletionVectorUniqueId(add.deletionVector);
    const firstDeletedRow = dvFirstRows.get(id);
    if (firstDeletedRow === undefined) throw new Error(`no DV file was written for ${id} (${add.path})`);
    deletionVector = { cardinality: add.deletionVector.cardinality, firstDeletedRow };
  }
  return {
    path: add.path,
    partitionValues: Object.fromEntries(
      Object.entries(add.partitionValues).map(([column, value]) => [column, partitionValue(column, partitionTypes.get(column), value)]),
    ),
    size: add.size,
    modificationTime: add.modificationTime,
    numRecords: typeof numRecords === 'number' ? numRecords : null,
    minValues: statsValues(statsRecord['minValues'], schema, true),
    maxValues: statsValues(statsRecord['maxValues'], schema, true),
    nullCount: statsValues(statsRecord['nullCount'], schema, false),
    deletionVector,
  };
}

/**
 * `written` lists the DV files deltaRsWriteDeletionVectorFiles wrote for the
 * table; it may be empty for a table without deletion vectors.
 */
export function comparableState(state: LogState, written: readonly WrittenDeletionVector[] = []): ComparableState {
  const { metadata, protocol } = state;
  if (!metadata || !protocol) throw new Error(`version ${state.version} has no ${metadata ? 'protocol' : 'metaData'}`);
  // Stats and partition values are keyed by physical names under column
  // mapping, which delta-rs translates: not handled here, so refused.
  const mapping = metadata.configuration['delta.columnMapping.mode'];
  if (mapping !== undefined && mapping !== 'none') throw new Error(`column mapping mode ${mapping} is not comparable here`);
  const schema: unknown = JSON.parse(metadata.schemaString);
  const fields = structFields(schema);
  const partitionTypes = new Map(metadata.partitionColumns.map((column) => [column, fields.get(column)?.type]));
  const dvFirstRows = new Map(written.map(({ descriptor, firstDeletedRow }) => [deletionVectorUniqueId(descriptor), firstDeletedRow]));
  const sortedFeatures = (features: string[] | undefined): string[] | null => (features === undefined ? null : [...features].sort());
  return {
    version: state.version,
    metadata: {
      id: metadata.id,
      name: metadata.name ?? null,
      description: metadata.description ?? null,
      partitionColumns: metadata.partitionColumns,
      configuration: metadata.configuration,
      createdTime: metadata.createdTime ?? null,
      schema: schema as ComparableJson,
    },
    protocol: {
      minReaderVersion: protocol.minReaderVersion,
      minWriterVersion: protocol.minWriterVersion,
      readerFeatures: sortedFeatures(protocol.readerFeatures),
      writerFeatures: sortedFeatures(protocol.writerFeatures),
    },
    files: [...state.adds]
      .map((add) => comparableFile(add, schema, partitionTypes, dvFirstRows))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}

/**
 * Deep equality of two tables, part by part and file by file: one deep
 * equality of the whole would fail just as surely, but its diff is larger
 * than mocha prints (maxDiffSize), so the failure would show nothing.
 */
export function expectSameTable(actual: ComparableState, expected: ComparableState, what: string): void {
  expect(actual.version, `${what}: version`).to.equal(expected.version);
  expect(actual.metadata, `${what}: metadata`).to.deep.equal(expected.metadata);
  expect(actual.protocol, `${what}: protocol`).to.deep.equal(expected.protocol);
  expect(actual.files.map((file) => file.path), `${what}: live paths`).to.deep.equal(expected.files.map((file) => file.path));
  actual.files.forEach((file, index) => {
    expect(file, `${what}: ${file.path}`).to.deep.equal(expected.files[index]);
  });
}
