/**
 * The /v1 HTTP API (DESIGN.md section 4) on Fastify. Each table request:
 * authorize, resolve the version (explicit, by timestamp, latest,
 * read-your-writes or strong), answer 304 when the client has that ETag,
 * then take the body from L1 → L2 → L3/L4 (response-cache.ts), and send it
 * as kept (gzip) or decompressed, with Delta-Table-Version, ETag,
 * Cache-Status and Server-Timing.
 */
import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { createGunzip, createGzip, gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { ReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { BadRequestError, NotFoundError } from '../../shared/errors/index.ts';
import { requireTable, resolveVersion } from '../../shared/log-store/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import { redisKeys } from '../../shared/contracts/index.ts';
import type { AccessControl, TokenGrant } from './auth.ts';
import { commitLines } from './commits-source.ts';
import { UnauthorizedError, problemFor } from './errors.ts';
import { canonicalFilters, hasFilters, parseFileFilters } from './file-filters.ts';
import { fileLines, type FileKeyPosition, type FileLine } from './files-source.ts';
import { pagesListBody } from './pages-source.ts';
import { streamWholeListIfLarge } from './whole-list-stream.ts';
import type { HeadTracker } from './head-tracker.ts';
import { booleanParam, decodeToken, encodeToken, integerParam, single, timestampParam, type QueryParams } from './request-params.ts';
import { acceptsGzip, encodeJson, encodeLines, type EncodedBody } from './response-body.ts';
import type { CacheAnswer, Produced, ResponseCache } from './response-cache.ts';
import { inSnapshot, planInSnapshot, type TableRef } from './snapshot-scope.ts';
import { summaryAt } from './summary-source.ts';

export interface ReaderDeps {
  readonly pool: Pool;
  readonly redis: Redis;
  readonly prefix: string;
  readonly logger: Logger;
  readonly metrics: ReaderMetrics;
  readonly cache: ResponseCache;
  readonly heads: HeadTracker;
  readonly access: AccessControl;
  readonly config: ReaderConfig;
}

const ndjson = 'application/x-ndjson';
const maxPageSize = 10_000_000;
/** Table rows (id, log start) change only on import; versions are checked against heads, which are fresh. */
const tableRowTtlMs = 5000;

interface ResolvedVersion {
  readonly table: TableRef;
  readonly version: number;
}

interface PageToken {
  readonly v: number;
  readonly p: string;
  readonly d: string;
}

function isPageToken(value: unknown): value is PageToken {
  const token = value as PageToken;
  return typeof value === 'object' && value !== null && Number.isSafeInteger(token.v) && typeof token.p === 'string' && typeof token.d === 'string';
}

function isTablesToken(value: unknown): value is { after: string } {
  return typeof value === 'object' && value !== null && typeof (value as { after: unknown }).after === 'string';
}

export function buildReaderApp(deps: ReaderDeps): FastifyInstance {
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 256 } });
  const grants = new WeakMap<FastifyRequest, TokenGrant | undefined>();
  const tableRows = new Map<string, { row: TableRef; readAtMs: number }>();
  const hotRecordedAtMs = new Map<string, number>();

  app.addHook('onRequest', (request, _reply, done) => {
    try {
      if (request.url.startsWith('/v1/')) grants.set(request, deps.access.authenticate(request.headers.authorization));
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.httpRequestDurationSeconds.observe(
      { route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((error, _request, reply) => {
    const problem = problemFor(error);
    if (problem.status >= 500) deps.logger.error({ err: error }, 'request failed');
    if (error instanceof UnauthorizedError) void reply.header('www-authenticate', 'Bearer realm="deltameta"');
    return reply.code(problem.status).header('content-type', 'application/problem+json').send(JSON.stringify(problem));
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = { type: 'https://deltameta.dev/problems/not-found', title: 'Not Found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` };
    return reply.code(404).header('content-type', 'application/problem+json').send(JSON.stringify(problem));
  });

  function recordHot(table: string): void {
    const now = Date.now();
    if (now - (hotRecordedAtMs.get(table) ?? 0) < deps.config.hotRecordIntervalMs) return;
    hotRecordedAtMs.set(table, now);
    // Best effort: the refresher warms hot tables; a lost record only costs a warm-up.
    deps.redis.zadd(redisKeys(deps.prefix).hotTables, now, table).catch(() => undefined);
  }

  async function tableRow(name: string, fresh: boolean): Promise<TableRef> {
    const cached = tableRows.get(name);
    if (!fresh && cached && Date.now() - cached.readAtMs < tableRowTtlMs) return cached.row;
    const row = await requireTable(deps.pool, name);
    const ref: TableRef = { tableId: row.tableId, name: row.name, logStartVersion: row.logStartVersion };
    tableRows.set(name, { row: ref, readAtMs: Date.now() });
    deps.heads.observe(name, row.headVersion);
    return ref;
  }

  /** The version a request is about, checked (404 unknown, 410 past retention, 400 malformed). */
  async function resolve(request: FastifyRequest, name: string, query: QueryParams, explicitVersion?: number): Promise<ResolvedVersion> {
    const version = explicitVersion ?? integerParam(query, 'version', 0, Number.MAX_SAFE_INTEGER);
    const timestampMs = timestampParam(query, 'timestamp');
    if (version !== undefined && timestampMs !== undefined) throw new BadRequestError('give version or timestamp, not both');
    const consistency = single(query, 'consistency');
    if (consistency !== undefined && consistency !== 'strong' && consistency !== 'latest') throw new BadRequestError(`consistency must be strong or latest, got ${JSON.stringify(consistency)}`);
    const headerMin = request.headers['delta-min-version'];
    const minRaw = integerParam(query, 'minVersion', 0, Number.MAX_SAFE_INTEGER)
      ?? (typeof headerMin === 'string' ? integerParam({ 'Delta-Min-Version': headerMin }, 'Delta-Min-Version', 0, Number.MAX_SAFE_INTEGER) : undefined);

    if (timestampMs !== undefined) {
      const row = await requireTable(deps.pool, name);
      return { table: await tableRow(name, false), version: await resolveVersion(deps.pool, row, { timestampMs }) };
    }
    if (version !== undefined) {
      const table = await tableRow(name, false);
      // Known to exist (at or below a head seen) and retained: no round trip.
      if (version >= table.logStartVersion && version <= (await deps.heads.latest(name))) return { table, version };
      const row = await requireTable(deps.pool, name);
      return { table: await tableRow(name, true), version: await resolveVersion(deps.pool, row, { version }) };
    }
    const table = await tableRow(name, false);
    let head: number;
    if (consistency === 'strong') {
      head = await deps.heads.strong(name);
    } else if (minRaw !== undefined) {
      head = await deps.heads.atLeast(name, minRaw, deps.config.minVersionWaitMs);
      if (head < minRaw) throw new NotFoundError(`${name}: version ${minRaw} does not exist (latest is ${head})`);
    } else {
      head = await deps.heads.latest(name);
    }
    if (head < 0) throw new NotFoundError(`${name}: the table has no committed version`);
    if (head < table.logStartVersion) return { table: await tableRow(name, true), version: head };
    return { table, version: head };
  }

  // A hot summary asks for the same ETag thousands of times a second: remembered, not rehashed.
  const etags = new Map<string, string>();
  function etagOf(name: string, version: number, route: string, canonical: string): string {
    const key = `${name}\u0000${version}\u0000${route}\u0000${canonical}`;
    let etag = etags.get(key);
    if (etag === undefined) {
      etag = createHash('sha256').update(key).digest('base64url').slice(0, 32);
      if (etags.size >= 10_000) etags.clear();
      etags.set(key, etag);
    }
    return etag;
  }

  function matchesIfNoneMatch(request: FastifyRequest, etag: string): boolean {
    const header = request.headers['if-none-match'];
    if (typeof header !== 'string') return false;
    if (header.trim() === '*') return true;
    return header.split(',').some((tag) => {
      const value = tag.trim().replace(/^W\//, '');
      return value === `"${etag}"` || value === `"${etag}-gzip"`;
    });
  }

  function cacheStatus(answer: CacheAnswer): string {
    if (answer.level === 'l1' || answer.level === 'l2') return `deltameta; hit; detail=${answer.level}`;
    return `deltameta; fwd=miss; stored${answer.collapsed ? '; collapsed' : ''}; detail=${answer.level}`;
  }

  /**
   * Shared by every table route: 304 or the body through the cache levels.
   * `canonical` is the query as it affects content, `version` excluded.
   */
  async function answer(
    request: FastifyRequest, reply: FastifyReply, resolved: ResolvedVersion, route: string, canonical: string,
    produce: () => Promise<Produced>, plainJsonL2Key?: string,
  ): Promise<FastifyReply> {
    const startedMs = performance.now();
    recordHot(resolved.table.name);
    const etag = etagOf(resolved.table.name, resolved.version, route, canonical);
    void reply.header('delta-table-version', String(resolved.version)).header('vary', 'Accept-Encoding');
    if (matchesIfNoneMatch(request, etag)) {
      return reply.code(304).header('etag', `"${etag}"`).header('cache-status', 'deltameta; hit; detail=etag').send();
    }
    const found = await deps.cache.get({ id: etag, ...(plainJsonL2Key !== undefined ? { plainJsonL2Key } : {}) }, produce);
    const response = found.response;
    const gzip = response.encoding === 'gzip' && acceptsGzip(request.headers['accept-encoding']);
    void reply
      .header('content-type', response.contentType)
      .header('etag', gzip ? `"${etag}-gzip"` : `"${etag}"`)
      .header('cache-status', cacheStatus(found))
      .header('server-timing', `${found.level};dur=${(performance.now() - startedMs).toFixed(3)};desc="${found.source ?? found.level}"`);
    for (const [header, value] of Object.entries(response.headers)) void reply.header(header, value);
    if (response.encoding === 'identity') return reply.send(response.body);
    if (gzip) return reply.header('content-encoding', 'gzip').send(response.body);
    return reply.send(Readable.from([response.body]).pipe(createGunzip()));
  }

  /**
   * A whole list bigger than the reader should hold (streamAboveBytes):
   * straight to the client (whole-list-stream.ts), not through L1/L2.
   * False when the list is not such a list (the cache levels answer). A
   * boolean, not the reply: a FastifyReply is thenable, so an async function
   * returning it would resolve to the reply's own settlement, not to it.
   */
  async function streamWholeList(request: FastifyRequest, reply: FastifyReply, resolved: ResolvedVersion, canonical: string): Promise<boolean> {
    const etag = etagOf(resolved.table.name, resolved.version, 'files', canonical);
    // answer() sends the 304; a list in L1 is not one to stream (streamed lists are never kept): no round trip for it.
    if (matchesIfNoneMatch(request, etag) || deps.cache.holds(etag)) return false;
    const startedMs = performance.now();
    const found = await streamWholeListIfLarge(deps.pool, resolved.table, resolved.version, {
      aboveBytes: deps.config.streamAboveBytes, l3Enabled: deps.config.l3Enabled, filePagesEnabled: deps.config.filePagesEnabled,
    });
    if (!found) return false;
    recordHot(resolved.table.name);
    const level = found.level;
    deps.metrics.cacheRequestsTotal.inc({ level, result: 'hit' });
    const gzip = acceptsGzip(request.headers['accept-encoding']);
    void reply
      .header('delta-table-version', String(resolved.version)).header('vary', 'Accept-Encoding')
      .header('content-type', ndjson)
      .header('etag', gzip ? `"${etag}-gzip"` : `"${etag}"`)
      .header('cache-status', `deltameta; fwd=miss; detail=${level}`)
      .header('server-timing', `${level};dur=${(performance.now() - startedMs).toFixed(3)};desc="${found.source}, streamed"`);
    // pipeline, not pipe: a client that goes away destroys the last stream, and with it the source (which ends its snapshot).
    const recode = (transform: NodeJS.ReadWriteStream & Readable): Readable => {
      pipeline(found.stream, transform, () => undefined);
      return transform;
    };
    if (gzip) {
      const body = found.encoding === 'gzip' ? found.stream : recode(createGzip({ level: 1 }));
      void reply.header('content-encoding', 'gzip').send(body);
    } else {
      void reply.send(found.encoding === 'gzip' ? recode(createGunzip()) : found.stream);
    }
    return true;
  }

  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name', async (request, reply) => {
    const { name } = request.params;
    deps.access.authorize(grants.get(request), name);
    const resolved = await resolve(request, name, request.query);
    return answer(request, reply, resolved, 'summary', '', async () => {
      const { summary, level } = await inSnapshot(deps.pool, async (client) => {
        const plan = await planInSnapshot(client, resolved.table, resolved.version, deps.config.l3Enabled);
        return { summary: await summaryAt(client, resolved.table, plan, resolved.version), level: plan.level };
      });
      deps.metrics.cacheRequestsTotal.inc({ level, result: 'hit' });
      const encoded = await encodeJson(summary, deps.config.compressMinBytes);
      return { response: { version: resolved.version, contentType: 'application/json', ...encoded, headers: {} }, level };
    }, redisKeys(deps.prefix).summary(resolved.table.name, resolved.version));
  });

  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name/files', async (request, reply) => {
    const { name } = request.params;
    deps.access.authorize(grants.get(request), name);
    const query = request.query;
    const filters = parseFileFilters(query);
    const pageSize = integerParam(query, 'pageSize', 1, maxPageSize);
    const rawToken = single(query, 'pageToken');
    const token = rawToken === undefined ? undefined : decodeToken(rawToken, 'pageToken', isPageToken);
    if (token && pageSize === undefined) throw new BadRequestError('pageToken needs pageSize');
    const explicit = integerParam(query, 'version', 0, Number.MAX_SAFE_INTEGER);
    if (token && explicit !== undefined && explicit !== token.v) throw new BadRequestError(`pageToken is for version ${token.v}, not ${explicit}`);
    const resolved = await resolve(request, name, query, token?.v);
    const after: FileKeyPosition | undefined = token ? { path: token.p, dvId: token.d } : undefined;
    const canonical = JSON.stringify([canonicalFilters(filters), pageSize ?? null, after ? [after.path, after.dvId] : null]);
    const wholeList = pageSize === undefined && !hasFilters(filters);
    if (wholeList && (await streamWholeList(request, reply, resolved, canonical))) return reply;
    return answer(request, reply, resolved, 'files', canonical, async () => {
      const { encoded, next, level, source } = await inSnapshot(deps.pool, async (client): Promise<{ encoded: EncodedBody; next: string | undefined; level: 'l3' | 'l4'; source?: string }> => {
        const plan = await planInSnapshot(client, resolved.table, resolved.version, deps.config.l3Enabled);
        if (wholeList && deps.config.l3Enabled && deps.config.filePagesEnabled) {
          const fromPages = await pagesListBody(client, resolved.table.tableId, resolved.version, deps.config.compressMinBytes);
          if (fromPages) return { encoded: fromPages, next: undefined, level: 'l3' as const, source: 'file pages' };
        }
        const lines = fileLines(client, resolved.table, plan, { version: resolved.version, filters, after, limit: pageSize === undefined ? undefined : pageSize + 1 });
        let last: FileLine | undefined;
        let more = false;
        let count = 0;
        async function* page(): AsyncGenerator<string> {
          for await (const file of lines) {
            if (pageSize !== undefined && count === pageSize) {
              more = true;
              break;
            }
            count++;
            last = file;
            yield file.line;
          }
        }
        const body = await encodeLines(page(), deps.config.compressMinBytes);
        return { encoded: body, next: more && last ? encodeToken({ v: resolved.version, p: last.path, d: last.dvId } satisfies PageToken) : undefined, level: plan.level };
      });
      deps.metrics.cacheRequestsTotal.inc({ level, result: 'hit' });
      const headers: Record<string, string> = next ? { 'next-page-token': next } : {};
      return { response: { version: resolved.version, contentType: ndjson, ...encoded, headers }, level, ...(source !== undefined ? { source } : {}) };
    });
  });

  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name/commits', async (request, reply) => {
    const { name } = request.params;
    deps.access.authorize(grants.get(request), name);
    const query = request.query;
    const to = integerParam(query, 'to', 0, Number.MAX_SAFE_INTEGER);
    const resolved = await resolve(request, name, query, to);
    const from = integerParam(query, 'from', 0, Number.MAX_SAFE_INTEGER) ?? Math.max(0, resolved.version - 99);
    if (from > resolved.version) throw new BadRequestError(`from (${from}) is after to (${resolved.version})`);
    const actions = booleanParam(query, 'actions');
    const canonical = JSON.stringify([from, actions]);
    return answer(request, reply, resolved, 'commits', canonical, async () => {
      const encoded = await inSnapshot(deps.pool, (client) => encodeLines(commitLines(client, resolved.table.tableId, { from, to: resolved.version, actions }), deps.config.compressMinBytes));
      deps.metrics.cacheRequestsTotal.inc({ level: 'l4', result: 'hit' });
      return { response: { version: resolved.version, contentType: ndjson, ...encoded, headers: {} }, level: 'l4' };
    });
  });

  app.get<{ Querystring: QueryParams }>('/v1/tables', async (request, reply) => {
    const startedMs = performance.now();
    const grant = grants.get(request);
    const query = request.query;
    const pageSize = integerParam(query, 'pageSize', 1, 1000) ?? 100;
    const rawToken = single(query, 'pageToken');
    const after = rawToken === undefined ? '' : decodeToken(rawToken, 'pageToken', isTablesToken).after;
    const prefixes = deps.access.enabled ? [...(grant?.tablePrefixes ?? [])] : null;
    // serves: delta_table name unique index (keyset paging in name order); delta_commit primary key for each head
    const { rows } = await deps.pool.query<{ name: string }>(
      `SELECT t.name FROM deltameta.delta_table t
        WHERE t.name COLLATE "C" > $1
          AND ($2::text[] IS NULL OR EXISTS (SELECT FROM unnest($2::text[]) p WHERE starts_with(t.name, p)))
          AND EXISTS (SELECT FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)
        ORDER BY t.name COLLATE "C" LIMIT $3`,
      [after, prefixes, pageSize + 1],
    );
    const names = rows.slice(0, pageSize).map((row) => row.name);
    const tables = await Promise.all(names.map(async (name) => {
      const resolved = await resolve(request, name, {});
      const etag = etagOf(name, resolved.version, 'summary', '');
      const found = await deps.cache.get({ id: etag, plainJsonL2Key: redisKeys(deps.prefix).summary(name, resolved.version) }, async () => {
        const { summary, level } = await inSnapshot(deps.pool, async (client) => {
          const plan = await planInSnapshot(client, resolved.table, resolved.version, deps.config.l3Enabled);
          return { summary: await summaryAt(client, resolved.table, plan, resolved.version), level: plan.level };
        });
        const encoded = await encodeJson(summary, Number.MAX_SAFE_INTEGER);
        return { response: { version: resolved.version, contentType: 'application/json', ...encoded, headers: {} }, level };
      });
      const summary = JSON.parse((found.response.encoding === 'identity' ? found.response.body : gunzipSync(found.response.body)).toString('utf8')) as Record<string, unknown>;
      return { name, version: resolved.version, numFiles: summary['numFiles'], sizeBytes: summary['sizeBytes'], numRecords: summary['numRecords'], lastCommitAt: summary['lastCommitAt'] };
    }));
    const last = names[names.length - 1];
    const nextPageToken = rows.length > pageSize && last !== undefined ? encodeToken({ after: last }) : undefined;
    if (nextPageToken) void reply.header('next-page-token', nextPageToken);
    // Spans tables: no Delta-Table-Version (each entry has its version). The
    // ETag is the body's digest, so it changes exactly when a listed table's
    // head (or the page) does: a poller gets 304 until then.
    const body = JSON.stringify({ tables, ...(nextPageToken ? { nextPageToken } : {}) });
    const etag = createHash('sha256').update(body).digest('base64url').slice(0, 32);
    void reply.header('etag', `"${etag}"`).header('server-timing', `catalog;dur=${(performance.now() - startedMs).toFixed(3)}`);
    if (matchesIfNoneMatch(request, etag)) return reply.code(304).send();
    return reply.header('content-type', 'application/json').send(body);
  });

  return app;
}
