/**
 * GET /v1/tables/{name}/commits: history in [from, to] (to: the resolved
 * version; from: 100 versions back by default), with `actions` the change
 * feed (commits-source.ts), `limit` commits a page (default 1000, at most
 * DELTAMETA_READER_COMMITS_MAX_LIMIT) continued by a signed next-page-token
 * (page-token.ts) bound to the table, `to`, `from` and `actions`. From the
 * log tables (L4), through L1/L2.
 */
import type { FastifyPluginCallback } from 'fastify';
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors/index.ts';
import { commitLines, type CommitsPageEnd } from './commits-source.ts';
import type { PageBinding } from './page-token.ts';
import { booleanParam, integerParam, onceParam, parseParams, type QueryParams } from './request-params.ts';
import { encodeLines } from './response-body.ts';
import { ndjsonContentType } from './response-sending.ts';
import { tableCommitsRouteSchema } from './openapi.ts';
import type { RouteContext } from './route-context.ts';
import { inSnapshot } from './snapshot-scope.ts';

/** Commits answered when `from` is not given: the newest 100. */
const defaultCommitCount = 100;

/** Commits a page holds when `limit` is not given (or the configured maximum, if lower). */
const defaultLimit = 1000;

const positionSchema = z.object({ n: z.number().int().min(0) });

export const tableCommitsRoute: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  const maxLimit = context.config.commitsMaxLimit;
  const commitsQuerySchema = z.object({
    to: integerParam('to', 0, Number.MAX_SAFE_INTEGER).optional(),
    from: integerParam('from', 0, Number.MAX_SAFE_INTEGER).optional(),
    actions: booleanParam('actions'),
    limit: integerParam('limit', 1, maxLimit).optional(),
    pageToken: onceParam('pageToken').optional(),
  });
  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name/commits', { schema: tableCommitsRouteSchema }, async (request, reply) => {
    const { name } = request.params;
    context.access.authorize(request, name);
    const query = parseParams(commitsQuerySchema, request.query);
    const { actions } = query;
    const limit = query.limit ?? Math.min(defaultLimit, maxLimit);
    const binding: PageBinding = { route: 'commits', table: name, filters: JSON.stringify([query.from ?? null, actions]) };
    const token = query.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', query.pageToken, binding, positionSchema);
    if (token && query.to !== undefined && query.to !== token.version) throw new BadRequestError(`pageToken is for to=${token.version}, not ${query.to}`);
    const resolved = await context.versions.resolveRequest(request, name, request.query, token?.version ?? query.to);
    const from = token?.position.n ?? query.from ?? Math.max(0, resolved.version - (defaultCommitCount - 1));
    if (from > resolved.version) throw new BadRequestError(`from (${from}) is after to (${resolved.version})`);
    const canonical = JSON.stringify([from, actions, limit, context.pageTokens.keyId]);
    return context.responder.answer(request, reply, resolved, { route: 'commits', canonical }, async () => {
      const end: CommitsPageEnd = { nextFrom: undefined };
      // A page of commits with their actions is as big as those commits: bounded like a files list, never assembled beyond it.
      const maxBytes = context.config.streamAboveBytes;
      const bound = { maxBytes, refusal: () => new BadRequestError(`the page is more than ${maxBytes} bytes compressed (DELTAMETA_READER_STREAM_ABOVE_BYTES): use a smaller limit`) };
      const encoded = await inSnapshot(context.pool, (client) => encodeLines(commitLines(client, resolved.table.tableId, { from, to: resolved.version, actions, limit }, end), context.config.compressMinBytes, bound));
      context.metrics.cacheRequestsTotal.inc({ level: 'l4', result: 'hit' });
      const headers: Record<string, string> = end.nextFrom === undefined ? {} : { 'next-page-token': context.pageTokens.issue(binding, resolved.version, { n: end.nextFrom }) };
      return { response: { version: resolved.version, contentType: ndjsonContentType, ...encoded, headers }, level: 'l4' };
    });
  });
  done();
};
