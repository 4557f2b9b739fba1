/**
 * GET /v1/tables: the tables the caller may read, in name order, paged,
 * each with its latest version and counts (the summary, through the cache
 * levels). It spans tables, so it has no Delta-Table-Version; its ETag is
 * the body's digest, so it changes exactly when a listed table's head (or
 * the page) does: a poller gets 304 until then. Delta-Min-Version and
 * minVersion are refused: they name a version of one table, and applied to
 * every listed table they would wait on, or 404, tables they do not concern.
 */
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { redisKeys } from '../../shared/contracts/index.ts';
import { summarySource } from '../../shared/summary/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';
import { bodyEtag, clientHasContent, representationTag } from './conditional-request.ts';
import { coveredTableNames } from './covered-table-names.ts';
import type { PageBinding } from './page-token.ts';
import { integerParam, onceParam, parseParams, type QueryParams } from './request-params.ts';
import { tablesListRouteSchema } from './openapi.ts';
import type { RouteContext } from './route-context.ts';
import { producedSummary } from './table-summary-route.ts';
import { scopesForSql } from '../../shared/access/index.ts';

const tablesQuerySchema = z.object({
  pageSize: integerParam('pageSize', 1, 1000).optional(),
  pageToken: onceParam('pageToken').optional(),
});

const positionSchema = z.object({ after: z.string() });

function refuseMinVersion(request: FastifyRequest): void {
  const query = request.query as QueryParams;
  if (request.headers['delta-min-version'] !== undefined || query['minVersion'] !== undefined) {
    throw new BadRequestError('Delta-Min-Version and minVersion name a version of one table; GET /v1/tables spans tables: read the table itself (GET /v1/tables/{name}) to wait for your write');
  }
}

const defaultPageSize = 100;

interface ListedTable {
  readonly name: string;
  readonly version: number;
  readonly numFiles: unknown;
  readonly sizeBytes: unknown;
  readonly numRecords: unknown;
  readonly lastCommitAt: unknown;
}

async function listedTable(context: RouteContext, name: string): Promise<ListedTable> {
  const resolved = await context.versions.resolve(name, { kind: 'latest' });
  const source = summarySource(resolved.table.kind, resolved.table.location);
  const etag = context.etags.of(resolved.table, resolved.version, 'summary', source ?? '');
  // Kept as identity whatever its size, so it can be read back here and shared as plain JSON with the refresher.
  const found = await context.cache.get({ id: etag, plainJsonL2Key: redisKeys(context.redisPrefix).summary(name, resolved.table.tableId, resolved.version, source) }, () => (
    producedSummary(context.pool, resolved, { l3Enabled: context.config.l3Enabled, compressMinBytes: Number.MAX_SAFE_INTEGER, maxTailActions: context.config.maxTailActions })
  ));
  const body = found.response.encoding === 'identity' ? found.response.body : gunzipSync(found.response.body);
  const summary = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  return { name, version: resolved.version, numFiles: summary['numFiles'], sizeBytes: summary['sizeBytes'], numRecords: summary['numRecords'], lastCommitAt: summary['lastCommitAt'] };
}

export const tablesListRoute: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  app.get<{ Querystring: QueryParams }>('/v1/tables', { schema: tablesListRouteSchema }, async (request, reply) => {
    const startedMs = performance.now();
    refuseMinVersion(request);
    const query = parseParams(tablesQuerySchema, request.query);
    const pageSize = query.pageSize ?? defaultPageSize;
    const grant = context.access.grantOf(request);
    // The token continues this grant's listing only: another token's scopes would page differently.
    const binding: PageBinding = { route: 'tables', table: grant?.name ?? '', filters: '' };
    const after = query.pageToken === undefined ? '' : context.pageTokens.open('pageToken', query.pageToken, binding, positionSchema).position.after;
    const scopes = context.access.enabled ? scopesForSql(grant?.tablePrefixes ?? []) : null;
    const found = await coveredTableNames(context.pool, after, scopes, pageSize + 1);
    const names = found.slice(0, pageSize).filter((name) => context.access.covers(request, name));
    const tables = await Promise.all(names.map((name) => listedTable(context, name)));
    const last = found.slice(0, pageSize).at(-1);
    const nextPageToken = found.length > pageSize && last !== undefined ? context.pageTokens.issue(binding, -1, { after: last }) : undefined;
    if (nextPageToken) void reply.header('next-page-token', nextPageToken);
    const body = JSON.stringify({ tables, ...(nextPageToken ? { nextPageToken } : {}) });
    const etag = bodyEtag(body);
    void reply.header('etag', representationTag(etag, false)).header('server-timing', `catalog;dur=${(performance.now() - startedMs).toFixed(3)}`);
    if (clientHasContent(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.header('content-type', 'application/json').send(body);
  });
  done();
};
