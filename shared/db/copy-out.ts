/**
 * The values of a one-column query as Buffers, by COPY (query) TO STDOUT in
 * binary format. For large bytea values this is the fast way out of
 * PostgreSQL: node-pg assembles a many-megabyte DataRow slowly (82 MB of
 * Arrow segments in ~700 ms here), a COPY stream arrives in socket-sized
 * chunks (the same bytes in ~150 ms). COPY takes no bind parameters: the
 * caller inlines them (integers checked, text through escapeLiteral).
 *
 * Binary COPY format (PostgreSQL docs, "COPY", Binary Format): an 11-byte
 * signature, int32 flags, int32 header-extension length and the extension;
 * per row an int16 field count and per field an int32 length (-1: NULL)
 * and the bytes; an int16 -1 ends the data.
 */
import { to as copyTo } from 'pg-copy-streams';
import type { PoolClient } from './pool.ts';

const signature = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Parses the binary COPY format of one column from chunks: whole values
 * (each assembled in a buffer of its own), or with `pieces` the values'
 * bytes as they come, slices of the chunks (no copy: what a stream of the
 * values' concatenation needs).
 */
export class BinaryCopyValues {
  private pending: Buffer = Buffer.alloc(0);
  private headerRead = false;
  /** the value being read: its length, what came of it, and (whole values) its buffer */
  private value: { length: number; bytes: Buffer | undefined; received: number } | undefined;
  ended = false;
  /** NULLs seen (skipped) so far */
  nulls = 0;

  constructor(private readonly pieces = false) {}

  /** The whole values completed by this chunk (NULLs skipped). */
  *push(chunk: Buffer): Generator<Buffer> {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    let at = 0;
    for (;;) {
      if (this.value) {
        const take = Math.min(this.value.length - this.value.received, data.length - at);
        if (this.value.bytes) data.copy(this.value.bytes, this.value.received, at, at + take);
        else if (take > 0) yield data.subarray(at, at + take);
        this.value.received += take;
        at += take;
        if (this.value.received < this.value.length) break;
        const { bytes } = this.value;
        this.value = undefined;
        if (bytes) yield bytes;
        continue;
      }
      if (!this.headerRead) {
        if (data.length - at < signature.length + 8) break;
        if (!data.subarray(at, at + signature.length).equals(signature)) throw new Error('COPY output without the binary signature');
        const extension = data.readInt32BE(at + signature.length + 4);
        if (data.length - at < signature.length + 8 + extension) break;
        at += signature.length + 8 + extension;
        this.headerRead = true;
        continue;
      }
      if (this.ended || data.length - at < 2) break;
      const fields = data.readInt16BE(at);
      if (fields === -1) {
        this.ended = true;
        at += 2;
        break;
      }
      if (fields !== 1) throw new Error(`COPY output of ${fields} columns where one was asked for`);
      if (data.length - at < 6) break;
      const length = data.readInt32BE(at + 2);
      at += 6;
      if (length === -1) this.nulls++;
      if (length === 0 && !this.pieces) yield Buffer.alloc(0);
      else if (length > 0) this.value = { length, bytes: this.pieces ? undefined : Buffer.allocUnsafe(length), received: 0 };
    }
    // Keep only the unread bytes (a copy: the chunk's buffer is not held for them).
    if (at < data.length) this.pending = Buffer.from(data.subarray(at));
  }
}

/**
 * Each value of `sql`'s one column, in order (NULLs skipped); `sql` has its
 * parameters inlined already. `pieces`: the values' bytes as they arrive
 * instead (empty values give nothing), for a stream of their concatenation.
 * `nullIsError`: a NULL fails the stream with this message instead.
 */
export async function* copyOutValues(client: PoolClient, sql: string, options: { pieces?: boolean; nullIsError?: string } = {}): AsyncGenerator<Buffer> {
  const parser = new BinaryCopyValues(options.pieces === true);
  const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT (FORMAT binary)`));
  for await (const chunk of stream) {
    yield* parser.push(chunk as Buffer);
    // A NULL where the caller's invariant says there is none: fail rather than skip it.
    if (options.nullIsError !== undefined && parser.nulls > 0) throw new Error(options.nullIsError);
  }
  if (!parser.ended) throw new Error('COPY output ended without its trailer');
}

/** An integer for inlining into SQL (COPY takes no parameters). */
export function sqlInteger(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer to inline into SQL: ${value}`);
  return String(value);
}
