/**
 * The Parquet form of Delta checkpoints (PROTOCOL.md "Checkpoints").
 *
 * Reading accepts any checkpoint Parquet file — classic single-part, a part
 * of a multi-part checkpoint, the Parquet top-level file of a V2 checkpoint
 * or a V2 sidecar — and yields the actions exactly as the JSON form of the
 * same action would hold them, so replay does not care which form a file
 * came from. Writing produces a classic checkpoint with the schema Spark
 * writes, which is what delta-rs and Spark expect to find.
 *
 * Memory is bounded by a row group, never by the file: a checkpoint of a
 * large table (millions of files) must not need memory proportional to the
 * table. Writing holds one row group of actions; reading holds one row
 * group's compressed column chunks and one decoded page per leaf column.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import zlib from 'node:zlib';
import {
  parquetMetadataAsync,
  parquetSchema,
  type AsyncBuffer,
  type ColumnMetaData,
  type Compressors,
  type DecodedArray,
  type RowGroup,
  type SchemaElement,
  type SchemaTree,
} from 'hyparquet';
// Page decoding below hyparquet's row API (see "Reading"). These modules are
// exported by the package ("./src/*.js") but are not its documented surface:
// a hyparquet upgrade must run test/unit/parquet-checkpoint.test.ts.
import { parquetHeader } from 'hyparquet/src/column.js';
import { convert, convertWithDictionary, DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { decompressPage, readDataPage, readDataPageV2 } from 'hyparquet/src/datapage.js';
import { readPlain } from 'hyparquet/src/plain.js';
// hyparquet-writer brings its own hyparquet, whose SchemaElement differs slightly.
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement as WriterSchemaElement } from 'hyparquet-writer';
import type {
  Action,
  AddAction,
  CdcAction,
  DeletionVectorDescriptor,
  DomainMetadataAction,
  Json,
  JsonObject,
  MetadataAction,
  ProtocolAction,
  RemoveAction,
  TxnAction,
} from './actions.ts';

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

// hyparquet's row API (parquetRead) assembles a whole row group into nested
// arrays and objects for every column, nulls included, before handing out a
// single row: for a 50,000-row group of adds that is over 300 MB of live
// heap, and a Spark checkpoint's row group can hold several hundred thousand
// adds. So rows are assembled here instead, straight from the column pages
// (Dremel record assembly), using hyparquet only for the file metadata and
// for decoding pages. What stays in memory is a row group's compressed
// column chunks plus one decoded page per leaf column.

type ColumnDecoder = Parameters<typeof convert>[1];

// Checkpoint writers compress with SNAPPY (Spark), nothing (delta-rs) or,
// when configured, GZIP/ZSTD; hyparquet decodes only SNAPPY by itself.
const zstdDecompressSync: unknown = (zlib as unknown as Record<string, unknown>)['zstdDecompressSync'];
const compressors: Compressors = {
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
  // Node >= 22.15 only; on older Node a ZSTD checkpoint fails naming the codec.
  ...(typeof zstdDecompressSync === 'function'
    ? { ZSTD: (input: Uint8Array): Uint8Array => (zstdDecompressSync as (data: Uint8Array) => Buffer)(input) }
    : {}),
};

/**
 * An AsyncBuffer over one open file handle. hyparquet's own
 * asyncBufferFromFile opens a new read stream per slice; positional reads on
 * one handle cost one descriptor for the whole scan and cannot leak streams.
 */
function fileHandleBuffer(handle: FileHandle, byteLength: number, file: string): AsyncBuffer {
  return {
    byteLength,
    async slice(start: number, end: number = byteLength): Promise<ArrayBuffer> {
      const length = Math.max(0, end - start);
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(bytes, done, length - done, start + done);
        // A short file is a truncated checkpoint; returning zeros would decode as garbage.
        if (bytesRead === 0) throw new Error(`${file}: unexpected end of file at byte ${start + done}`);
        done += bytesRead;
      }
      return bytes.buffer;
    },
  };
}

/**
 * Yields one action per non-null action column of each row (a well-formed
 * checkpoint has exactly one per row), in file order.
 */
export async function* readParquetActions(file: string): AsyncGenerator<Action> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buffer = fileHandleBuffer(handle, size, file);
    const metadata = await parquetMetadataAsync(buffer).catch((error: unknown) => {
      // A truncated or non-Parquet file: say which one.
      throw new Error(`${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
    const root = parquetSchema(metadata);
    const leaves: LeafSpec[] = [];
    const columns = root.children.map((child) => compileField(child, [root], 0, 0, false, leaves));
    for (const [groupIndex, group] of metadata.row_groups.entries()) {
      const where = `${file} row group ${groupIndex}`;
      const cursors = await openRowGroup(buffer, group, leaves, where);
      const rows = Number(group.num_rows);
      for (let row = 0; row < rows; row++) {
        for (const column of columns) {
          const action = columnAction(column, readField(column, cursors));
          if (action) yield action;
        }
      }
      // Entries left over mean the levels and the schema disagree; the rows
      // already yielded would have been assembled from the wrong entries.
      for (const [index, cursor] of cursors.entries()) {
        if (cursor.remaining()) throw new Error(`${where}: column ${leaves[index]?.path ?? index} has entries beyond ${rows} rows`);
      }
    }
  } finally {
    await handle.close();
  }
}

interface LeafSpec {
  path: string;
  decoder: Omit<ColumnDecoder, 'codec'>;
  maxDef: number;
}

/** A node of the file schema prepared for assembly. */
interface Field {
  name: string;
  kind: 'leaf' | 'struct' | 'list' | 'map';
  repetition: 'REQUIRED' | 'OPTIONAL' | 'REPEATED';
  /** Definition level at which this node is present. */
  defLevel: number;
  /** Repetition level of a new instance of this node (REPEATED only). */
  repLevel: number;
  element: SchemaElement;
  children: Field[];
  /** Cursor indexes of every leaf under this node; the first one is peeked to decide presence. */
  leaves: number[];
  /** Under stats_parsed, where dates and timestamps are the strings the JSON stats hold. */
  inStats: boolean;
}

function compileField(tree: SchemaTree, ancestors: SchemaTree[], parentDef: number, parentRep: number, parentInStats: boolean, leaves: LeafSpec[]): Field {
  const { element } = tree;
  const repetition = element.repetition_type ?? 'REQUIRED';
  const defLevel = repetition === 'REQUIRED' ? parentDef : parentDef + 1;
  const repLevel = repetition === 'REPEATED' ? parentRep + 1 : parentRep;
  const inStats = parentInStats || element.name === 'stats_parsed';
  const path = [...ancestors, tree];
  const field: Field = { name: element.name, kind: 'leaf', repetition, defLevel, repLevel, element, children: [], leaves: [], inStats };
  if (tree.children.length === 0) {
    field.leaves.push(leaves.length);
    leaves.push({
      path: tree.path.join('.'),
      maxDef: defLevel,
      decoder: { pathInSchema: tree.path, type: element.type ?? 'BYTE_ARRAY', element, schemaPath: path, parsers: DEFAULT_PARSERS, compressors, utf8: true },
    });
    return field;
  }
  field.children = tree.children.map((child) => compileField(child, path, defLevel, repLevel, inStats, leaves));
  field.leaves = field.children.flatMap((child) => child.leaves);
  const only = field.children.length === 1 ? field.children[0] : undefined;
  const annotation = element.logical_type?.type ?? element.converted_type;
  if ((annotation === 'MAP' || element.converted_type === 'MAP_KEY_VALUE') && only?.repetition === 'REPEATED' && only.children.length === 2) {
    field.kind = 'map';
  } else if (annotation === 'LIST' && only?.repetition === 'REPEATED') {
    field.kind = 'list';
  } else {
    field.kind = 'struct';
  }
  return field;
}

/** Reads the value of `field` for the current instance of its parent; undefined is null. */
function readField(field: Field, cursors: LeafCursor[]): Json | undefined {
  if (field.repetition === 'REPEATED') return readInstances(field, cursors, () => readPresent(field, cursors) ?? null);
  if (field.repetition === 'OPTIONAL' && firstCursor(field, cursors).peekDef() < field.defLevel) {
    skip(field, cursors);
    return undefined;
  }
  return readPresent(field, cursors);
}

function readPresent(field: Field, cursors: LeafCursor[]): Json | undefined {
  switch (field.kind) {
    case 'leaf':
      return leafValue(firstCursor(field, cursors).take(), field);
    case 'struct': {
      // Null struct fields are absent, as in the JSON form of the action.
      const out: JsonObject = {};
      for (const child of field.children) {
        const value = readField(child, cursors);
        if (value !== undefined) setKey(out, child.name, value);
      }
      return out;
    }
    case 'list': {
      const repeated = field.children[0];
      if (!repeated) return [];
      const element = listElement(field, repeated);
      return readInstances(repeated, cursors, () =>
        (element === repeated ? readPresent(repeated, cursors) : readField(element, cursors)) ?? null);
    }
    case 'map': {
      const entries = field.children[0];
      if (!entries) return {};
      const key = entries.children.find((child) => child.name === 'key') ?? entries.children[0];
      const value = entries.children.find((child) => child.name === 'value') ?? entries.children[1];
      if (!key || !value) return {};
      // Entries in file order; a null value is data (a null partition value) and stays null.
      const out: JsonObject = {};
      readInstances(entries, cursors, () => {
        const k = readField(key, cursors);
        const v = readField(value, cursors);
        if (k !== undefined && k !== null) setKey(out, typeof k === 'string' ? k : JSON.stringify(k), v ?? null);
        return null;
      });
      return out;
    }
  }
}

/**
 * The element of a LIST: normally the single child of the repeated group,
 * but in the legacy layouts (parquet-format LogicalTypes.md, "Backward-
 * compatibility rules") the repeated field is itself the element.
 */
function listElement(list: Field, repeated: Field): Field {
  const only = repeated.children.length === 1 ? repeated.children[0] : undefined;
  if (!only || repeated.name === 'array' || repeated.name === `${list.name}_tuple`) return repeated;
  return only;
}

/** Reads every instance of a REPEATED field under the current parent instance. */
function readInstances(field: Field, cursors: LeafCursor[], readOne: () => Json): Json[] {
  const first = firstCursor(field, cursors);
  // Below the field's level: the parent is there but holds no instance (an empty list or map).
  if (first.peekDef() < field.defLevel) {
    skip(field, cursors);
    return [];
  }
  const out: Json[] = [];
  do out.push(readOne());
  while (first.peekRep() === field.repLevel);
  return out;
}

/** An absent node has exactly one entry in each leaf below it. */
function skip(field: Field, cursors: LeafCursor[]): void {
  for (const index of field.leaves) cursorAt(cursors, index).take();
}

function firstCursor(field: Field, cursors: LeafCursor[]): LeafCursor {
  const index = field.leaves[0];
  if (index === undefined) throw new Error(`parquet group ${field.name} has no leaf columns`);
  return cursorAt(cursors, index);
}

function cursorAt(cursors: LeafCursor[], index: number): LeafCursor {
  const cursor = cursors[index];
  if (!cursor) throw new Error(`parquet leaf column ${index} has no cursor`);
  return cursor;
}

/** JSON.parse makes "__proto__" an own key; plain assignment would set the prototype instead. */
function setKey(target: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function leafValue(value: unknown, field: Field): Json | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON has no NaN or Infinity; a JSON writer emits null for them.
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      // Number() rounds beyond 2^53 exactly as JSON.parse rounds the same
      // digits, so both forms of one action agree.
      return Number(value);
    default:
      break;
  }
  if (value === null) return undefined;
  if (value instanceof Date) {
    // Action timestamps are longs (ms) in both forms; a writer that
    // annotated one as TIMESTAMP still means milliseconds.
    if (!field.inStats) return value.getTime();
    const isDate = field.element.converted_type === 'DATE' || field.element.logical_type?.type === 'DATE';
    // Delta JSON stats write dates as yyyy-MM-dd and timestamps as ISO-8601
    // with milliseconds in UTC.
    return isDate ? value.toISOString().slice(0, 10) : value.toISOString();
  }
  // Binary values have no JSON form in any action (Delta collects no stats
  // on binary columns), so there is nothing faithful to yield.
  return undefined;
}

async function openRowGroup(buffer: AsyncBuffer, group: RowGroup, leaves: LeafSpec[], where: string): Promise<LeafCursor[]> {
  const chunks = new Map<string, ColumnMetaData>();
  for (const chunk of group.columns) {
    if (chunk.file_path) throw new Error(`${where}: column chunks in other files are not supported`);
    if (chunk.meta_data) chunks.set(chunk.meta_data.path_in_schema.join('.'), chunk.meta_data);
  }
  return Promise.all(leaves.map(async (leaf) => {
    const meta = chunks.get(leaf.path);
    if (!meta) throw new Error(`${where}: no column chunk for ${leaf.path}`);
    // Some writers put 0 in dictionary_page_offset for "none".
    const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
    const bytes = await buffer.slice(start, start + Number(meta.total_compressed_size));
    return new LeafCursor(new Uint8Array(bytes), { ...leaf.decoder, codec: meta.codec }, leaf.maxDef, `${where} ${leaf.path}`);
  }));
}

/**
 * The (repetition level, definition level, value) entries of one column
 * chunk, decoded a page at a time as assembly reaches them.
 */
class LeafCursor {
  private readonly reader: { view: DataView; offset: number };
  private dictionary: DecodedArray | undefined;
  private defs: ArrayLike<number> = [];
  private reps: ArrayLike<number> = [];
  private values: ArrayLike<unknown> = [];
  private count = 0;
  private index = 0;
  private valueIndex = 0;

  constructor(bytes: Uint8Array, private readonly decoder: ColumnDecoder, private readonly maxDef: number, private readonly where: string) {
    this.reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  }

  /** Whether an entry is left, decoding the next data page when the current one is used up. */
  remaining(): boolean {
    while (this.index >= this.count) {
      if (this.reader.offset >= this.reader.view.byteLength) return false;
      try {
        this.readPage();
      } catch (error) {
        // hyparquet's messages name neither the file nor the column.
        throw new Error(`${this.where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
    return true;
  }

  peekDef(): number {
    if (!this.remaining()) throw new Error(`${this.where}: fewer entries than rows`);
    return this.defs.length ? this.defs[this.index] ?? 0 : this.maxDef;
  }

  /** 0 at the end of the chunk: nothing continues a repeated field there. */
  peekRep(): number {
    if (!this.remaining()) return 0;
    return this.reps.length ? this.reps[this.index] ?? 0 : 0;
  }

  /** Consumes one entry; its value if defined down to the leaf, else undefined. */
  take(): unknown {
    const def = this.peekDef();
    this.index++;
    return def === this.maxDef ? this.values[this.valueIndex++] : undefined;
  }

  private readPage(): void {
    const header = parquetHeader(this.reader);
    const { view } = this.reader;
    const body = new Uint8Array(view.buffer, view.byteOffset + this.reader.offset, header.compressed_page_size);
    this.reader.offset += header.compressed_page_size;
    this.index = 0;
    this.valueIndex = 0;
    this.count = 0;
    const { decoder } = this;
    if (header.type === 'DICTIONARY_PAGE' && header.dictionary_page_header) {
      const page = decompressPage(body, header.uncompressed_page_size, decoder.codec, decoder.compressors);
      const pageReader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
      const plain = readPlain(pageReader, decoder.type, header.dictionary_page_header.num_values, decoder.element.type_length);
      this.dictionary = convert(plain, decoder);
    } else if (header.type === 'DATA_PAGE' && header.data_page_header) {
      const page = decompressPage(body, header.uncompressed_page_size, decoder.codec, decoder.compressors);
      const { definitionLevels, repetitionLevels, dataPage } = readDataPage(page, header.data_page_header, decoder);
      this.setPage(header.data_page_header.num_values, definitionLevels, repetitionLevels, convertWithDictionary(dataPage, this.dictionary, header.data_page_header.encoding, decoder));
    } else if (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2) {
      const { definitionLevels, repetitionLevels, dataPage } = readDataPageV2(body, header, decoder);
      this.setPage(header.data_page_header_v2.num_values, definitionLevels, repetitionLevels, convertWithDictionary(dataPage, this.dictionary, header.data_page_header_v2.encoding, decoder));
    }
    // Index pages carry no entries.
  }

  private setPage(count: number, defs: number[] | undefined, reps: number[], values: DecodedArray): void {
    this.count = count;
    // hyparquet leaves the level arrays empty when every entry is at the
    // maximum (no nulls) or the column has no such levels.
    this.defs = defs ?? [];
    this.reps = reps;
    this.values = values;
  }
}

function columnAction(column: Field, value: Json | undefined): Action | undefined {
  // Every action is an object; a primitive top-level column is not an action
  // column (no Delta writer produces one) and carries nothing to replay.
  if (value === undefined || column.kind === 'leaf') return undefined;
  const name = column.name;
  if (!isJsonObject(value)) return { kind: 'unknown', name, value };
  switch (name) {
    case 'add': return { kind: 'add', add: toAdd(value) };
    case 'remove': return { kind: 'remove', remove: toRemove(value) };
    case 'metaData': return { kind: 'metaData', metaData: toMetadata(value) };
    case 'protocol': return { kind: 'protocol', protocol: expectFields<ProtocolAction>(value, 'protocol', { minReaderVersion: 'number', minWriterVersion: 'number' }) };
    case 'txn': return { kind: 'txn', txn: expectFields<TxnAction>(value, 'txn', { appId: 'string', version: 'number' }) };
    case 'domainMetadata':
      return { kind: 'domainMetadata', domainMetadata: expectFields<DomainMetadataAction>(value, 'domainMetadata', { domain: 'string', configuration: 'string', removed: 'boolean' }) };
    case 'commitInfo': return { kind: 'commitInfo', commitInfo: value };
    case 'checkpointMetadata': return { kind: 'checkpointMetadata', checkpointMetadata: value };
    case 'sidecar': return { kind: 'sidecar', sidecar: value };
    case 'cdc': return { kind: 'cdc', cdc: expectFields<CdcAction>(value, 'cdc', { path: 'string', size: 'number', dataChange: 'boolean' }) };
    default: return { kind: 'unknown', name, value };
  }
}

/** Fills in what the JSON form of an add always has and drops the parsed copies. */
function toAdd(value: JsonObject): AddAction {
  const out: JsonObject = { ...value };
  const statsParsed = out['stats_parsed'];
  // Writers configured to write stats only as a struct leave the string
  // out, but the JSON form is the string, so rebuild it. Key order follows
  // the struct and numbers print as JavaScript prints them: as close to
  // the writer's JSON as the file allows, not byte-identical.
  if (out['stats'] === undefined && statsParsed !== undefined) out['stats'] = JSON.stringify(statsParsed);
  delete out['stats_parsed'];
  delete out['partitionValues_parsed'];
  out['partitionValues'] ??= {};
  return expectFields<AddAction>(out, 'add', { path: 'string', size: 'number', modificationTime: 'number', dataChange: 'boolean' });
}

function toRemove(value: JsonObject): RemoveAction {
  const out: JsonObject = { ...value };
  delete out['stats_parsed'];
  delete out['partitionValues_parsed'];
  return expectFields<RemoveAction>(out, 'remove', { path: 'string', dataChange: 'boolean' });
}

function toMetadata(value: JsonObject): MetadataAction {
  const out: JsonObject = { ...value };
  const format = isJsonObject(out['format']) ? { ...out['format'] } : {};
  // The JSON form always has these; a null MAP and an empty one both mean
  // "no entries" to every reader.
  format['options'] ??= {};
  out['format'] = format;
  out['configuration'] ??= {};
  out['partitionColumns'] ??= [];
  return expectFields<MetadataAction>(out, 'metaData', { id: 'string', schemaString: 'string' });
}

type FieldType = 'string' | 'number' | 'boolean';

/**
 * Checks the fields the protocol requires before the object is typed as an
 * action: a file from another writer that lacks them would otherwise fail
 * far away, in replay, with no hint of which file was wrong.
 */
function expectFields<T>(value: JsonObject, kind: string, required: Record<string, FieldType>): T {
  for (const [field, type] of Object.entries(required)) {
    if (typeof value[field] !== type) {
      throw new Error(`checkpoint ${kind}.${field}: expected ${type}, got ${JSON.stringify(value[field] ?? null)}`);
    }
  }
  return value as unknown as T;
}

function isJsonObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

type Repetition = 'REQUIRED' | 'OPTIONAL';

// Field builders for the checkpoint schema, with the converted and logical
// annotations parquet-mr (Spark) writes, so readers that map Parquet to
// Arrow/Spark types see string, map and array rather than binary and
// repeated groups.
const str = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: repetition }];
const long = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'INT64', repetition_type: repetition }];
const int = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'INT32', repetition_type: repetition }];
const bool = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'BOOLEAN', repetition_type: repetition }];
// map<string,string> with nullable values (a null partition value is data).
const stringMap = (name: string): WriterSchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'MAP', logical_type: { type: 'MAP' }, num_children: 1 },
  { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
  ...str('key', 'REQUIRED'),
  ...str('value'),
];
const stringList = (name: string): WriterSchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  ...str('element'),
];
function struct(name: string, ...fields: WriterSchemaElement[][]): WriterSchemaElement[] {
  return [{ name, repetition_type: 'OPTIONAL', num_children: fields.length }, ...fields.flat()];
}

// Nullability follows Spark's case classes: fields of JVM primitive type
// (Long, Int, Boolean) are REQUIRED inside their optional struct, objects
// and Options are OPTIONAL. Spark-written checkpoints are the files every
// reader is tested against.
const deletionVector = struct('deletionVector',
  str('storageType'), str('pathOrInlineDv'), int('offset'), int('sizeInBytes', 'REQUIRED'),
  long('cardinality', 'REQUIRED'), long('maxRowIndex'));

const CHECKPOINT_COLUMNS = ['txn', 'add', 'remove', 'metaData', 'protocol', 'domainMetadata'] as const;
type CheckpointColumn = (typeof CHECKPOINT_COLUMNS)[number];

const CHECKPOINT_SCHEMA: WriterSchemaElement[] = [
  { name: 'spark_schema', num_children: CHECKPOINT_COLUMNS.length },
  ...struct('txn', str('appId'), long('version', 'REQUIRED'), long('lastUpdated')),
  ...struct('add',
    str('path'), stringMap('partitionValues'), long('size', 'REQUIRED'), long('modificationTime', 'REQUIRED'),
    bool('dataChange', 'REQUIRED'), str('stats'), stringMap('tags'), deletionVector,
    long('baseRowId'), long('defaultRowCommitVersion'), str('clusteringProvider')),
  ...struct('remove',
    str('path'), long('deletionTimestamp'), bool('dataChange', 'REQUIRED'), bool('extendedFileMetadata'),
    stringMap('partitionValues'), long('size'), stringMap('tags'), deletionVector,
    long('baseRowId'), long('defaultRowCommitVersion')),
  ...struct('metaData',
    str('id'), str('name'), str('description'), struct('format', str('provider'), stringMap('options')),
    str('schemaString'), stringList('partitionColumns'), stringMap('configuration'), long('createdTime')),
  ...struct('protocol',
    int('minReaderVersion', 'REQUIRED'), int('minWriterVersion', 'REQUIRED'),
    stringList('readerFeatures'), stringList('writerFeatures')),
  ...struct('domainMetadata', str('domain'), str('configuration'), bool('removed', 'REQUIRED')),
];

/** A value as the Parquet writer takes it: INT64 as bigint, maps as key/value entries. */
type Cell = null | undefined | boolean | number | bigint | string | Cell[] | MapEntry[] | { [key: string]: Cell };
interface MapEntry { key: string; value: string | null }
type Row = { [key: string]: Cell };

export interface WriteParquetCheckpointOptions {
  /** Rows per row group; memory while writing is proportional to it. */
  rowGroupRows?: number;
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
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) throw new RangeError(`rowGroupRows must be a positive integer, got ${rowGroupRows}`);

  // A dot-prefixed name matches no Delta log file pattern, so even a
  // leftover from a crash is ignored by every reader.
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  let closed = false;
  try {
    // The writer encodes into this buffer; it is drained to the file after
    // every row group, so it never holds more than one group's bytes.
    const sink = new ByteWriter(1 << 20);
    const writer = new ParquetWriter({ writer: sink, schema: CHECKPOINT_SCHEMA, codec: 'SNAPPY', createdBy: 'deltameta (hyparquet-writer)' });
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
    throw new TypeError(`checkpoint ${where}: partitionColumns must be an array of strings`);
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
  throw new TypeError(`checkpoint ${where}: ${field} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
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
