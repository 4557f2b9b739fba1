/**
 * Writing a classic Delta checkpoint in Parquet form (PROTOCOL.md
 * "Checkpoints"), with the schema Spark writes (parquet-schema.ts). Memory
 * is bounded by a row group, never by the table: writing holds one row
 * group of actions.
 *
 * A malformed action (a value of the wrong type, which the Action types
 * rule out) is a TypeError naming the action: the caller broke the types,
 * the log did not.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CompressionCodec } from 'hyparquet';
import { ByteWriter, ParquetWriter, type ColumnSource } from 'hyparquet-writer';
import { BadRequestError } from '../errors/index.ts';
import type {
  Action, AddAction, DeletionVectorDescriptor, DomainMetadataAction, MetadataAction, ProtocolAction, RemoveAction, TxnAction,
} from './actions.ts';
import { CHECKPOINT_COLUMNS, CHECKPOINT_SCHEMA, type CheckpointColumn } from './parquet-schema.ts';

type Cell = null | undefined | boolean | number | bigint | string | Cell[] | MapEntry[] | { [key: string]: Cell };
interface MapEntry { key: string; value: string | null }
type Row = { [key: string]: Cell };

export interface WriteParquetCheckpointOptions {
  /** Rows per row group; memory while writing is proportional to it. */
  rowGroupRows?: number;
  /** SNAPPY (Spark's default) unless told; any other codec but UNCOMPRESSED needs its compressor. */
  codec?: CompressionCodec;
  compressors?: { [codec in CompressionCodec]?: (input: Uint8Array) => Uint8Array };
}

/**
 * Writes a classic checkpoint. Only the actions a classic checkpoint holds
 * are written (txn, add, remove, metaData, protocol, domainMetadata);
 * commitInfo, cdc, checkpointMetadata, sidecar and unknown actions are
 * skipped — the first two never belong to a snapshot, the V2 ones are not
 * part of the classic format.
 *
 * Fields this fixed schema has no column for — unknown fields of any
 * action, and remove.stats, which the classic schema leaves out — are
 * dropped: Parquet has no place for an untyped extra field, and inventing
 * columns would make the file differ from what other writers produce. An
 * add that carries such fields therefore reads back without them, and its
 * addLine differs from the one of its JSON commit.
 *
 * The file appears under its name only once complete (written beside it and
 * renamed), because a reader listing _delta_log must never pick up a
 * truncated checkpoint.
 */
export async function writeParquetCheckpoint(
  file: string,
  actions: Iterable<Action> | AsyncIterable<Action>,
  options: WriteParquetCheckpointOptions = {},
): Promise<{ rows: number; bytes: number }> {
  const rowGroupRows = options.rowGroupRows ?? 20_000;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) throw new BadRequestError(`rowGroupRows must be a positive integer, got ${rowGroupRows}`);

  // A dot-prefixed name matches no Delta log file pattern, so even a
  // leftover from a crash is ignored by every reader.
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  let closed = false;
  try {
    // The writer encodes into this buffer; it is drained to the file after
    // every row group, so it never holds more than one group's bytes.
    const sink = new ByteWriter(1 << 20);
    const writer = new ParquetWriter({ writer: sink, schema: CHECKPOINT_SCHEMA, codec: options.codec ?? 'SNAPPY', ...(options.compressors ? { compressors: options.compressors } : {}), createdBy: 'deltameta (hyparquet-writer)' });
    const drain = async (): Promise<void> => {
      let done = 0;
      while (done < sink.index) {
        const { bytesWritten } = await handle.write(new Uint8Array(sink.buffer, done, sink.index - done));
        done += bytesWritten;
      }
      sink.index = 0;
    };

    let columns = emptyColumns();
    let pending = 0;
    let rows = 0;
    const flushGroup = async (): Promise<void> => {
      if (pending === 0) return;
      const columnData: ColumnSource[] = CHECKPOINT_COLUMNS.map((name) => ({ name, data: columns[name] }));
      // No flush() on the sink, so write() encodes synchronously; the await
      // only guards against a future version returning a promise.
      await writer.write({ columnData, rowGroupSize: pending });
      await drain();
      rows += pending;
      pending = 0;
      columns = emptyColumns();
    };

    const accept = (action: Action): boolean => {
      const cell = checkpointCell(action);
      if (!cell) return false;
      for (const name of CHECKPOINT_COLUMNS) columns[name].push(name === cell.column ? cell.value : null);
      pending++;
      return pending >= rowGroupRows;
    };

    if (isAsyncIterable(actions)) {
      for await (const action of actions) if (accept(action)) await flushGroup();
    } else {
      // A sync source stays on the sync path: for-await would cost a
      // promise per action, which is most of the time for a million adds.
      for (const action of actions) if (accept(action)) await flushGroup();
    }
    await flushGroup();
    await writer.finish();
    await drain();
    const bytes = sink.offset;
    await handle.sync();
    await handle.close();
    closed = true;
    await rename(temp, file);
    return { rows, bytes };
  } catch (error) {
    if (!closed) await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

function emptyColumns(): Record<CheckpointColumn, Cell[]> {
  return { txn: [], add: [], remove: [], metaData: [], protocol: [], domainMetadata: [] };
}

function isAsyncIterable(value: Iterable<Action> | AsyncIterable<Action>): value is AsyncIterable<Action> {
  return Symbol.asyncIterator in value;
}

function checkpointCell(action: Action): { column: CheckpointColumn; value: Row } | undefined {
  switch (action.kind) {
    case 'add': return { column: 'add', value: addRow(action.add) };
    case 'remove': return { column: 'remove', value: removeRow(action.remove) };
    case 'metaData': return { column: 'metaData', value: metadataRow(action.metaData) };
    case 'protocol': return { column: 'protocol', value: protocolRow(action.protocol) };
    case 'txn': return { column: 'txn', value: txnRow(action.txn) };
    case 'domainMetadata': return { column: 'domainMetadata', value: domainMetadataRow(action.domainMetadata) };
    case 'commitInfo':
    case 'cdc':
    case 'checkpointMetadata':
    case 'sidecar':
    case 'unknown':
      return undefined;
  }
}

function addRow(add: AddAction): Row {
  const where = `add ${add.path}`;
  return {
    path: requiredString(add.path, where, 'path'),
    partitionValues: mapEntries(add.partitionValues ?? {}, where, 'partitionValues'),
    size: requiredLong(add.size, where, 'size'),
    modificationTime: requiredLong(add.modificationTime, where, 'modificationTime'),
    dataChange: requiredBoolean(add.dataChange, where, 'dataChange'),
    stats: optionalString(add.stats, where, 'stats'),
    tags: optionalMap(add.tags, where, 'tags'),
    deletionVector: deletionVectorRow(add.deletionVector, where),
    baseRowId: optionalLong(add.baseRowId, where, 'baseRowId'),
    defaultRowCommitVersion: optionalLong(add.defaultRowCommitVersion, where, 'defaultRowCommitVersion'),
    clusteringProvider: optionalString(add.clusteringProvider, where, 'clusteringProvider'),
  };
}

function removeRow(remove: RemoveAction): Row {
  const where = `remove ${remove.path}`;
  return {
    path: requiredString(remove.path, where, 'path'),
    deletionTimestamp: optionalLong(remove.deletionTimestamp, where, 'deletionTimestamp'),
    dataChange: requiredBoolean(remove.dataChange, where, 'dataChange'),
    extendedFileMetadata: optionalBoolean(remove.extendedFileMetadata, where, 'extendedFileMetadata'),
    partitionValues: optionalMap(remove.partitionValues, where, 'partitionValues'),
    size: optionalLong(remove.size, where, 'size'),
    tags: optionalMap(remove.tags, where, 'tags'),
    deletionVector: deletionVectorRow(remove.deletionVector, where),
    baseRowId: optionalLong(remove.baseRowId, where, 'baseRowId'),
    defaultRowCommitVersion: optionalLong(remove.defaultRowCommitVersion, where, 'defaultRowCommitVersion'),
  };
}

function deletionVectorRow(dv: DeletionVectorDescriptor | null | undefined, where: string): Row | null {
  if (dv === null || dv === undefined) return null;
  const at = `${where} deletionVector`;
  return {
    storageType: requiredString(dv.storageType, at, 'storageType'),
    pathOrInlineDv: requiredString(dv.pathOrInlineDv, at, 'pathOrInlineDv'),
    offset: optionalInt(dv.offset, at, 'offset'),
    sizeInBytes: requiredInt(dv.sizeInBytes, at, 'sizeInBytes'),
    cardinality: requiredLong(dv.cardinality, at, 'cardinality'),
    maxRowIndex: optionalLong(dv.maxRowIndex, at, 'maxRowIndex'),
  };
}

function metadataRow(metaData: MetadataAction): Row {
  const where = `metaData ${metaData.id}`;
  // Missing collections are written empty, the way the reader fills them in.
  const partitionColumns: unknown = metaData.partitionColumns ?? [];
  if (!Array.isArray(partitionColumns) || !partitionColumns.every((c): c is string => typeof c === 'string')) {
    throw new BadRequestError(`checkpoint ${where}: partitionColumns must be an array of strings`);
  }
  return {
    id: requiredString(metaData.id, where, 'id'),
    name: optionalString(metaData.name, where, 'name'),
    description: optionalString(metaData.description, where, 'description'),
    format: {
      provider: requiredString(metaData.format.provider, where, 'format.provider'),
      options: mapEntries(metaData.format.options ?? {}, where, 'format.options'),
    },
    schemaString: requiredString(metaData.schemaString, where, 'schemaString'),
    partitionColumns,
    configuration: mapEntries(metaData.configuration ?? {}, where, 'configuration'),
    createdTime: optionalLong(metaData.createdTime, where, 'createdTime'),
  };
}

function protocolRow(protocol: ProtocolAction): Row {
  return {
    minReaderVersion: requiredInt(protocol.minReaderVersion, 'protocol', 'minReaderVersion'),
    minWriterVersion: requiredInt(protocol.minWriterVersion, 'protocol', 'minWriterVersion'),
    readerFeatures: optionalStringList(protocol.readerFeatures, 'readerFeatures'),
    writerFeatures: optionalStringList(protocol.writerFeatures, 'writerFeatures'),
  };
}

function txnRow(txn: TxnAction): Row {
  const where = `txn ${txn.appId}`;
  return {
    appId: requiredString(txn.appId, where, 'appId'),
    version: requiredLong(txn.version, where, 'version'),
    lastUpdated: optionalLong(txn.lastUpdated, where, 'lastUpdated'),
  };
}

function domainMetadataRow(domainMetadata: DomainMetadataAction): Row {
  const where = `domainMetadata ${domainMetadata.domain}`;
  return {
    domain: requiredString(domainMetadata.domain, where, 'domain'),
    configuration: requiredString(domainMetadata.configuration, where, 'configuration'),
    removed: requiredBoolean(domainMetadata.removed, where, 'removed'),
  };
}

// Value checks. The Parquet encoder would write a wrong-typed value into the
// column as garbage or fail deep inside with no mention of the action, so a
// malformed action is rejected here, naming it.

function fail(where: string, field: string, expected: string, value: unknown): never {
  throw new BadRequestError(`checkpoint ${where}: ${field} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function requiredString(value: unknown, where: string, field: string): string {
  return typeof value === 'string' ? value : fail(where, field, 'a string', value);
}

function optionalString(value: unknown, where: string, field: string): string | null {
  return value === null || value === undefined ? null : requiredString(value, where, field);
}

function requiredBoolean(value: unknown, where: string, field: string): boolean {
  return typeof value === 'boolean' ? value : fail(where, field, 'a boolean', value);
}

function optionalBoolean(value: unknown, where: string, field: string): boolean | null {
  return value === null || value === undefined ? null : requiredBoolean(value, where, field);
}

function requiredLong(value: unknown, where: string, field: string): bigint {
  // The INT64 encoder takes only bigint; a JS number holds any long the JSON
  // form could have carried (JSON.parse already rounded beyond 2^53).
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'bigint') return value;
  return fail(where, field, 'an integer', value);
}

function optionalLong(value: unknown, where: string, field: string): bigint | null {
  return value === null || value === undefined ? null : requiredLong(value, where, field);
}

function requiredInt(value: unknown, where: string, field: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) return value;
  return fail(where, field, 'a 32-bit integer', value);
}

function optionalInt(value: unknown, where: string, field: string): number | null {
  return value === null || value === undefined ? null : requiredInt(value, where, field);
}

/** Map entries in the object's own order, which is the order the JSON form had. */
function mapEntries(value: unknown, where: string, field: string): MapEntry[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(where, field, 'an object', value);
  const entries: MapEntry[] = [];
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (item !== null && typeof item !== 'string') return fail(where, `${field}.${key}`, 'a string or null', item);
    entries.push({ key, value: item });
  }
  return entries;
}

function optionalMap(value: unknown, where: string, field: string): MapEntry[] | null {
  return value === null || value === undefined ? null : mapEntries(value, where, field);
}

function optionalStringList(value: unknown, field: string): string[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    return fail('protocol', field, 'an array of strings', value);
  }
  return value;
}
