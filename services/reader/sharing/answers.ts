/**
 * How a Delta Sharing `query` or `changes` answer reaches the client.
 *
 * - Small answers (at most DELTAMETA_READER_SHARING_KEEP_MAX_FILES files, judged before
 *   reading: the page size asked, the table's file count at its watermark,
 *   or the actions of the range; or, for a big table's query narrowed by
 *   `limitHint` or `jsonPredicateHints`, found small while it is made: at
 *   most 1 KiB per file of that) go through the reader's cache levels like
 *   /v1 answers (TableResponder: ETag, L1 ▶ L2 ▶ produced in one snapshot,
 *   Cache-Status and Server-Timing saying which). Their file URLs expire at
 *   the end of a time bucket (`bucketedExpiry`), which is part of the cache
 *   key: within a bucket every request gets the same bytes, and no answer is
 *   served from a cache after its bucket — a URL always has at least
 *   DELTAMETA_READER_SHARING_URL_TTL_MS to live when handed out.
 * - Bigger ones are streamed from a snapshot on the reader's stream pool (a
 *   few connections of their own, so slow clients cannot take the ones
 *   cached answers are made from), gzipped for a client that accepts it,
 *   and cut off when not sent within DELTAMETA_READER_STREAM_SEND_TIMEOUT_MS.
 *   A narrowed answer found too big is made again, streamed; the reader
 *   remembers which were (OversizedAnswers) and streams them at once after.
 */
import { Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Pool, PoolClient } from '../../../shared/db/index.ts';
import { acceptsGzip } from '../accept-encoding.ts';
import { encodeLines } from '../response-body.ts';
import { inSnapshot } from '../snapshot-scope.ts';
import type { TableResponder } from '../table-responder.ts';
import type { ResolvedVersion } from '../version-resolution.ts';
import { boundSendTime, endingWith, inStreamSnapshot } from '../whole-list-stream.ts';
import { SharingError } from './errors.ts';
import { responseCapabilities, type ResponseFormat } from './responses.ts';
import type { SharingTableContext } from './table-context.ts';

/** Bytes (before compression) a line of a kept answer is reckoned at: ~0.7 kB with its URL and stats, rounded up. */
const keptLineBytes = 1024;

/** A narrowed answer found bigger than it may be kept while it was made: it is streamed instead. */
class TooBigToKeep extends Error {}

/**
 * The narrowed answers (table, version, request) found too big to keep:
 * streamed at once the next time instead of made twice. Bounded (an LRU of
 * 1,024 entries); a new version is tried again.
 */
export class OversizedAnswers {
  private readonly seen = new LRUCache<string, true>({ max: 1024 });
  has(key: string): boolean {
    return this.seen.has(key);
  }
  add(key: string): void {
    this.seen.set(key, true);
  }
}

const ndjson = 'application/x-ndjson; charset=utf-8';

/**
 * The expiry of the URLs of an answer made at `nowMs`: `nowMs + ttlMs`
 * rounded up to a bucket of a quarter of the TTL (at least a second), so a
 * URL lives between ttl and 1.25 × ttl.
 */
export function bucketedExpiry(nowMs: number, ttlMs: number): number {
  const bucket = Math.max(1000, Math.floor(ttlMs / 4));
  return Math.ceil((nowMs + ttlMs) / bucket) * bucket;
}

// serves: table_state primary key
const watermarkFilesSql = 'SELECT num_files FROM deltameta.table_state WHERE table_id = $1';
// serves: delta_commit primary key (table_id, version)
const rangeActionsSql = 'SELECT coalesce(sum(num_adds + num_removes), 0)::bigint AS actions FROM deltameta.delta_commit WHERE table_id = $1 AND version BETWEEN $2 AND $3';

/** The table's live files at its watermark; undefined when it has no materialized state (then the answer is streamed). */
export async function watermarkFileCount(pool: Pool, tableId: number): Promise<number | undefined> {
  const { rows } = await pool.query<{ num_files: string }>(watermarkFilesSql, [tableId]);
  return rows[0] === undefined ? undefined : Number(rows[0].num_files);
}

/** Adds and removes in [from, to] (cdc files are at most as many as the rows they replace: not counted). */
export async function rangeActionCount(pool: Pool, tableId: number, from: number, to: number): Promise<number> {
  const { rows } = await pool.query<{ actions: string }>(rangeActionsSql, [tableId, from, to]);
  return Number(rows[0]?.actions ?? 0);
}

/** An answer's lines, read inside the snapshot `build` is given. */
export interface BuiltAnswer {
  readonly format: ResponseFormat;
  readonly level: 'l3' | 'l4';
  /** every line, each ending in '\n', the endStreamAction (if any) last */
  readonly lines: AsyncGenerator<string>;
}

export interface SharingAnswer {
  /** the table, and the version the Delta-Table-Version header says */
  readonly resolved: ResolvedVersion;
  /** what shapes the bytes besides the table and version; undefined: stream it */
  readonly cacheKey: unknown[] | undefined;
  /**
   * Set for a big table's answer that limitHint or predicate hints may make
   * small: kept only if it is (sharingKeepMaxFiles KiB). The text names the
   * request without what changes from one answer to the next (the URLs'
   * expiry): a request found too big is remembered under it.
   */
  readonly narrowed?: string;
  readonly endStream: boolean;
  readonly build: (client: PoolClient) => Promise<BuiltAnswer>;
}

/** The lines until they pass `maxChars` in all (then TooBigToKeep: the answer is streamed instead). */
async function* atMostChars(lines: AsyncGenerator<string>, maxChars: number): AsyncGenerator<string> {
  let chars = 0;
  for await (const line of lines) {
    chars += line.length;
    if (chars > maxChars) throw new TooBigToKeep();
    yield line;
  }
}

async function* withoutNewlines(lines: AsyncGenerator<string>): AsyncGenerator<string> {
  for await (const line of lines) yield line.endsWith('\n') ? line.slice(0, -1) : line;
}

/** Lines batched into chunks of ~256 KiB; the snapshot ends when they end or the stream is destroyed. */
function linesStream(lines: AsyncGenerator<string>, finish: () => Promise<void>): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      let pending = '';
      for await (const line of lines) {
        pending += line;
        if (pending.length >= 256 * 1024) {
          yield Buffer.from(pending, 'utf8');
          pending = '';
        }
      }
      if (pending !== '') yield Buffer.from(pending, 'utf8');
    } finally {
      await finish();
    }
  }
  return endingWith(Readable.from(chunks()), finish);
}

export type SendContext = SharingTableContext & { readonly responder?: TableResponder; readonly oversized?: OversizedAnswers };

export async function sendAnswer(request: FastifyRequest, reply: FastifyReply, context: SendContext, answer: SharingAnswer): Promise<FastifyReply> {
  if (answer.cacheKey !== undefined && context.responder !== undefined) {
    // The page tokens in an answer are signed with this reader's key: readers with another key must not share it through L2.
    const canonical = JSON.stringify(['delta-sharing', context.pageTokens.keyId, ...answer.cacheKey]);
    const oversizedKey = `${answer.resolved.table.tableId} ${answer.resolved.version} ${answer.narrowed ?? ''}`;
    if (answer.narrowed === undefined || context.oversized?.has(oversizedKey) !== true) {
      const kept = await keptAnswer(request, reply, context, context.responder, answer, canonical);
      if (kept) return reply;
      context.oversized?.add(oversizedKey);
    }
  }
  return streamAnswer(request, reply, context, answer);
}

/** The answer through the cache levels: true once sent; false when it is narrowed and found too big to keep (nothing sent). */
async function keptAnswer(request: FastifyRequest, reply: FastifyReply, context: SendContext, responder: TableResponder, answer: SharingAnswer, canonical: string): Promise<boolean> {
  const { config } = context;
  const bound = {
    maxBytes: config.streamAboveBytes,
    refusal: () => new SharingError('INTERNAL_ERROR', `the answer is larger than DELTAMETA_READER_STREAM_ABOVE_BYTES (${config.streamAboveBytes}) though its file count was within ${config.sharingKeepMaxFiles}`),
  };
  // (a FastifyReply is thenable: awaited, it settles when the reply is sent)
  return responder.answer(request, reply, answer.resolved, { route: 'delta-sharing', canonical }, () => inSnapshot(context.pool, async (client) => {
    const built = await answer.build(client);
    const lines = answer.narrowed !== undefined ? atMostChars(built.lines, config.sharingKeepMaxFiles * keptLineBytes) : built.lines;
    const encoded = await encodeLines(withoutNewlines(lines), config.compressMinBytes, bound);
    const headers = { 'delta-sharing-capabilities': responseCapabilities(built.format, answer.endStream) };
    return { response: { version: answer.resolved.version, contentType: ndjson, ...encoded, headers }, level: built.level, source: 'delta sharing' };
  })).then(() => true, (error: unknown) => {
    if (error instanceof TooBigToKeep) return false;
    throw error;
  });
}

/** The answer streamed from a snapshot on the stream pool, gzipped when accepted, its send time bounded. */
async function streamAnswer(request: FastifyRequest, reply: FastifyReply, context: SendContext, answer: SharingAnswer): Promise<FastifyReply> {
  const { config } = context;
  const startedMs = performance.now();
  const { stream, format, level } = await inStreamSnapshot(context.streamPool, async ({ client, finish }) => {
    const built = await answer.build(client);
    return { stream: linesStream(built.lines, finish), format: built.format, level: built.level };
  });
  context.metrics?.cacheRequestsTotal.inc({ level, result: 'hit' });
  void reply.header('content-type', ndjson)
    .header('delta-table-version', String(answer.resolved.version))
    .header('delta-sharing-capabilities', responseCapabilities(format, answer.endStream))
    .header('cache-status', `deltameta; fwd=miss; detail=${level}`)
    .header('server-timing', `${level};dur=${(performance.now() - startedMs).toFixed(3)};desc="delta sharing, streamed"`);
  let body: Readable = stream;
  if (acceptsGzip(request.headers['accept-encoding'])) {
    const gzip = createGzip({ level: 1 });
    pipeline(stream, gzip, () => undefined);
    body = gzip;
    void reply.header('content-encoding', 'gzip');
  }
  // The last stage before the socket: destroying it destroys the source, which ends the snapshot.
  const bounded = boundSendTime(config.streamSendTimeoutMs, () => reply.raw.destroy());
  pipeline(body, bounded, () => undefined);
  return reply.send(bounded);
}
