/**
 * Response bodies as they are kept: identity when small, gzip when at
 * least `compressMinBytes` (a full list of 1M add actions is ~400 MB of
 * JSON, ~10x less compressed). Lines are compressed as they arrive, so the
 * uncompressed list never sits in memory.
 */
import { createGzip, constants as zlibConstants, type ZlibOptions } from 'node:zlib';
import { InternalError } from '../../shared/errors/index.ts';

export type BodyEncoding = 'gzip' | 'identity';

export interface EncodedBody {
  readonly body: Buffer;
  readonly encoding: BodyEncoding;
}

const batchBytes = 64 * 1024;

/** The most a body may take as kept, and the error that refuses a bigger one (a 400 naming the limit). */
export interface BodyBound {
  readonly maxBytes: number;
  readonly refusal: () => Error;
}

/**
 * NDJSON: each line followed by "\n". With `bound`, refused as soon as the
 * compressed output passes `bound.maxBytes` (or the body as kept does at the
 * end): what is held meanwhile is that, a batch of lines and zlib's buffers,
 * whatever the number of lines.
 */
export async function encodeLines(lines: AsyncIterable<string> | Iterable<string>, compressMinBytes: number, bound?: BodyBound): Promise<EncodedBody> {
  const pending: string[] = [];
  let pendingBytes = 0;
  let gzip: ReturnType<typeof createGzip> | undefined;
  const compressed: Buffer[] = [];
  let compressedBytes = 0;
  let gzipError: Error | undefined;
  const refuse = (limit: BodyBound): never => {
    gzip?.destroy();
    compressed.length = 0;
    throw limit.refusal();
  };

  const startGzip = (): ReturnType<typeof createGzip> => {
    // Level 1: several times faster than the default, most of the ratio on repetitive JSON.
    // A 4 MB write buffer (zlib passes it to its Transform; its types leave it
    // out): lines keep arriving while the thread pool compresses, where 16 kB
    // would stop the producer at every batch.
    const options: ZlibOptions & { highWaterMark: number } = { level: 1, chunkSize: 256 * 1024, strategy: zlibConstants.Z_DEFAULT_STRATEGY, highWaterMark: 4 * 1024 * 1024 };
    const stream = createGzip(options);
    stream.on('data', (chunk: Buffer) => {
      compressed.push(chunk);
      compressedBytes += chunk.length;
    });
    stream.on('error', (error) => {
      gzipError = error;
    });
    return stream;
  };
  const flushTo = async (stream: ReturnType<typeof createGzip>): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = Buffer.from(pending.join(''), 'utf8');
    pending.length = 0;
    pendingBytes = 0;
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  };

  for await (const line of lines) {
    pending.push(line, '\n');
    pendingBytes += line.length + 1;
    if (!gzip && pendingBytes >= Math.max(compressMinBytes, 1) && compressMinBytes >= 0) gzip = startGzip();
    if (gzip && pendingBytes >= batchBytes) await flushTo(gzip);
    if (bound && compressedBytes > bound.maxBytes) refuse(bound);
  }
  if (!gzip) {
    const body = Buffer.from(pending.join(''), 'utf8');
    if (body.length < compressMinBytes || body.length === 0) {
      if (bound && body.length > bound.maxBytes) refuse(bound);
      return { body, encoding: 'identity' };
    }
    gzip = startGzip();
  }
  await flushTo(gzip);
  const finished = new Promise<void>((resolve, reject) => {
    gzip.once('end', resolve);
    gzip.once('error', reject);
  });
  gzip.end();
  const failure = await finished.then(() => gzipError, (error: unknown) => error);
  if (failure !== undefined) throw new InternalError('compressing a response body failed', { cause: failure });
  if (bound && compressedBytes > bound.maxBytes) refuse(bound);
  return { body: Buffer.concat(compressed), encoding: 'gzip' };
}

export async function encodeJson(value: unknown, compressMinBytes: number): Promise<EncodedBody> {
  const text = JSON.stringify(value);
  if (text.length < compressMinBytes) return { body: Buffer.from(text, 'utf8'), encoding: 'identity' };
  // encodeLines appends "\n": a JSON document may end with whitespace.
  return encodeLines([text], compressMinBytes);
}
