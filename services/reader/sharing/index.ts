/**
 * Delta Sharing on the reader (docs/delta-sharing.md, PROTOCOL.md of
 * delta-io/delta-sharing): a Fastify plugin registered under
 * DELTAMETA_READER_SHARING_PREFIX (default /delta-sharing) when
 * DELTAMETA_READER_SHARING is on. Its recipients authenticate with their own
 * bearer tokens (auth.ts), never the /v1 ones; its errors are the protocol's
 * JSON (errors.ts), never problem+json. The configuration is cached
 * (config-cache.ts). So far the discovery endpoints (routes.ts); the table
 * endpoints and file URLs come next.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Pool } from '../../../shared/db/index.ts';
import type { Logger } from '../../../shared/logging/index.ts';
import type { PageTokens } from '../page-token.ts';
import { SharingConfigCache } from './config-cache.ts';
import { sharingErrorFor } from './errors.ts';
import { registerSharingRoutes } from './routes.ts';

export { SharingCatalog } from './catalog.ts';
export { SharingConfigCache } from './config-cache.ts';
export { SharingError, sharingErrorFor, type SharingErrorBody, type SharingErrorCode } from './errors.ts';
export { resolveSharedTables, type SharedTable } from './tables.ts';
export { sharingRouteConfig } from './routes.ts';

export interface SharingPluginOptions {
  readonly pool: Pool;
  readonly logger: Logger;
  readonly pageTokens: PageTokens;
  /** DELTAMETA_READER_SHARING_RELOAD_MS */
  readonly reloadMs: number;
}

/** Whether the matched route is a sharing route (its config says `sharing: true`): the /v1 access hook leaves it alone. */
export function isSharingRoute(request: FastifyRequest): boolean {
  return (request.routeOptions.config as { sharing?: boolean } | undefined)?.sharing === true;
}

/** The plugin; register it with `{ prefix }`. Its error and not-found handlers apply to its routes only. */
export function sharingPlugin(app: FastifyInstance, options: SharingPluginOptions, done: (error?: Error) => void): void {
  const configs = new SharingConfigCache(options.pool, options.reloadMs);
  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = sharingErrorFor(error);
    if (status >= 500) options.logger.error({ err: error }, 'delta sharing request failed');
    if (status === 401) void reply.header('www-authenticate', 'Bearer realm="delta-sharing"');
    return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body));
  });
  app.setNotFoundHandler((request, reply) => {
    const body = { errorCode: 'RESOURCE_DOES_NOT_EXIST', message: `no Delta Sharing endpoint ${request.method} ${request.url.split('?')[0] ?? ''}` };
    return reply.code(404).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body));
  });
  registerSharingRoutes(app, { pool: options.pool, configs, pageTokens: options.pageTokens });
  done();
}
