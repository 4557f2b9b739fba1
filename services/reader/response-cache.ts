/**
 * L1 and L2 of the reader, with misses coalesced. An entry is the response
 * body for (table, version, canonical query) as kept (gzip when large) plus
 * what the response needs besides (content type, version, paging token).
 * Such content never changes, so entries are never invalidated: L1 evicts
 * the least recently used to stay within its byte budget, L2 entries carry
 * a TTL that only bounds Redis memory.
 *
 * L2 keeps large bodies as pages of `l2PageBytes` (one 44 MB GET through
 * ioredis takes ~300 ms; pages come back pipelined), written before the
 * entry's head key so a reader that finds the head finds its pages.
 * Summaries live under the refresher's key (redisKeys().summary) as plain JSON, so
 * the summaries it warms after a refresh are L2 hits here.
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { redisKeys } from '../../shared/contracts/index.ts';
import { LRUCache } from 'lru-cache';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import { L2WriteBudget, chargedBytes } from './l2-write-budget.ts';
import type { BodyEncoding } from './response-body.ts';
import type { ReaderConfig } from '../../shared/config/index.ts';

export type CacheLevel = 'l1' | 'l2' | 'l3' | 'l4';

export interface CachedResponse {
  readonly version: number;
  readonly contentType: string;
  readonly encoding: BodyEncoding;
  readonly body: Buffer;
  /** extra response headers (Next-Page-Token) */
  readonly headers: Readonly<Record<string, string>>;
}

export interface CacheKey {
  /** hex digest of (table, version, route, canonical query) */
  readonly id: string;
  /** a plain-JSON L2 key shared with other writers (the refresher's summaries) */
  readonly plainJsonL2Key?: string;
}

export interface CacheAnswer {
  readonly response: CachedResponse;
  readonly level: CacheLevel;
  /** this request waited for another request's identical miss */
  readonly collapsed: boolean;
  /** what answered within the level, when it is worth naming (Server-Timing's desc): "file pages" */
  readonly source?: string;
}

export interface Produced {
  readonly response: CachedResponse;
  readonly level: 'l3' | 'l4';
  readonly source?: string;
}

/** The cache levels' settings, as the reader's configuration names and documents them. */
export type ResponseCacheOptions = Pick<ReaderConfig, 'l1Enabled' | 'l1MaxBytes' | 'l2Enabled' | 'l2TtlSeconds' | 'l2PageBytes' | 'l2MaxEntryBytes' | 'l2WriteBudgetBytes'>;

interface L2Meta {
  readonly version: number;
  readonly contentType: string;
  readonly encoding: BodyEncoding;
  readonly headers: Record<string, string>;
  readonly pages: number;
  readonly bytes: number;
}

/** Per-entry bookkeeping counted against the budget besides the body (key, object, metadata). */
const entryOverheadBytes = 256;

export class ResponseCache {
  private readonly l1: LRUCache<string, CachedResponse> | undefined;
  // A Map, not an LRU: misses being produced now, each removed when it settles; evicting one would only start a second producer.
  private readonly inFlight = new Map<string, Promise<{ response: CachedResponse; level: CacheLevel; source?: string }>>();
  private readonly l2Budget: L2WriteBudget;
  /** ids whose streamed body is being kept now (keepStreamed): one keeper each */
  private readonly keeping = new Set<string>();

  constructor(
    private readonly deps: { redis: Redis; prefix: string; metrics: ReaderMetrics },
    private readonly options: ResponseCacheOptions,
  ) {
    if (options.l1Enabled) {
      this.l1 = new LRUCache<string, CachedResponse>({
        maxSize: options.l1MaxBytes,
        maxEntrySize: options.l1MaxBytes,
        sizeCalculation: (entry, key) => entry.body.length + key.length + entryOverheadBytes,
        dispose: (_entry, _key, reason) => {
          if (reason === 'evict') deps.metrics.cacheEvictionsTotal.inc({ level: 'l1' });
        },
      });
    }
    deps.metrics.cacheBytes.set({ level: 'l1' }, 0);
    // Pages outlive their head by a minute (writeL2): a write may be in Redis that long.
    this.l2Budget = new L2WriteBudget({ budgetBytes: options.l2WriteBudgetBytes, lifetimeMs: (options.l2TtlSeconds + 60) * 1000 });
    deps.metrics.cacheBytes.set({ level: 'l2' }, 0);
  }

  /** Bytes (as Redis may allocate them) this reader has written to L2 that may still be there, always within l2WriteBudgetBytes. */
  get l2Bytes(): number {
    return this.l2Budget.bytes;
  }

  /** Bytes L1 holds now (bodies + bookkeeping), always within l1MaxBytes. */
  get l1Bytes(): number {
    return this.l1?.calculatedSize ?? 0;
  }

  get l1Entries(): number {
    return this.l1?.size ?? 0;
  }

  /** L1 holds this key (without touching its recency or the metrics). */
  holds(id: string): boolean {
    return this.l1?.has(id) ?? false;
  }

  /** The cached response, or `produce`'s (L3/L4) stored on the way back; one producer per key at a time. */
  async get(key: CacheKey, produce: () => Promise<Produced>): Promise<CacheAnswer> {
    const metrics = this.deps.metrics.cacheRequestsTotal;
    if (this.l1) {
      const hit = this.l1.get(key.id);
      metrics.inc({ level: 'l1', result: hit ? 'hit' : 'miss' });
      if (hit) return { response: hit, level: 'l1', collapsed: false };
    }
    const pending = this.inFlight.get(key.id);
    if (pending) return { ...(await pending), collapsed: true };
    const work = this.fill(key, produce).finally(() => this.inFlight.delete(key.id));
    this.inFlight.set(key.id, work);
    return { ...(await work), collapsed: false };
  }

  private async fill(key: CacheKey, produce: () => Promise<Produced>): Promise<{ response: CachedResponse; level: CacheLevel; source?: string }> {
    if (this.options.l2Enabled) {
      const hit = await this.readL2(key).catch(() => undefined);
      this.deps.metrics.cacheRequestsTotal.inc({ level: 'l2', result: hit ? 'hit' : 'miss' });
      if (hit) {
        this.storeL1(key, hit);
        return { response: hit, level: 'l2' };
      }
    }
    const produced = await produce();
    this.storeL1(key, produced.response);
    if (this.options.l2Enabled) await this.writeL2(key, produced.response).catch(() => undefined);
    return produced;
  }

  /**
   * `stream` passed through as it is, its bytes kept in L1 under `id` when
   * it ends whole at exactly `bytes` (a streamed whole list small enough to
   * hold: the next request is an L1 hit). Not kept (the stream returned as
   * it is) with L1 off, over `maxBytes` or the L1 budget, or while another
   * request keeps the same id. A keeper holds at most `bytes` until it ends.
   */
  keepStreamed(id: string, stream: Readable, bytes: number, maxBytes: number, response: Omit<CachedResponse, 'body'>): Readable {
    if (!this.l1 || bytes > maxBytes || bytes + id.length + entryOverheadBytes > this.options.l1MaxBytes || this.keeping.has(id)) return stream;
    this.keeping.add(id);
    const chunks: Buffer[] = [];
    let received = 0;
    const keeper = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received <= bytes) chunks.push(chunk);
        done(null, chunk);
      },
      flush: (done) => {
        if (received === bytes) this.storeL1({ id }, { ...response, body: Buffer.concat(chunks, bytes) });
        chunks.length = 0;
        done();
      },
    });
    keeper.once('close', () => this.keeping.delete(id));
    // pipeline: the keeper destroyed (a client gone) destroys the source, which ends its snapshot.
    pipeline(stream, keeper, () => undefined);
    return keeper;
  }

  private storeL1(key: CacheKey, response: CachedResponse): void {
    if (!this.l1) return;
    this.l1.set(key.id, response);
    this.deps.metrics.cacheBytes.set({ level: 'l1' }, this.l1.calculatedSize);
  }

  /** Charges a write against the L2 budget; false: it does not fit, and the answer is not kept in L2. */
  private chargeL2(bytes: number): boolean {
    const charged = this.l2Budget.tryCharge(bytes);
    if (!charged) this.deps.metrics.cacheEvictionsTotal.inc({ level: 'l2' });
    this.deps.metrics.cacheBytes.set({ level: 'l2' }, this.l2Budget.bytes);
    return charged;
  }

  private l2Key(key: CacheKey): string {
    return redisKeys(this.deps.prefix).readerResponse(key.id);
  }

  private async readL2(key: CacheKey): Promise<CachedResponse | undefined> {
    const redis = this.deps.redis;
    if (key.plainJsonL2Key !== undefined) {
      const body = await redis.getBuffer(key.plainJsonL2Key);
      if (!body) return undefined;
      const { version } = JSON.parse(body.toString('utf8')) as { version: number };
      return { version, contentType: 'application/json', encoding: 'identity', body, headers: {} };
    }
    const head = await redis.getBuffer(this.l2Key(key));
    if (!head || head.length < 4) return undefined;
    const metaLength = head.readUInt32BE(0);
    const meta = JSON.parse(head.subarray(4, 4 + metaLength).toString('utf8')) as L2Meta;
    let body: Buffer;
    if (meta.pages === 0) {
      body = head.subarray(4 + metaLength);
    } else {
      const pipeline = redis.pipeline();
      for (let page = 0; page < meta.pages; page++) pipeline.getBuffer(`${this.l2Key(key)}:p${page}`);
      const results = (await pipeline.exec()) ?? [];
      const pages: Buffer[] = [];
      for (const [error, value] of results) {
        if (error || !Buffer.isBuffer(value)) return undefined; // a page expired or was evicted: a miss
        pages.push(value);
      }
      body = Buffer.concat(pages, meta.bytes);
    }
    return { version: meta.version, contentType: meta.contentType, encoding: meta.encoding, body, headers: meta.headers };
  }

  private async writeL2(key: CacheKey, response: CachedResponse): Promise<void> {
    const redis = this.deps.redis;
    const ttl = this.options.l2TtlSeconds;
    if (response.body.length > this.options.l2MaxEntryBytes) return;
    if (key.plainJsonL2Key !== undefined) {
      if (response.encoding === 'identity' && this.chargeL2(chargedBytes(Buffer.byteLength(key.plainJsonL2Key), response.body.length))) {
        await redis.set(key.plainJsonL2Key, response.body, 'EX', ttl);
      }
      return;
    }
    const pageBytes = this.options.l2PageBytes;
    const pages = response.body.length > pageBytes ? Math.ceil(response.body.length / pageBytes) : 0;
    const meta: L2Meta = {
      version: response.version, contentType: response.contentType, encoding: response.encoding, headers: { ...response.headers }, pages, bytes: response.body.length,
    };
    const metaBuffer = Buffer.from(JSON.stringify(meta), 'utf8');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(metaBuffer.length, 0);
    const headKeyBytes = Buffer.byteLength(this.l2Key(key));
    let charge = chargedBytes(headKeyBytes, prefix.length + metaBuffer.length + (pages > 0 ? 0 : response.body.length));
    for (let page = 0; page < pages; page++) charge += chargedBytes(headKeyBytes + `:p${page}`.length, Math.min(pageBytes, response.body.length - page * pageBytes));
    if (!this.chargeL2(charge)) return;
    if (pages > 0) {
      const pipeline = redis.pipeline();
      // Pages outlive their head by a minute: whoever finds the head finds them.
      for (let page = 0; page < pages; page++) {
        pipeline.set(`${this.l2Key(key)}:p${page}`, response.body.subarray(page * pageBytes, (page + 1) * pageBytes), 'EX', ttl + 60);
      }
      await pipeline.exec();
      await redis.set(this.l2Key(key), Buffer.concat([prefix, metaBuffer]), 'EX', ttl);
    } else {
      await redis.set(this.l2Key(key), Buffer.concat([prefix, metaBuffer, response.body]), 'EX', ttl);
    }
  }
}
