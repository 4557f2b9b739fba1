/**
 * GET /v1/tables: the tables the caller may read, in name order, paged,
 * each with its latest version and counts (the summary, through the cache
 * levels). It spans tables, so it has no Delta-Table-Version; its ETag is
 * the body's digest, so it changes exactly when a listed table's head (or
 * the page) does: a poller gets 304 until then.
 */
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { redisKeys } from '../../shared/contracts/index.ts';
import { bodyEtag, clientHasContent, representationTag } from './conditional-request.ts';
import { encodeToken, integerParam, parseParams, tokenParam, type QueryParams } from './request-params.ts';
import type { RouteContext } from './route-context.ts';
import { producedSummary } from './table-summary-route.ts';
import { listedTableNames } from './tables-source.ts';

const tablesQuerySchema = z.object({
  pageSize: integerParam('pageSize', 1, 1000).optional(),
  pageToken: tokenParam('pageToken', z.object({ after: z.string() })).optional(),
});

const defaultPageSize = 100;

interface ListedTable {
  readonly name: string;
  readonly version: number;
  readonly numFiles: unknown;
  readonly sizeBytes: unknown;
  readonly numRecords: unknown;
  readonly lastCommitAt: unknown;
}

async function listedTable(context: RouteContext, request: FastifyRequest, name: string): Promise<ListedTable> {
  const resolved = await context.versions.resolveRequest(request, name, {});
  const etag = context.etags.of(name, resolved.version, 'summary', '');
  // Kept as identity whatever its size, so it can be read back here and shared as plain JSON with the refresher.
  const found = await context.cache.get({ id: etag, plainJsonL2Key: redisKeys(context.redisPrefix).summary(name, resolved.version) }, () => (
    producedSummary(context.pool, resolved, { l3Enabled: context.config.l3Enabled, compressMinBytes: Number.MAX_SAFE_INTEGER })
  ));
  const body = found.response.encoding === 'identity' ? found.response.body : gunzipSync(found.response.body);
  const summary = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  return { name, version: resolved.version, numFiles: summary['numFiles'], sizeBytes: summary['sizeBytes'], numRecords: summary['numRecords'], lastCommitAt: summary['lastCommitAt'] };
}

export const tablesListRoute: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  app.get<{ Querystring: QueryParams }>('/v1/tables', async (request, reply) => {
    const startedMs = performance.now();
    const query = parseParams(tablesQuerySchema, request.query);
    const pageSize = query.pageSize ?? defaultPageSize;
    const prefixes = context.access.enabled ? [...(context.access.grantOf(request)?.tablePrefixes ?? [])] : null;
    const found = await listedTableNames(context.pool, query.pageToken?.after ?? '', prefixes, pageSize + 1);
    const names = found.slice(0, pageSize);
    const tables = await Promise.all(names.map((name) => listedTable(context, request, name)));
    const last = names[names.length - 1];
    const nextPageToken = found.length > pageSize && last !== undefined ? encodeToken({ after: last }) : undefined;
    if (nextPageToken) void reply.header('next-page-token', nextPageToken);
    const body = JSON.stringify({ tables, ...(nextPageToken ? { nextPageToken } : {}) });
    const etag = bodyEtag(body);
    void reply.header('etag', representationTag(etag, false)).header('server-timing', `catalog;dur=${(performance.now() - startedMs).toFixed(3)}`);
    if (clientHasContent(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.header('content-type', 'application/json').send(body);
  });
  done();
};
