/**
 * Delta Sharing on the reader (docs/delta-sharing.md, PROTOCOL.md of
 * delta-io/delta-sharing): a Fastify plugin registered under
 * DELTAMETA_READER_SHARING_PREFIX (default /delta-sharing) when
 * DELTAMETA_READER_SHARING is on. Its recipients authenticate with their own
 * bearer tokens (auth.ts), never the /v1 ones; its errors are the protocol's
 * JSON (errors.ts), never problem+json. The configuration is cached
 * (config-cache.ts). The discovery endpoints (routes.ts), the table
 * endpoints (table-routes.ts) and the signed file URLs they hand out
 * (file-urls.ts), served by the reader itself (file-route.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ReaderConfig } from '../../../shared/config/index.ts';
import type { Pool } from '../../../shared/db/index.ts';
import type { ReaderMetrics } from '../../../shared/metrics/index.ts';
import type { Logger } from '../../../shared/logging/index.ts';
import type { PageTokens } from '../page-token.ts';
import type { TableResponder } from '../table-responder.ts';
import type { VersionResolver } from '../version-resolution.ts';
import { OversizedAnswers } from './answers.ts';
import { SharingConfigCache } from './config-cache.ts';
import { sharingErrorFor } from './errors.ts';
import { sharingFileRoute } from './file-route.ts';
import { sharingUrlKey, type FileUrlSigner } from './file-urls.ts';
import { registerSharingRoutes } from './routes.ts';
import { registerSharingTableRoutes } from './table-routes.ts';

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
  /** the reader's stream pool (streamed query and changes answers) */
  readonly streamPool: Pool;
  readonly versions: VersionResolver;
  readonly config: ReaderConfig;
  /** the /v1 routes' responder: small query and changes answers go through the same cache levels */
  readonly responder?: TableResponder;
  readonly metrics?: ReaderMetrics;
  /** another signer (an object store's presigner) instead of the reader's own signed URLs */
  readonly signer?: FileUrlSigner;
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
  const urlKey = sharingUrlKey({ DELTAMETA_READER_SHARING_URL_KEY: options.config.sharingUrlKey });
  registerSharingTableRoutes(app, {
    pool: options.pool, streamPool: options.streamPool, configs, versions: options.versions, pageTokens: options.pageTokens, config: options.config, urlKey,
    oversized: new OversizedAnswers(),
    ...(options.signer ? { signer: options.signer } : {}),
    ...(options.responder ? { responder: options.responder } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  // The files behind the URLs: located by the table id the URL carries, while the table exists.
  void sharingFileRoute(app, {
    key: urlKey,
    resolveLocation: async (tableId) => {
      const { rows } = await options.pool.query<{ location: string | null }>('SELECT location FROM deltameta.delta_table WHERE table_id = $1', [tableId]);
      return rows[0]?.location ?? undefined;
    },
  });
  done();
}
