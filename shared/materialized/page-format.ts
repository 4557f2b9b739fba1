/**
 * The byte format of file pages (sql/000005_file_pages.sql): each page is a
 * raw DEFLATE segment ending with a sync flush, so pages concatenate into
 * one DEFLATE stream; a gzip member is that stream between a 10-byte header
 * and a trailer (CRC-32 and length of the whole), the CRC combined from the
 * pages' without touching their bytes (RFC 1951, RFC 1952).
 */
import { promisify } from 'node:util';
import { constants as zlibConstants, crc32, deflateRaw, inflateRawSync } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

export interface PageBody {
  /** raw DEFLATE, sync-flushed; empty for a page without lines */
  readonly body: Buffer;
  /** bytes before compression */
  readonly rawBytes: number;
  /** CRC-32 of those bytes, unsigned */
  readonly crc32: number;
}

/** Level 6: pages are written once and read many times (52 vs 64 MB per 1M files at level 1, ~1.7x the CPU). */
export const pageCompressionLevel = 6;

/** Compresses on libuv's thread pool: several pages compress at once. */
export async function compressPage(raw: Buffer): Promise<PageBody> {
  if (raw.length === 0) return { body: Buffer.alloc(0), rawBytes: 0, crc32: 0 };
  const body = await deflateRawAsync(raw, { level: pageCompressionLevel, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return { body, rawBytes: raw.length, crc32: crc32(raw) };
}

/** The uncompressed bytes of one page (a sync-flushed segment is a stream without its end). */
export function inflatePage(body: Buffer): Buffer {
  if (body.length === 0) return Buffer.alloc(0);
  return inflateRawSync(body, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
}

// CRC-32 combination as in zlib 1.2.12+ (multmodp / x2nmodp): polynomials
// modulo the CRC polynomial, bit-reflected, x^0 = 0x80000000.
const polynomial = 0xedb88320;
const x0 = 0x80000000;

/** a(x) * b(x) modulo p(x) */
function multiplyModP(a: number, b: number): number {
  let m = x0;
  let product = 0;
  let factor = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      product ^= factor;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    factor = (factor & 1) !== 0 ? (factor >>> 1) ^ polynomial : factor >>> 1;
  }
  return product >>> 0;
}

/** x^(2^n) modulo p(x), n = 0..31 */
const powersOfX = ((): Uint32Array => {
  const table = new Uint32Array(32);
  let p = x0 >>> 1; // x^1
  table[0] = p;
  for (let n = 1; n < 32; n++) table[n] = p = multiplyModP(p, p);
  return table;
})();

/** x^(n * 2^k) modulo p(x) */
function xPowerModP(n: number, k: number): number {
  let p = x0;
  let rest = n;
  let bit = k;
  while (rest > 0) {
    if (rest % 2 === 1) p = multiplyModP(powersOfX[bit & 31] as number, p);
    rest = Math.floor(rest / 2);
    bit++;
  }
  return p;
}

/**
 * CRC-32 of A followed by B, from crc(A), crc(B) and B's length. By hand
 * (zlib's crc32_combine: crc(A) times x^(8·len B) mod P, in GF(2)): Node's zlib exposes crc32 but
 * not the combine, and no maintained npm package does it without the bytes.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  return (multiplyModP(xPowerModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}

/** gzip header: deflate, no name or time, OS unknown. */
export const gzipHeader = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/** An empty final stored block ends the DEFLATE stream after sync-flushed segments, then CRC-32 and length mod 2^32. */
export function gzipTrailer(crc: number, rawBytes: number): Buffer {
  const trailer = Buffer.alloc(10);
  trailer[0] = 0x03; // final fixed-Huffman block holding only end-of-block
  trailer[1] = 0x00;
  trailer.writeUInt32LE(crc >>> 0, 2);
  trailer.writeUInt32LE(rawBytes % 0x1_0000_0000, 6);
  return trailer;
}

/** Accumulates pages into one gzip member: header, then bodies as given, then trailer(). */
export class GzipAssembler {
  private crc = 0;
  private rawBytes = 0;

  add(page: Pick<PageBody, 'rawBytes' | 'crc32'>): void {
    this.crc = crc32Combine(this.crc, page.crc32, page.rawBytes);
    this.rawBytes += page.rawBytes;
  }

  get uncompressedBytes(): number {
    return this.rawBytes;
  }

  trailer(): Buffer {
    return gzipTrailer(this.crc, this.rawBytes);
  }
}

/**
 * Pages (in path order) framed as one gzip member, chunk by chunk: header, the bodies as stored, trailer. `assembler` holds the totals after.
 * Framed by hand: a gzip library would re-compress the bodies, which is exactly the work the pages exist to avoid.
 */
export async function* gzipMember(pages: AsyncIterable<PageBody>, assembler = new GzipAssembler()): AsyncGenerator<Buffer> {
  yield gzipHeader;
  for await (const page of pages) {
    assembler.add(page);
    if (page.body.length > 0) yield page.body;
  }
  yield assembler.trailer();
}
