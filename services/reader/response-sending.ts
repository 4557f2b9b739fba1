/**
 * Sending a table answer: the headers every one carries (Delta-Table-Version,
 * ETag of the representation sent, Cache-Status naming the level that
 * answered, Server-Timing, Vary) and the body — as kept (gzip to a client
 * that accepts it, with no re-encoding), decompressed on the way to one that
 * does not, or streamed from its snapshot.
 */
import { Readable, pipeline } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { acceptsGzip } from './accept-encoding.ts';
import type { ArrowListStream } from './arrow-files.ts';
import { representationTag } from './conditional-request.ts';
import type { CacheAnswer } from './response-cache.ts';
import { boundSendTime, type WholeListStream } from './whole-list-stream.ts';

export const ndjsonContentType = 'application/x-ndjson';
export const arrowContentType = 'application/vnd.apache.arrow.stream';

/** What every answer about one version of a table says, 304 included (Accept: /files answers NDJSON or Arrow by it). */
function versionHeaders(reply: FastifyReply, version: number): FastifyReply {
  return reply.header('delta-table-version', String(version)).header('vary', 'Accept, Accept-Encoding');
}

function elapsedMs(startedMs: number): string {
  return (performance.now() - startedMs).toFixed(3);
}

/** RFC 9211 Cache-Status: L1/L2 are hits; L3/L4 answered a miss and stored it. */
function cacheStatusOf(answer: CacheAnswer): string {
  if (answer.level === 'l1' || answer.level === 'l2') return `deltameta; hit; detail=${answer.level}`;
  return `deltameta; fwd=miss; stored${answer.collapsed ? '; collapsed' : ''}; detail=${answer.level}`;
}

/** The client has this content already (conditional-request.ts decided). */
export function sendNotModified(reply: FastifyReply, version: number, etag: string): FastifyReply {
  return versionHeaders(reply, version).code(304).header('etag', representationTag(etag, false)).header('cache-status', 'deltameta; hit; detail=etag').send();
}

/** An answer from the cache levels, whose body is kept as identity or gzip. */
export function sendCached(request: FastifyRequest, reply: FastifyReply, version: number, etag: string, found: CacheAnswer, startedMs: number): FastifyReply {
  const response = found.response;
  const gzip = response.encoding === 'gzip' && acceptsGzip(request.headers['accept-encoding']);
  void versionHeaders(reply, version)
    .header('content-type', response.contentType)
    .header('etag', representationTag(etag, gzip))
    .header('cache-status', cacheStatusOf(found))
    .header('server-timing', `${found.level};dur=${elapsedMs(startedMs)};desc="${found.source ?? found.level}"`);
  for (const [header, value] of Object.entries(response.headers)) void reply.header(header, value);
  if (response.encoding === 'identity') return reply.send(response.body);
  if (gzip) return reply.header('content-encoding', 'gzip').send(response.body);
  return reply.send(Readable.from([response.body]).pipe(createGunzip()));
}

/**
 * A whole list streamed from its snapshot (whole-list-stream.ts), recoded
 * only when the client needs the other encoding, and cut off when it is not
 * sent within `sendTimeoutMs` (boundSendTime).
 */
export function sendStreamed(request: FastifyRequest, reply: FastifyReply, version: number, etag: string, found: WholeListStream, startedMs: number, sendTimeoutMs: number): void {
  const gzip = acceptsGzip(request.headers['accept-encoding']);
  void versionHeaders(reply, version)
    .header('content-type', ndjsonContentType)
    .header('etag', representationTag(etag, gzip))
    .header('cache-status', `deltameta; fwd=miss; detail=${found.level}`)
    .header('server-timing', `${found.level};dur=${elapsedMs(startedMs)};desc="${found.source}, streamed"`);
  // pipeline, not pipe: a client that goes away destroys the last stream, and with it the source (which ends its snapshot).
  const recode = (transform: NodeJS.ReadWriteStream & Readable): Readable => {
    pipeline(found.stream, transform, () => undefined);
    return transform;
  };
  const encoded = gzip
    ? (found.encoding === 'gzip' ? found.stream : recode(createGzip({ level: 1 })))
    : (found.encoding === 'gzip' ? recode(createGunzip()) : found.stream);
  // The last stage before the socket: destroying it destroys the source (which ends its snapshot).
  const bounded = boundSendTime(sendTimeoutMs, () => reply.raw.destroy());
  pipeline(encoded, bounded, () => undefined);
  if (gzip) void reply.header('content-encoding', 'gzip');
  void reply.send(bounded);
}

/**
 * A whole Arrow list streamed from its snapshot (arrow-files.ts). Its
 * buffers are LZ4-compressed inside the stream: sent as identity, and cut
 * off when not sent within `sendTimeoutMs` like NDJSON streams.
 */
export function sendArrowStream(_request: FastifyRequest, reply: FastifyReply, version: number, etag: string, found: ArrowListStream, startedMs: number, sendTimeoutMs: number): void {
  void versionHeaders(reply, version)
    .header('content-type', arrowContentType)
    .header('etag', representationTag(etag, false))
    .header('cache-status', `deltameta; fwd=miss; detail=${found.level}`)
    .header('server-timing', `${found.level};dur=${elapsedMs(startedMs)};desc="${found.source}, streamed"`);
  // Its length known before the first byte (the segments): said, so the client reads one body, not chunks
  // (Python's http.client decodes chunked bodies a chunk at a time: ~0.2 s per 82 MB); a stream cut short then fails visibly.
  if (found.bytes !== undefined) void reply.header('content-length', String(found.bytes));
  const bounded = boundSendTime(sendTimeoutMs, () => reply.raw.destroy());
  pipeline(found.stream, bounded, () => undefined);
  void reply.send(bounded);
}
