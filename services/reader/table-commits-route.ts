/**
 * GET /v1/tables/{name}/commits: history in [from, to] (to: the resolved
 * version; from: 100 versions back by default), with `actions` the change
 * feed (commits-source.ts). From the log tables (L4), through L1/L2.
 */
import type { FastifyPluginCallback } from 'fastify';
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors/index.ts';
import { commitLines } from './commits-source.ts';
import { booleanParam, integerParam, parseParams, type QueryParams } from './request-params.ts';
import { encodeLines } from './response-body.ts';
import { ndjsonContentType } from './response-sending.ts';
import type { RouteContext } from './route-context.ts';
import { inSnapshot } from './snapshot-scope.ts';

/** Commits answered when `from` is not given: the newest 100. */
const defaultCommitCount = 100;

const commitsQuerySchema = z.object({
  to: integerParam('to', 0, Number.MAX_SAFE_INTEGER).optional(),
  from: integerParam('from', 0, Number.MAX_SAFE_INTEGER).optional(),
  actions: booleanParam('actions'),
});

export const tableCommitsRoute: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name/commits', async (request, reply) => {
    const { name } = request.params;
    context.access.authorize(request, name);
    const query = parseParams(commitsQuerySchema, request.query);
    const resolved = await context.versions.resolveRequest(request, name, request.query, query.to);
    const from = query.from ?? Math.max(0, resolved.version - (defaultCommitCount - 1));
    if (from > resolved.version) throw new BadRequestError(`from (${from}) is after to (${resolved.version})`);
    const { actions } = query;
    return context.responder.answer(request, reply, resolved, { route: 'commits', canonical: JSON.stringify([from, actions]) }, async () => {
      const encoded = await inSnapshot(context.pool, (client) => encodeLines(commitLines(client, resolved.table.tableId, { from, to: resolved.version, actions }), context.config.compressMinBytes));
      context.metrics.cacheRequestsTotal.inc({ level: 'l4', result: 'hit' });
      return { response: { version: resolved.version, contentType: ndjsonContentType, ...encoded, headers: {} }, level: 'l4' };
    });
  });
  done();
};
