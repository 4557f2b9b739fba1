/**
 * How every table route answers a resolved version: record the table as
 * hot, 304 when the client has the ETag, else the body through the cache
 * levels (L1 ▶ L2 ▶ `produce` for L3/L4, response-cache.ts) — or, for a
 * whole file list too big to keep, straight from its snapshot.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import { clientHasContent, type TableEtags } from './conditional-request.ts';
import type { HotTableRecorder } from './hot-tables.ts';
import type { Readable } from 'node:stream';
import type { CachedResponse, Produced, ResponseCache } from './response-cache.ts';
import { sendCached, sendNotModified, sendStreamed } from './response-sending.ts';
import type { ResolvedVersion } from './version-resolution.ts';
import { streamWholeListIfLarge } from './whole-list-stream.ts';

export interface TableAnswerKey {
  /** the route's name in the ETag ('summary', 'files', 'commits') */
  readonly route: string;
  /** the query as it affects content, version excluded */
  readonly canonical: string;
  /** a plain-JSON L2 key shared with the refresher (summaries) */
  readonly plainJsonL2Key?: string;
}

export class TableResponder {
  constructor(private readonly deps: {
    /** the streams' own pool (Reader.streamPool): slow stream clients can exhaust only it */
    readonly streamPool: Pool;
    readonly cache: ResponseCache;
    readonly etags: TableEtags;
    readonly hotTables: HotTableRecorder;
    readonly metrics: ReaderMetrics;
    readonly config: ReaderConfig;
  }) {}

  async answer(request: FastifyRequest, reply: FastifyReply, resolved: ResolvedVersion, key: TableAnswerKey, produce: () => Promise<Produced>): Promise<FastifyReply> {
    const startedMs = performance.now();
    this.deps.hotTables.record(resolved.table.name);
    const etag = this.deps.etags.of(resolved.table, resolved.version, key.route, key.canonical);
    if (clientHasContent(request.headers['if-none-match'], etag)) return sendNotModified(reply, resolved.version, etag);
    const found = await this.deps.cache.get({ id: etag, ...(key.plainJsonL2Key !== undefined ? { plainJsonL2Key: key.plainJsonL2Key } : {}) }, produce);
    return sendCached(request, reply, resolved.version, etag, found, startedMs);
  }

  /** L1 holds the answer under this ETag now. */
  holds(etag: string): boolean {
    return this.deps.cache.holds(etag);
  }

  /** A streamed answer kept in L1 as it goes when it fits (ResponseCache.keepStreamed; bound: l1KeepStreamedMaxBytes). */
  keepStreamed(etag: string, stream: Readable, bytes: number, response: Omit<CachedResponse, 'body'>): Readable {
    return this.deps.cache.keepStreamed(etag, stream, bytes, this.deps.config.l1KeepStreamedMaxBytes, response);
  }

  /**
   * A whole list bigger than the reader should hold (streamAboveBytes):
   * straight to the client (whole-list-stream.ts), not through L1/L2.
   * False when the list is not such a list (then answer() serves it). A
   * boolean, not the reply: a FastifyReply is thenable, so an async function
   * returning it would resolve to the reply's own settlement, not to it.
   */
  async streamWholeList(request: FastifyRequest, reply: FastifyReply, resolved: ResolvedVersion, canonical: string): Promise<boolean> {
    const { config } = this.deps;
    const etag = this.deps.etags.of(resolved.table, resolved.version, 'files', canonical);
    // answer() sends the 304; a list in L1 is not one to stream (streamed lists are never kept): no round trip for it.
    if (clientHasContent(request.headers['if-none-match'], etag) || this.deps.cache.holds(etag)) return false;
    const startedMs = performance.now();
    const found = await streamWholeListIfLarge(this.deps.streamPool, resolved.table, resolved.version, {
      aboveBytes: config.streamAboveBytes, l3Enabled: config.l3Enabled, filePagesEnabled: config.filePagesEnabled, maxTailActions: config.maxTailActions,
    });
    if (!found) return false;
    this.deps.hotTables.record(resolved.table.name);
    this.deps.metrics.cacheRequestsTotal.inc({ level: found.level, result: 'hit' });
    sendStreamed(request, reply, resolved.version, etag, found, startedMs, config.streamSendTimeoutMs);
    return true;
  }
}
