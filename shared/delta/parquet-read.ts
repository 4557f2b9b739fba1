/**
 * Reading Delta checkpoints in Parquet form (PROTOCOL.md "Checkpoints"):
 * any checkpoint Parquet file — classic single-part, a part of a multi-part
 * checkpoint, the Parquet top-level file of a V2 checkpoint or a V2 sidecar
 * — yields its actions exactly as the JSON form of the same action would
 * hold them, so replay does not care which form a file came from. A file
 * that cannot be read as one fails as a bad JSON commit does: a
 * LogFormatError (BAD_INPUT) naming the file.
 *
 * THE ONE FILE ALLOWED TO IMPORT HYPARQUET INTERNALS (hyparquet/src/*.js),
 * which is why package.json pins hyparquet exactly.
 *
 * Memory is bounded by a row group, never by the file: a checkpoint of a
 * large table (millions of files) must not need memory proportional to the
 * table. Reading holds one row group's compressed column chunks and one
 * decoded page per leaf column.
 */
import { open, type FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';
import {
  parquetMetadataAsync, parquetSchema, type AsyncBuffer, type ColumnMetaData, type Compressors, type DecodedArray, type PageHeader, type RowGroup,
} from 'hyparquet';
// Page decoding below hyparquet's row API (see below). These modules are
// exported by the package ("./src/*.js") but are not its documented surface:
// a hyparquet upgrade must run test/unit/parquet-checkpoint.test.ts.
import { parquetHeader } from 'hyparquet/src/column.js';
import { convert, convertWithDictionary, DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { decompressPage, readDataPage, readDataPageV2 } from 'hyparquet/src/datapage.js';
import { readPlain } from 'hyparquet/src/plain.js';
import { InputRefusedError, LogFormatError } from '../errors/index.ts';
import type { Action } from './actions.ts';
import { checkActionValues, defaultInputLimits, type InputLimits } from './input-limits.ts';
import { columnAction } from './parquet-actions.ts';
import { compileField, readField, type Field, type LeafColumn, type LevelCursor } from './parquet-assembly.ts';

// hyparquet's row API (parquetRead) assembles a whole row group into nested
// arrays and objects for every column, nulls included, before handing out a
// single row: for a 50,000-row group of adds that is over 300 MB of live
// heap, and a Spark checkpoint's row group can hold several hundred thousand
// adds. So rows are assembled here instead, straight from the column pages
// (Dremel record assembly, parquet-assembly.ts), using hyparquet only for
// the file metadata and for decoding pages. What stays in memory is a row
// group's compressed column chunks plus one decoded page per leaf column.

type ColumnDecoder = Parameters<typeof convert>[1];

/** A leaf column with the page decoder hyparquet needs for it (all but the chunk's codec). */
interface LeafDecoder {
  readonly path: string;
  readonly maxDef: number;
  readonly decoder: Omit<ColumnDecoder, 'codec'>;
}

// Checkpoint writers compress with SNAPPY (Spark), nothing (delta-rs) or,
// when configured, GZIP/ZSTD; hyparquet decodes only SNAPPY by itself.
class PageLimitError extends Error {} // a page header over one of the InputLimits: wrapped as InputRefusedError
const zstdDecompressSync: unknown = (zlib as unknown as Record<string, unknown>)['zstdDecompressSync'];
// Decompression stops at the size the page header declares (itself checked
// against maxUncompressedPageBytes before this runs): a gzip bomb fails
// after that many bytes instead of inflating to gigabytes.
const bounded = (outputLength: number): zlib.ZlibOptions => ({ maxOutputLength: Math.max(1, outputLength) });
const compressors: Compressors = {
  GZIP: (input, outputLength) => zlib.gunzipSync(input, bounded(outputLength)),
  BROTLI: (input, outputLength) => zlib.brotliDecompressSync(input, bounded(outputLength)),
  // Node >= 22.15 only; on older Node a ZSTD checkpoint fails naming the codec.
  ...(typeof zstdDecompressSync === 'function'
    ? { ZSTD: (input: Uint8Array, outputLength: number): Uint8Array => (zstdDecompressSync as (data: Uint8Array, options: zlib.ZlibOptions) => Buffer)(input, bounded(outputLength)) }
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
      // Offsets and lengths come from the file's own metadata: check them
      // against its real size before allocating a buffer for them.
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > byteLength) {
        throw new LogFormatError(file, undefined, `metadata points at bytes ${start}..${end}, outside the file's ${byteLength} bytes`);
      }
      const length = Math.max(0, end - start);
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(bytes, done, length - done, start + done);
        // A short file is a truncated checkpoint; returning zeros would decode as garbage.
        if (bytesRead === 0) throw new LogFormatError(file, undefined, `unexpected end of file at byte ${start + done}`);
        done += bytesRead;
      }
      return bytes.buffer;
    },
  };
}

function leafDecoder(leaf: LeafColumn): LeafDecoder {
  const { element } = leaf;
  return {
    path: leaf.path,
    maxDef: leaf.maxDef,
    decoder: { pathInSchema: leaf.pathInSchema, type: element.type ?? 'BYTE_ARRAY', element, schemaPath: leaf.schemaPath, parsers: DEFAULT_PARSERS, compressors, utf8: true },
  };
}

/** The file's metadata and its action columns prepared for assembly. */
async function openCheckpoint(buffer: AsyncBuffer, file: string): Promise<{ rowGroups: RowGroup[]; columns: Field[]; leaves: LeafDecoder[] }> {
  try {
    // No GeoParquet pass: checkpoints have no geometry, and that pass loops
    // forever on a negative num_children (hyparquet 1.33, found by fuzzing).
    const metadata = await parquetMetadataAsync(buffer, { geoparquet: false });
    for (const element of metadata.schema) {
      const children = element.num_children ?? 0;
      if (!(Number.isInteger(children) && children >= 0 && children < metadata.schema.length)) {
        throw new LogFormatError(file, undefined, `schema element ${element.name} declares ${children} children`);
      }
    }
    const root = parquetSchema(metadata);
    const leafColumns: LeafColumn[] = [];
    const columns = root.children.map((child) => compileField(child, [root], 0, 0, false, leafColumns));
    return { rowGroups: metadata.row_groups, columns, leaves: leafColumns.map(leafDecoder) };
  } catch (error) {
    // A truncated or non-Parquet file, or a schema hyparquet cannot read: say which file.
    if (error instanceof LogFormatError) throw error;
    throw new LogFormatError(file, undefined, error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * Yields one action per non-null action column of each row (a well-formed
 * checkpoint has exactly one per row), in file order.
 */
export async function* readParquetActions(file: string, limits: InputLimits = defaultInputLimits): AsyncGenerator<Action> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buffer = fileHandleBuffer(handle, size, file);
    const { rowGroups, columns, leaves } = await openCheckpoint(buffer, file);
    for (const [groupIndex, group] of rowGroups.entries()) {
      const where = `row group ${groupIndex}`;
      const cursors = await openRowGroup(buffer, group, leaves, file, where, limits);
      const rows = Number(group.num_rows);
      for (let row = 0; row < rows; row++) {
        for (const column of columns) {
          const action = columnAction(column, readField(column, cursors), file);
          if (action) {
            checkActionValues(action, file, undefined, limits);
            yield action;
          }
        }
      }
      // Entries left over mean the levels and the schema disagree; the rows
      // already yielded would have been assembled from the wrong entries.
      for (const [index, cursor] of cursors.entries()) {
        if (cursor.remaining()) throw new LogFormatError(file, undefined, `${where}: column ${leaves[index]?.path ?? index} has entries beyond ${rows} rows`);
      }
    }
  } finally {
    await handle.close();
  }
}

/** A cursor on each leaf column's chunk in one row group; the chunks' compressed bytes are read now. */
async function openRowGroup(
  buffer: AsyncBuffer, group: RowGroup, leaves: readonly LeafDecoder[], file: string, where: string, limits: InputLimits,
): Promise<LeafCursor[]> {
  const chunks = new Map<string, ColumnMetaData>();
  let declaredBytes = 0;
  for (const chunk of group.columns) {
    if (chunk.file_path) throw new LogFormatError(file, undefined, `${where}: column chunks in other files are not supported`);
    if (chunk.meta_data) {
      chunks.set(chunk.meta_data.path_in_schema.join('.'), chunk.meta_data);
      declaredBytes += Number(chunk.meta_data.total_compressed_size);
    }
  }
  // The chunks of a row group are read together: claims that overlap (or
  // exceed the file) would multiply the memory taken by the file's size.
  if (!(declaredBytes <= buffer.byteLength)) {
    throw new LogFormatError(file, undefined, `${where}: column chunks declare ${declaredBytes} bytes, more than the file's ${buffer.byteLength}`);
  }
  return Promise.all(leaves.map(async (leaf) => {
    const meta = chunks.get(leaf.path);
    if (!meta) throw new LogFormatError(file, undefined, `${where}: no column chunk for ${leaf.path}`);
    // Some writers put 0 in dictionary_page_offset for "none".
    const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
    const bytes = await buffer.slice(start, start + Number(meta.total_compressed_size));
    return new LeafCursor(new Uint8Array(bytes), { ...leaf.decoder, codec: meta.codec }, leaf.maxDef, file, `${where} ${leaf.path}`, limits);
  }));
}

/**
 * The (repetition level, definition level, value) entries of one column
 * chunk, decoded a page at a time as assembly reaches them.
 */
class LeafCursor implements LevelCursor {
  private readonly reader: { view: DataView; offset: number };
  private dictionary: DecodedArray | undefined;
  private defs: ArrayLike<number> = [];
  private reps: ArrayLike<number> = [];
  private values: ArrayLike<unknown> = [];
  private count = 0;
  private index = 0;
  private valueIndex = 0;

  constructor(
    bytes: Uint8Array, private readonly decoder: ColumnDecoder, private readonly maxDef: number,
    private readonly file: string, private readonly where: string, private readonly limits: InputLimits,
  ) {
    this.reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  }

  /** Whether an entry is left, decoding the next data page when the current one is used up. */
  remaining(): boolean {
    while (this.index >= this.count) {
      if (this.reader.offset >= this.reader.view.byteLength) return false;
      try {
        this.readPage();
      } catch (error) {
        // hyparquet's messages name neither the file nor the column. A limit, or a page inflating past its
        // declared size (zlib's maxOutputLength: the gzip bomb), is a refusal, not damage.
        if (error instanceof LogFormatError) throw error;
        const Refusal = error instanceof PageLimitError || (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE' ? InputRefusedError : LogFormatError;
        throw new Refusal(this.file, undefined, `${this.where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
    return true;
  }

  peekDef(): number {
    if (!this.remaining()) throw new LogFormatError(this.file, undefined, `${this.where}: fewer entries than rows`);
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
    this.checkHeader(header);
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

  /** What a page header declares, checked before anything is allocated or decompressed for it. */
  private checkHeader(header: PageHeader): void {
    const { limits } = this;
    const left = this.reader.view.byteLength - this.reader.offset;
    if (!(header.compressed_page_size >= 0 && header.compressed_page_size <= left)) {
      throw new Error(`page declares ${header.compressed_page_size} compressed bytes, ${left} are left in the column chunk`);
    }
    if (!(header.uncompressed_page_size >= 0 && header.uncompressed_page_size <= limits.maxUncompressedPageBytes)) {
      throw new PageLimitError(`page declares ${header.uncompressed_page_size} uncompressed bytes, over the limit of ${limits.maxUncompressedPageBytes}`);
    }
    const values = header.data_page_header?.num_values ?? header.data_page_header_v2?.num_values ?? header.dictionary_page_header?.num_values ?? 0;
    if (!(values >= 0 && values <= limits.maxPageValues)) {
      throw new PageLimitError(`page declares ${values} values, over the limit of ${limits.maxPageValues}`);
    }
    const v2 = header.data_page_header_v2;
    if (v2) {
      // Negative or oversized level lengths send hyparquet's decoders into endless loops or far reads.
      const levels = v2.definition_levels_byte_length + v2.repetition_levels_byte_length;
      if (!(v2.definition_levels_byte_length >= 0 && v2.repetition_levels_byte_length >= 0 && levels <= header.compressed_page_size && levels <= header.uncompressed_page_size)) {
        throw new Error(`page v2 declares level lengths ${v2.definition_levels_byte_length} and ${v2.repetition_levels_byte_length} in ${header.compressed_page_size} bytes`);
      }
      if (!(v2.num_nulls >= 0 && v2.num_nulls <= v2.num_values && v2.num_rows >= 0 && v2.num_rows <= v2.num_values)) {
        throw new Error(`page v2 declares ${v2.num_nulls} nulls and ${v2.num_rows} rows in ${v2.num_values} values`);
      }
    }
    // Every dictionary entry takes at least one bit of the page.
    if (header.dictionary_page_header && values > header.uncompressed_page_size * 8) {
      throw new Error(`dictionary page declares ${values} values in ${header.uncompressed_page_size} bytes`);
    }
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
