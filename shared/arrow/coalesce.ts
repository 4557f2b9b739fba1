/**
 * Many small record batch messages of one AddActionsLayout (the file pages'
 * arrow_body, ~65 rows each) into one large record batch message with
 * LZ4_FRAME buffers, by copying Arrow buffers: no add line is parsed again.
 * A reader of the stream pays per batch and per buffer (pyarrow: 1M files
 * in 15k page batches read in ~330 ms, in 16 batches of 64k rows in ~30 ms)
 * and the page batches are too small to compress (their buffers are raw),
 * so the whole list as page batches is ~2.9x the bytes of these.
 *
 * Every column of the layout is flat (add-actions-layout.ts): validity and
 * values, or validity, int32 offsets and data for strings and binary.
 * Bitmaps (validity, booleans) are copied bit-shifted, offsets rebased,
 * fixed-width values concatenated.
 */
import { decodeMessage } from '@uwdata/flechette/src/decode/message.js';
import type { AddActionsLayout, ValueKind } from './add-actions-layout.ts';
import { recordBatchMessage, uncompressedRegion, type ColumnParts } from './add-actions-encode.ts';

/** Bytes per value of a fixed-width kind; 0: a bitmap (boolean); undefined: offsets and data. */
function valueWidth(kind: ValueKind): number | undefined {
  if (typeof kind !== 'string') return 16;
  switch (kind) {
    case 'string': case 'binary': return undefined;
    case 'boolean': return 0;
    case 'long': case 'double': case 'timestamp': case 'timestamp_ntz': return 8;
    case 'integer': case 'float': case 'date': return 4;
    case 'short': return 2;
    case 'byte': return 1;
  }
}

/** Copies `count` bits from the start of `source` to `target` at bit `at` (target zeroed beyond what was written). */
function copyBits(target: Uint8Array, at: number, source: Uint8Array, count: number): void {
  const shift = at & 7;
  const first = at >> 3;
  const bytes = (count + 7) >> 3;
  const lastMask = (count & 7) === 0 ? 0xff : (1 << (count & 7)) - 1;
  for (let i = 0; i < bytes; i++) {
    const value = i === bytes - 1 ? (source[i] as number) & lastMask : (source[i] as number);
    if (shift === 0) {
      target[first + i] = (target[first + i] as number) | value;
    } else {
      target[first + i] = (target[first + i] as number) | ((value << shift) & 0xff);
      const carry = value >> (8 - shift);
      if (carry !== 0) target[first + i + 1] = (target[first + i + 1] as number) | carry;
    }
  }
}

/** Sets `count` bits of `target` from bit `at`. */
function setBits(target: Uint8Array, at: number, count: number): void {
  let bit = at;
  const end = at + count;
  while (bit < end && (bit & 7) !== 0) target[bit >> 3] = (target[bit >> 3] as number) | (1 << (bit++ & 7));
  const wholeEnd = end & ~7;
  if (bit < wholeEnd) {
    target.fill(0xff, bit >> 3, wholeEnd >> 3);
    bit = wholeEnd;
  }
  while (bit < end) target[bit >> 3] = (target[bit >> 3] as number) | (1 << (bit++ & 7));
}

/** `count` int32s at the start of `bytes` (copied when not 4-byte aligned: a bytea from PostgreSQL can start anywhere). */
function int32s(bytes: Uint8Array, count: number): Int32Array {
  if (bytes.byteLength < count * 4) throw new Error(`an Arrow offsets buffer of ${bytes.byteLength} bytes for ${count} offsets`);
  return bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, count) : new Int32Array(bytes.slice(0, count * 4).buffer, 0, count);
}

interface SourceBatch {
  readonly length: number;
  /** per column: null count and its buffers (uncompressed) */
  readonly columns: ReadonlyArray<{ readonly nullCount: number; readonly buffers: readonly Uint8Array[] }>;
}

function readBatch(message: Uint8Array, layout: AddActionsLayout): SourceBatch {
  const decoded = decodeMessage(message, 0);
  const content = decoded?.content;
  if (!content || !('nodes' in content)) throw new Error('an Arrow page batch that is not a record batch message');
  if (content.nodes.length !== layout.columns.length) throw new Error(`an Arrow page batch of ${content.nodes.length} columns where the layout has ${layout.columns.length}`);
  let region = 0;
  const columns = layout.columns.map((column, index) => {
    const count = valueWidth(column.kind) === undefined ? 3 : 2;
    const buffers: Uint8Array[] = [];
    for (let i = 0; i < count; i++) buffers.push(uncompressedRegion(content.body, content.regions[region++] as { offset: number; length: number }, content.compression));
    return { nullCount: (content.nodes[index] as { nullCount: number }).nullCount, buffers };
  });
  return { length: content.length, columns };
}

/** A batch's validity at bit `row` of the column's (all valid: no bitmap of its own). */
function appendValidity(validity: Uint8Array, row: number, column: SourceBatch['columns'][number], length: number): void {
  if (column.nullCount === 0) setBits(validity, row, length);
  else copyBits(validity, row, column.buffers[0] as Uint8Array, length);
}

/** One column of all the batches as one. */
function concatColumn(kind: ValueKind, batches: readonly SourceBatch[], index: number, rows: number): ColumnParts {
  let nullCount = 0;
  for (const batch of batches) nullCount += (batch.columns[index] as SourceBatch['columns'][number]).nullCount;
  const validity = nullCount === 0 ? new Uint8Array(0) : new Uint8Array((rows + 7) >> 3);
  const width = valueWidth(kind);
  if (width === undefined) {
    const offsets = new Int32Array(rows + 1);
    let dataBytes = 0;
    for (const batch of batches) {
      const buffers = (batch.columns[index] as SourceBatch['columns'][number]).buffers;
      const source = int32s(buffers[1] as Uint8Array, batch.length + 1);
      dataBytes += (source[batch.length] as number) - (source[0] as number);
    }
    const data = new Uint8Array(dataBytes);
    let row = 0;
    let base = 0;
    for (const batch of batches) {
      const column = batch.columns[index] as SourceBatch['columns'][number];
      if (nullCount > 0) appendValidity(validity, row, column, batch.length);
      const source = int32s(column.buffers[1] as Uint8Array, batch.length + 1);
      const start = source[0] as number;
      for (let i = 1; i <= batch.length; i++) offsets[row + i] = base + (source[i] as number) - start;
      const end = source[batch.length] as number;
      data.set((column.buffers[2] as Uint8Array).subarray(start, end), base);
      base += end - start;
      row += batch.length;
    }
    return { length: rows, nullCount, buffers: [validity, offsets, data] };
  }
  const values = new Uint8Array(width === 0 ? (rows + 7) >> 3 : rows * width);
  let row = 0;
  for (const batch of batches) {
    const column = batch.columns[index] as SourceBatch['columns'][number];
    if (nullCount > 0) appendValidity(validity, row, column, batch.length);
    const source = column.buffers[1] as Uint8Array;
    if (width === 0) copyBits(values, row, source, batch.length);
    else values.set(source.subarray(0, batch.length * width), row * width);
    row += batch.length;
  }
  return { length: rows, nullCount, buffers: [validity, values] };
}

/**
 * The record batch messages (one IPC message each, uncompressed or not, all
 * in `layout`) as one record batch message with LZ4_FRAME buffers; empty
 * for no rows.
 */
export function coalesceBatches(layout: AddActionsLayout, messages: readonly Uint8Array[]): Buffer {
  const batches = messages.filter((message) => message.byteLength > 0).map((message) => readBatch(message, layout)).filter((batch) => batch.length > 0);
  const rows = batches.reduce((sum, batch) => sum + batch.length, 0);
  if (rows === 0) return Buffer.alloc(0);
  return recordBatchMessage(rows, layout.columns.map((column, index) => concatColumn(column.kind, batches, index, rows)), 'lz4');
}
