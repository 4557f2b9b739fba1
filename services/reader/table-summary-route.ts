/** GET /v1/tables/{name}: the summary of a version (summary-source.ts), through the cache levels. */
import type { FastifyPluginCallback } from 'fastify';
import type { Pool } from '../../shared/db/index.ts';
import { redisKeys } from '../../shared/contracts/index.ts';
import { summarySource } from '../../shared/summary/index.ts';
import { encodeJson } from './response-body.ts';
import type { Produced } from './response-cache.ts';
import { tableSummaryRouteSchema } from './openapi.ts';
import type { RouteContext } from './route-context.ts';
import { inSnapshot, planInSnapshot } from './snapshot-scope.ts';
import { summaryAt } from './summary-source.ts';
import type { ResolvedVersion } from './version-resolution.ts';
import type { QueryParams } from './request-params.ts';

/** The summary read from one snapshot, kept as gzip from `compressMinBytes` on. */
export async function producedSummary(pool: Pool, resolved: ResolvedVersion, options: { l3Enabled: boolean; compressMinBytes: number; maxTailActions?: number }): Promise<Produced> {
  const { summary, level } = await inSnapshot(pool, async (client) => {
    const plan = await planInSnapshot(client, resolved.table, resolved.version, options.l3Enabled, options.maxTailActions);
    return { summary: await summaryAt(client, resolved.table, plan, resolved.version), level: plan.level };
  });
  const encoded = await encodeJson(summary, options.compressMinBytes);
  return { response: { version: resolved.version, contentType: 'application/json', ...encoded, headers: {} }, level };
}

export const tableSummaryRoute: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name', { schema: tableSummaryRouteSchema }, async (request, reply) => {
    const { name } = request.params;
    context.access.authorize(request, name);
    const resolved = await context.versions.resolveRequest(request, name, request.query);
    context.shadow.offer(resolved.table, resolved.version);
    const source = summarySource(resolved.table.kind, resolved.table.location);
    const key = { route: 'summary', canonical: source ?? '', plainJsonL2Key: redisKeys(context.redisPrefix).summary(resolved.table.name, resolved.table.tableId, resolved.version, source) };
    return context.responder.answer(request, reply, resolved, key, async () => {
      const produced = await producedSummary(context.pool, resolved, context.config);
      context.metrics.cacheRequestsTotal.inc({ level: produced.level, result: 'hit' });
      return produced;
    });
  });
  done();
};
