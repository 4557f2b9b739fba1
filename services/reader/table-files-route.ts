/**
 * GET /v1/tables/{name}/files: the live add actions of a version as NDJSON
 * (files-source.ts), filtered (file-filters.ts) and paged by a signed
 * token (page-token.ts) that pins the version and is bound to the table and
 * the filters. A whole list comes from the file pages when
 * they answer (pages-source.ts), and one too big to keep is streamed
 * (whole-list-stream.ts) instead of going through L1/L2. With Accept:
 * application/vnd.apache.arrow.stream the same files come as an Arrow IPC
 * stream (arrow-files.ts), paged and filtered alike.
 */
import type { FastifyPluginCallback } from 'fastify';
import { z } from 'zod';
import type { PoolClient } from '../../shared/db/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';
import { acceptsArrow } from './accept-encoding.ts';
import { arrowLayoutAt, encodeArrowBody, parseFields, streamArrowWholeList, type ArrowListStream } from './arrow-files.ts';
import { prunedArrowFromPages } from './arrow-pruned.ts';
import { physicalFiltersAt } from './column-filters.ts';
import { canonicalFilters, hasFilters, parseFileFilters, type FileFilters } from './file-filters.ts';
import { fileLines, type FileKeyPosition, type FileLine } from './files-source.ts';
import { pagesListBody } from './pages-source.ts';
import type { PageBinding } from './page-token.ts';
import { integerParam, onceParam, parseParams, type QueryParams } from './request-params.ts';
import { encodeLines, type EncodedBody } from './response-body.ts';
import { clientHasContent } from './conditional-request.ts';
import { arrowContentType, ndjsonContentType, sendArrowStream, sendNotModified } from './response-sending.ts';
import { tableFilesRouteSchema } from './openapi.ts';
import type { RouteContext } from './route-context.ts';
import { inSnapshot, planInSnapshot, watchedWhile } from './snapshot-scope.ts';
import type { ResolvedVersion } from './version-resolution.ts';

const maxPageSize = 10_000_000;

/** A page token's position: the last key sent (path p, deletion-vector id d); the version is the token's own. */
const positionSchema = z.object({ p: z.string(), d: z.string() });
type FilesPosition = z.infer<typeof positionSchema>;

const filesQuerySchema = z.object({
  pageSize: integerParam('pageSize', 1, maxPageSize).optional(),
  pageToken: onceParam('pageToken').optional(),
  version: integerParam('version', 0, Number.MAX_SAFE_INTEGER).optional(),
  fields: onceParam('fields').optional(),
});

interface FilesRequest {
  readonly filters: FileFilters;
  readonly pageSize: number | undefined;
  readonly after: FileKeyPosition | undefined;
  readonly wholeList: boolean;
  /** Arrow (with the columns kept, undefined: all) instead of NDJSON */
  readonly arrow: { readonly fields: readonly string[] | undefined } | undefined;
  /** signs the next page's token */
  readonly nextToken: (version: number, position: FilesPosition) => string;
}

interface FilesBody {
  readonly encoded: EncodedBody;
  readonly nextPageToken: string | undefined;
  readonly level: 'l3' | 'l4';
  readonly source?: string;
}

/** One page (or the whole list) inside the answer's snapshot, with the token of the next page when there is one. */
async function filesBody(client: PoolClient, resolved: ResolvedVersion, files: FilesRequest, config: RouteContext['config']): Promise<FilesBody> {
  const plan = await planInSnapshot(client, resolved.table, resolved.version, config.l3Enabled, config.maxTailActions);
  if (files.wholeList && !files.arrow && config.l3Enabled && config.filePagesEnabled) {
    const fromPages = await pagesListBody(client, resolved.table.tableId, resolved.version, config.compressMinBytes);
    if (fromPages) return { encoded: fromPages, nextPageToken: undefined, level: 'l3', source: 'file pages' };
  }
  const { pageSize } = files;
  const maxBytes = config.streamAboveBytes;
  // Logical names (the API's) to the physical keys stored, as the metaData at this version maps them (column-filters.ts).
  const filters = await physicalFiltersAt(client, resolved.table.tableId, resolved.version, files.filters);
  if (files.arrow && files.arrow.fields === undefined && pageSize === undefined && files.after === undefined && config.l3Enabled && config.filePagesEnabled) {
    // A partition-pruned list from the pages' stored batches where they answer it exactly (arrow-pruned.ts).
    const layout = (await arrowLayoutAt(client, resolved.table.tableId, resolved.version, undefined)).layout;
    const parts = await prunedArrowFromPages(client, resolved.table.tableId, resolved.version, filters, layout, maxBytes);
    if (parts) return { encoded: { body: Buffer.concat(parts), encoding: 'identity' }, nextPageToken: undefined, level: 'l3', source: 'file pages' };
  }
  // One line past the page: it says whether there is a next page.
  const lines = fileLines(client, resolved.table, plan, { version: resolved.version, filters, after: files.after, limit: pageSize === undefined ? undefined : pageSize + 1 });
  let last: FileLine | undefined;
  let more = false;
  let count = 0;
  let pageBytes = 0;
  async function* page(): AsyncGenerator<string> {
    for await (const file of lines) {
      const lineBytes = Buffer.byteLength(file.line) + 1;
      // A page ends at pageSize lines or at maxBytes of NDJSON, whichever
      // comes first (at least one line, so paging always moves): counted
      // before compression, so where a page ends is a function of the
      // request and the configuration, as its ETag and token require.
      if (pageSize !== undefined && (count === pageSize || (count > 0 && pageBytes + lineBytes > maxBytes))) {
        more = true;
        break;
      }
      count++;
      pageBytes += lineBytes;
      last = file;
      yield file.line;
    }
  }
  // Without pageSize nothing ends the list early: one bigger than the bound is refused, not assembled.
  const bound = pageSize === undefined ? {
    maxBytes,
    refusal: () => new BadRequestError(`the list is more than ${maxBytes} bytes compressed (DELTAMETA_READER_STREAM_ABOVE_BYTES); only whole lists are streamed beyond that: use pageSize or a narrower filter`),
  } : undefined;
  async function* pageLines(): AsyncGenerator<string> {
    for await (const line of page()) yield line;
  }
  const encoded = files.arrow
    ? await encodeArrowBody((await arrowLayoutAt(client, resolved.table.tableId, resolved.version, files.arrow.fields)).layout, pageLines(), bound)
    : await encodeLines(page(), config.compressMinBytes, bound);
  const nextPageToken = more && last ? files.nextToken(resolved.version, { p: last.path, d: last.dvId }) : undefined;
  return { encoded, nextPageToken, level: plan.level };
}

export const tableFilesRoute: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  app.get<{ Params: { name: string }; Querystring: QueryParams }>('/v1/tables/:name/files', { schema: tableFilesRouteSchema }, async (request, reply) => {
    const { name } = request.params;
    context.access.authorize(request, name);
    const filters = parseFileFilters(request.query, context.config.maxFilters);
    const { pageSize, pageToken: rawToken, version: explicit, fields: rawFields } = parseParams(filesQuerySchema, request.query);
    const arrow = acceptsArrow(request.headers.accept) ? { fields: parseFields(rawFields) } : undefined;
    if (!arrow && rawFields !== undefined) throw new BadRequestError('fields applies to Arrow answers only (Accept: application/vnd.apache.arrow.stream)');
    const binding: PageBinding = { route: 'files', table: name, filters: canonicalFilters(filters) };
    const token = rawToken === undefined ? undefined : context.pageTokens.open('pageToken', rawToken, binding, positionSchema);
    if (token && pageSize === undefined) throw new BadRequestError('pageToken needs pageSize');
    if (token && explicit !== undefined && explicit !== token.version) throw new BadRequestError(`pageToken is for version ${token.version}, not ${explicit}`);
    const resolved = await context.versions.resolveRequest(request, name, request.query, token?.version);
    context.shadow.offer(resolved.table, resolved.version);
    const after: FileKeyPosition | undefined = token ? { path: token.position.p, dvId: token.position.d } : undefined;
    // A paged body carries a token signed with this reader's key: readers with other keys must not share it through L2.
    // Where a page ends depends on the byte bound too (filesBody): readers configured differently must not share pages.
    const ndjsonCanonical = [canonicalFilters(filters), pageSize ?? null, after ? [after.path, after.dvId] : null, pageSize === undefined ? null : [context.pageTokens.keyId, context.config.streamAboveBytes]];
    const canonical = JSON.stringify(arrow ? ['arrow', arrow.fields ?? null, ...ndjsonCanonical] : ndjsonCanonical);
    const files: FilesRequest = {
      filters, pageSize, after, wholeList: pageSize === undefined && !hasFilters(filters), arrow,
      nextToken: (version, position) => context.pageTokens.issue(binding, version, position),
    };
    if (files.wholeList && arrow) {
      // Streamed (segments, pages or rows), never through L2; a list from the Arrow segments small enough is kept in L1 as it goes.
      const etag = context.etags.of(resolved.table, resolved.version, 'files', canonical);
      if (clientHasContent(request.headers['if-none-match'], etag)) return sendNotModified(reply, resolved.version, etag);
      const streamWhole = async (): Promise<ArrowListStream> => {
        const found = await watchedWhile(reply.raw, () => streamArrowWholeList(context.streamPool, resolved.table, resolved.version, arrow.fields, {
          l3Enabled: context.config.l3Enabled, filePagesEnabled: context.config.filePagesEnabled, arrowSegmentsEnabled: context.config.arrowSegmentsEnabled,
          maxTailActions: context.config.maxTailActions,
        }));
        context.metrics.cacheRequestsTotal.inc({ level: found.level, result: 'hit' });
        return found;
      };
      if (context.responder.holds(etag)) {
        return context.responder.answer(request, reply, resolved, { route: 'files', canonical }, async () => {
          // Evicted since holds(): read it again, whole (it was small enough to keep).
          const found = await streamWhole();
          const chunks: Buffer[] = [];
          for await (const chunk of found.stream) chunks.push(chunk as Buffer);
          return { response: { version: resolved.version, contentType: arrowContentType, encoding: 'identity', body: Buffer.concat(chunks), headers: {} }, level: found.level, source: found.source };
        });
      }
      const startedMs = performance.now();
      const found = await streamWhole();
      const kept = found.bytes === undefined ? found : {
        ...found,
        stream: context.responder.keepStreamed(etag, found.stream, found.bytes, { version: resolved.version, contentType: arrowContentType, encoding: 'identity', headers: {} }),
      };
      sendArrowStream(request, reply, resolved.version, etag, kept, startedMs, context.config.streamSendTimeoutMs);
      return reply;
    }
    if (files.wholeList && (await context.responder.streamWholeList(request, reply, resolved, canonical))) return reply;
    return context.responder.answer(request, reply, resolved, { route: 'files', canonical }, async () => {
      const body = await inSnapshot(context.pool, (client) => filesBody(client, resolved, files, context.config));
      context.metrics.cacheRequestsTotal.inc({ level: body.level, result: 'hit' });
      const headers: Record<string, string> = body.nextPageToken ? { 'next-page-token': body.nextPageToken } : {};
      return { response: { version: resolved.version, contentType: arrow ? arrowContentType : ndjsonContentType, ...body.encoded, headers }, level: body.level, ...(body.source !== undefined ? { source: body.source } : {}) };
    });
  });
  done();
};
