/**
 * The commit API on Fastify: `POST /v1/tables/{name}/commits` (one version
 * per request, through the library's commit), one onRequest hook that
 * decides access before the body is read, the commit metrics, and one
 * problem+json error path (problems.ts). Bounded: the body's bytes and
 * lines, the time a client gets to send its request, idle keep-alives;
 * PostgreSQL's side by the pool (size, acquire wait, statement timeout).
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Pool } from '../../shared/db/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { commitFromEnvelope, commitFromNdjson, onBodyLines } from './commit-request.ts';
import type { CommitterConfig } from './config.ts';
import type { CommitterMetrics } from './metrics.ts';
import { commitRouteSchema, registerOpenApi } from './openapi.ts';
import { outcomeOf, problemFor, retryAfterSeconds, UnauthorizedError } from './problems.ts';
import { installReceiveDeadline } from './receive-deadline.ts';
import { TokenReloader } from '../../shared/access/index.ts';
import type { WriteAccess } from './write-tokens.ts';

export interface CommitterDeps {
  readonly pool: Pool;
  readonly access: WriteAccess;
  readonly config: CommitterConfig;
  readonly logger: Logger;
  readonly metrics: CommitterMetrics;
}

export const commitsRoute = '/v1/tables/:name/commits';
export const ndjsonContentType = 'application/x-ndjson';
const problemContentType = 'application/problem+json';

export interface CommitResponse {
  readonly table: string;
  readonly version: number;
  readonly attempts: number;
  readonly alreadyCommitted: boolean;
  readonly created: boolean;
}

export function buildCommitterApp(deps: CommitterDeps): FastifyInstance {
  const { config } = deps;
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength: 512 },
    bodyLimit: config.maxBodyBytes,
    // A client gets this long to send its request line, headers and body (slowloris; the body by receive-deadline.ts too); an idle keep-alive is closed sooner.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Node checks the request and headers bounds every connectionsCheckingInterval (30 s by default): every second, so they hold as set.
    http: { connectionsCheckingInterval: 1000 },
  });
  // The request line and headers: Node's own bound (its default, 60 s, when the whole request may take longer).
  app.server.headersTimeout = Math.min(config.requestTimeoutMs, 60_000);
  // Only the two body formats of the API: anything else is 415 before it is read.
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser(ndjsonContentType, { parseAs: 'string', bodyLimit: config.maxBodyBytes }, (_request, body, done) => done(null, body));

  const alreadyCommitted = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.url !== commitsRoute) {
      done();
      return;
    }
    try {
      deps.access.authorize(request.headers.authorization, (request.params as { name: string }).name);
      done();
    } catch (error) {
      done(error as Error);
    }
  });
  installReceiveDeadline(app, { route: commitsRoute, timeoutMs: config.requestTimeoutMs, logger: deps.logger });
  app.addHook('onResponse', (request, reply, done) => {
    if (request.routeOptions.url === commitsRoute) {
      const outcome = outcomeOf(reply.statusCode, alreadyCommitted.has(request));
      deps.metrics.commitDurationSeconds.observe({ outcome }, reply.elapsedTime / 1000);
      deps.metrics.commitRequestsTotal.inc({ outcome });
    }
    done();
  });
  if (deps.access.tokensFile !== undefined) {
    const reloader = new TokenReloader(deps.access, deps.access.tokensFile, { logger: deps.logger, checkIntervalMs: config.tokensReloadIntervalMs, label: 'committer write tokens' });
    app.addHook('onReady', (done) => {
      reloader.start();
      done();
    });
    app.addHook('onClose', (_instance, done) => {
      reloader.stop();
      done();
    });
  }

  app.setErrorHandler((error, request, reply) => {
    const problem = problemFor(error, config.maxBodyBytes);
    if (problem.status === 503) {
      deps.logger.warn({ err: error }, 'commit refused: PostgreSQL could not serve it in time');
      void reply.header('retry-after', String(retryAfterSeconds));
    } else if (problem.status >= 500) {
      deps.logger.error({ err: error, url: request.url }, 'commit failed');
    } else if (problem.status === 409) {
      deps.logger.info({ problem }, 'commit refused: conflict');
    }
    if (error instanceof UnauthorizedError) void reply.header('www-authenticate', 'Bearer realm="deltameta-committer"');
    return reply.code(problem.status).header('content-type', problemContentType).send(JSON.stringify(problem));
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = { type: 'https://deltameta.dev/problems/not-found', title: 'Not Found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` };
    return reply.code(404).header('content-type', problemContentType).send(JSON.stringify(problem));
  });

  registerOpenApi(app);
  // In a plugin: registered after @fastify/swagger has loaded, so the document has it.
  void app.register((routes, _options, done) => {
    routes.post<{ Params: { name: string } }>(commitsRoute, { schema: commitRouteSchema }, async (request, reply): Promise<CommitResponse> => {
      const table = request.params.name;
      if (request.url.includes('?')) throw new BadRequestError('the commit API takes no query parameters: the transaction goes in Delta-* headers or a JSON envelope');
      if (request.body === undefined || request.body === null) {
        throw new BadRequestError(`a commit needs a body: its actions as ${ndjsonContentType}, or a JSON envelope as application/json`);
      }
      const limits = { maxLines: config.maxLines, maxAttempts: config.maxAttempts };
      const parsed = typeof request.body === 'string'
        ? commitFromNdjson(table, request.body, request.headers, limits)
        : commitFromEnvelope(table, request.body, request.headers, limits);
      let result;
      try {
        result = await commit(deps.pool, parsed.request);
      } catch (error) {
        throw onBodyLines(error, parsed.lines);
      }
      if (result.alreadyCommitted) alreadyCommitted.add(request);
      void reply.code(201)
        .header('location', `/v1/tables/${encodeURIComponent(table)}?version=${result.version}`)
        .header('delta-table-version', String(result.version));
      return { table, version: result.version, attempts: result.attempts, alreadyCommitted: result.alreadyCommitted, created: result.created };
    });
    done();
  });
  return app;
}
