/**
 * The /v1 HTTP API (docs/design.md section 4, "HTTP reader") on Fastify: one
 * onRequest hook (query length, access, the abandonment watch), the
 * request-duration metric, one problem+json error path, and a plugin per
 * route. Each table route authorizes, resolves the version
 * (version-resolution.ts), then answers through table-responder.ts: 304 when
 * the client has the ETag (conditional-request.ts), else the body from
 * L1 → L2 → L3/L4 (response-cache.ts), sent by response-sending.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { ReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import { RequestAccess } from './access-hooks.ts';
import type { AccessControl } from './auth.ts';
import { TableEtags } from './conditional-request.ts';
import { UnauthorizedError, problemFor, retryAfterSeconds } from './errors.ts';
import type { HeadTracker } from './head-tracker.ts';
import { HotTableRecorder } from './hot-tables.ts';
import { isPublicDocument, registerOpenApi } from './openapi.ts';
import { PageTokens } from './page-token.ts';
import { queryTooLong } from './request-params.ts';
import type { ResponseCache } from './response-cache.ts';
import type { RouteContext } from './route-context.ts';
import type { ShadowVerifier } from './shadow.ts';
import { sharingPlugin } from './sharing/index.ts';
import { watchedUntilClosed } from './snapshot-scope.ts';
import { tableCommitsRoute } from './table-commits-route.ts';
import { tableFilesRoute } from './table-files-route.ts';
import { tableSummaryRoute } from './table-summary-route.ts';
import { tablesListRoute } from './tables-list-route.ts';
import { TokenReloader } from '../../shared/access/index.ts';
import { VersionResolver } from './version-resolution.ts';
import { WatchedTableResponder } from './watched-responder.ts';

export interface ReaderDeps {
  readonly pool: Pool;
  /** whole lists streamed to their clients draw from this one (capped by DELTAMETA_READER_STREAM_CONNECTIONS) */
  readonly streamPool: Pool;
  readonly redis: Redis;
  readonly prefix: string;
  readonly logger: Logger;
  readonly metrics: ReaderMetrics;
  readonly cache: ResponseCache;
  readonly heads: HeadTracker;
  readonly access: AccessControl;
  readonly config: ReaderConfig;
  readonly shadow: ShadowVerifier;
}

/**
 * The routes whose every query runs in the responder's producer or whole-list
 * stream (watched-responder.ts enters the watch there). A route not listed is
 * watched whole: adding a route here without that holds would lose the cancel
 * of its abandoned queries.
 */
const routesWatchedByTheResponder: ReadonlySet<string> = new Set(['/v1/tables/:name', '/v1/tables/:name/files', '/v1/tables/:name/commits']);

const problemContentType = 'application/problem+json';

/** Node's headersTimeout must not exceed it; 10 s is generous for a GET on any network that can reach us. */
const requestReceiveTimeoutMs = 10_000;

export function buildReaderApp(deps: ReaderDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength: 256 },
    // A client gets this long to send its request line, headers and body (slowloris); answers are bounded elsewhere.
    requestTimeout: requestReceiveTimeoutMs,
    // Node checks those bounds every connectionsCheckingInterval (30 s by default: a slow sender held its socket up
    // to 40 s); its headers bound defaults to 60 s. Checked every second, the receive bound is what a client gets.
    http: { connectionsCheckingInterval: 1000, headersTimeout: requestReceiveTimeoutMs },
  });
  const access = new RequestAccess(deps.access);
  const { maxQueryBytes } = deps.config;
  // The reader's only onRequest hook (each hook is one more step on every request
  // of the hot path), in this order: a flood is refused before authentication,
  // version resolution or any query; access is decided on the matched route
  // (access-hooks.ts); then the request's abandonment watch (snapshot-scope.ts):
  // routes that answer through the responder enter it there, around their
  // queries only; any other matched route runs its whole handler in it.
  // Unmatched requests (404) never query.
  app.addHook('onRequest', (request, reply, done) => {
    const tooLong = queryTooLong(request.raw.url, maxQueryBytes);
    if (tooLong) {
      done(tooLong);
      return;
    }
    try {
      // The OpenAPI document is the one public route (openapi.ts); every other matched route is authenticated.
      if (!access.enabled || !isPublicDocument(request)) access.admit(request);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (request.is404 || routesWatchedByTheResponder.has(request.routeOptions.url ?? '')) done();
    // An abandoned request's work may run on until its queries are cancelled or time out: watched that long.
    else watchedUntilClosed(reply.raw, done, deps.config.pgAcquireTimeoutMs + deps.config.pgStatementTimeoutMs);
  });
  const { tokensFile } = deps.access;
  if (tokensFile !== undefined) {
    const reloader = new TokenReloader(deps.access, tokensFile, { logger: deps.logger, checkIntervalMs: deps.config.tokensReloadIntervalMs, label: 'reader tokens' });
    app.addHook('onReady', (done) => {
      reloader.start();
      done();
    });
    app.addHook('onClose', (_instance, done) => {
      reloader.stop();
      done();
    });
  }

  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.httpRequestDurationSeconds.observe(
      { route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((error, _request, reply) => {
    const problem = problemFor(error);
    if (problem.status === 503) {
      deps.logger.warn({ err: error }, 'request refused: PostgreSQL could not serve it in time');
      void reply.header('retry-after', String(retryAfterSeconds));
    } else if (problem.status >= 500) {
      deps.logger.error({ err: error }, 'request failed');
    }
    if (error instanceof UnauthorizedError) void reply.header('www-authenticate', 'Bearer realm="deltameta"');
    return reply.code(problem.status).header('content-type', problemContentType).send(JSON.stringify(problem));
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = { type: 'https://deltameta.dev/problems/not-found', title: 'Not Found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` };
    return reply.code(404).header('content-type', problemContentType).send(JSON.stringify(problem));
  });

  const etags = new TableEtags();
  const context: RouteContext = {
    pool: deps.pool, streamPool: deps.streamPool, redisPrefix: deps.prefix, metrics: deps.metrics, config: deps.config, cache: deps.cache, etags, access,
    pageTokens: new PageTokens(deps.config.pageTokenKey),
    shadow: deps.shadow,
    versions: new VersionResolver({ pool: deps.pool, heads: deps.heads, minVersionWaitMs: deps.config.minVersionWaitMs }),
    responder: new WatchedTableResponder({
      streamPool: deps.streamPool, cache: deps.cache, etags, metrics: deps.metrics, config: deps.config,
      hotTables: new HotTableRecorder({ redis: deps.redis, prefix: deps.prefix, recordIntervalMs: deps.config.hotRecordIntervalMs }),
    }),
  };
  registerOpenApi(app, { title: 'deltameta reader', description: 'The /v1 read API: Delta table summaries, files and history from PostgreSQL, through the cache levels (docs/reader.md).' });
  void app.register(tablesListRoute, context);
  void app.register(tableSummaryRoute, context);
  void app.register(tableFilesRoute, context);
  void app.register(tableCommitsRoute, context);
  if (deps.config.sharingEnabled) {
    void app.register(sharingPlugin, {
      prefix: deps.config.sharingPrefix, pool: deps.pool, streamPool: deps.streamPool, logger: deps.logger, pageTokens: context.pageTokens,
      reloadMs: deps.config.sharingReloadMs, versions: context.versions, config: deps.config, responder: context.responder, metrics: deps.metrics,
    });
  }
  return app;
}
