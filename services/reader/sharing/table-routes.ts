/**
 * Delta Sharing's table endpoints (PROTOCOL.md of delta-io/delta-sharing):
 * `GET …/version` (and the deprecated `HEAD` of the table), `GET …/metadata`,
 * `POST …/query` and `GET …/changes`. Versions are resolved as /v1 resolves
 * them (table-context.ts); the answer's lines are read in one REPEATABLE
 * READ snapshot: metadata, and query and changes answers when small, through
 * the cache levels; bigger ones streamed (answers.ts). The
 * response format (parquet or delta) follows
 * the `delta-sharing-capabilities` header (responses.ts); `maxFiles` pages
 * with a signed `nextPageToken` in the endStreamAction, bound to the
 * recipient, the table and the request, and pinning the version.
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { PoolClient } from '../../../shared/db/index.ts';
import { tableHeader } from '../../../shared/log-store/index.ts';
import { physicalFiltersAt } from '../column-filters.ts';
import type { PageBinding } from '../page-token.ts';
import { inSnapshot, planInSnapshot } from '../snapshot-scope.ts';
import type { ResolvedVersion } from '../version-resolution.ts';
import { bucketedExpiry, rangeActionCount, sendAnswer, watermarkFileCount, type SendContext } from './answers.ts';
import { checkChangeDataFeed, versionAtOrAfter } from './changes-source.ts';
import { invalidParameter } from './errors.ts';
import { parseJsonPredicate } from './predicate-hints.ts';
import { partitionEqualities } from './predicate-pushdown.ts';
import {
  chooseFormat, endStreamLine, metadataLine, parseCapabilities, protocolLine, wantsEndStream, type Capabilities, type ResponseFormat,
} from './responses.ts';
import { sharingRouteConfig } from './routes.ts';
import { resolveShared, sharedTableOf, signerFor, type SharingTableContext, type TableParams } from './table-context.ts';
import { changeLines, snapshotFileLines, type PageEnd } from './table-lines.ts';
import { parseChangesQuery, parseMetadataQuery, parseQueryBody, parseVersionQuery } from './table-requests.ts';
import type { SharedTable } from './tables.ts';

type TableRequest = FastifyRequest<{ Params: TableParams }>;

const snapshotPosition = z.object({ p: z.string(), d: z.string() });
const changesPosition = z.object({ f: z.number().int(), v: z.number().int(), o: z.number().int() });

async function headerAt(client: PoolClient, resolved: ResolvedVersion, capabilities: Capabilities): Promise<{ format: ResponseFormat; lines: string[] }> {
  const header = await tableHeader(client, resolved.table.tableId, resolved.version);
  if (!header.metadata || !header.protocol) throw invalidParameter(`version ${resolved.version} of the table has no metadata or protocol`);
  const format = chooseFormat(capabilities, header.protocol, header.metadata);
  return { format, lines: [protocolLine(format, header.protocol), metadataLine(format, header.metadata)] };
}

function bindingOf(recipientId: string, table: SharedTable, request: unknown): PageBinding {
  return { route: 'files', table: `delta-sharing ${recipientId} ${table.id}`, filters: JSON.stringify(request) };
}

async function* noLines(): AsyncGenerator<string> {
  // an answer of header lines only (metadata)
}

/** The header lines, the body lines, then the endStreamAction when there is one (it says where the page ended). */
async function* answerLines(header: readonly string[], body: AsyncGenerator<string>, last: () => string | undefined): AsyncGenerator<string> {
  yield* header;
  yield* body;
  const end = last();
  if (end !== undefined) yield end;
}

export type SharingTableRoutesContext = SendContext;

export function registerSharingTableRoutes(app: FastifyInstance, context: SharingTableRoutesContext): void {
  const config = sharingRouteConfig as FastifyContextConfig;
  const schema = { hide: true };
  const base = '/shares/:share/schemas/:schema/tables/:table';
  const keepMaxFiles = context.config.sharingKeepMaxFiles;

  const version = async (request: TableRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const startedMs = performance.now();
    const { table } = await sharedTableOf(context, request);
    const startingTimestamp = request.method === 'GET' ? parseVersionQuery(request.query) : undefined;
    const resolved = await resolveShared(context, table, undefined);
    const found = startingTimestamp === undefined ? resolved.version
      : await inSnapshot(context.pool, (client) => versionAtOrAfter(client, table.tableId, resolved.table.logStartVersion, startingTimestamp, 'startingTimestamp'));
    // The latest is the head the reader tracks (confirmed by PostgreSQL); a timestamp is looked up in the log (l4).
    const source = startingTimestamp === undefined ? 'head' : 'l4';
    return reply.header('delta-table-version', String(found))
      .header('server-timing', `${source};dur=${(performance.now() - startedMs).toFixed(3)};desc="delta sharing version"`).code(200).send();
  };
  app.get<{ Params: TableParams }>(`${base}/version`, { config, schema }, version);
  // The protocol's deprecated form of the same question.
  app.head<{ Params: TableParams }>(base, { config, schema }, version);

  app.get<{ Params: TableParams }>(`${base}/metadata`, { config, schema }, async (request, reply) => {
    const { table } = await sharedTableOf(context, request);
    const at = parseMetadataQuery(request.query);
    const capabilities = parseCapabilities(request.headers['delta-sharing-capabilities']);
    const resolved = await resolveShared(context, table, at);
    // Through the cache levels as query answers go: what shapes the bytes is the version (when asked) and the capabilities.
    const cacheKey = ['metadata', at === undefined ? null : resolved.version, capabilities.responseFormats, capabilities.readerFeatures === undefined ? null : [...capabilities.readerFeatures].sort()];
    return sendAnswer(request, reply, context, {
      resolved, endStream: false, cacheKey,
      build: async (client) => {
        const { format, lines } = await headerAt(client, resolved, capabilities);
        const header = at === undefined ? lines : [lines[0] as string, metadataAtVersion(lines[1] as string, resolved.version)];
        return { format, level: 'l4', lines: answerLines(header, noLines(), () => undefined) };
      },
    });
  });

  app.post<{ Params: TableParams }>(`${base}/query`, { config, schema }, async (request, reply) => {
    const query = parseQueryBody(request.body);
    const { recipient, table, capabilities, maxFiles, endStream, expiresAtMs, signer } = await answerTerms(context, request, query.maxFiles);
    const shape = { mode: query.mode, hints: query.jsonPredicateHints ?? null, limit: query.limitHint ?? null, formats: capabilities.responseFormats, all: [...capabilities.all] };
    const binding = bindingOf(recipient.id, table, shape);
    const end: PageEnd = { next: undefined };
    const cacheKey = (small: boolean, ...more: unknown[]): unknown[] | undefined => (small && signer.cacheKey !== undefined ? [shape, maxFiles ?? null, signer.cacheKey ?? null, expiresAtMs, ...more] : undefined);
    if (query.mode.kind === 'snapshot') {
      const token = query.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', query.pageToken, binding, snapshotPosition);
      const resolved = await resolveShared(context, table, token ? { version: token.version } : query.mode.at);
      const after = token ? { path: token.position.p, dvId: token.position.d } : undefined;
      const timeTravel = query.mode.at !== undefined;
      const small = maxFiles !== undefined ? maxFiles <= keepMaxFiles : ((await watermarkFileCount(context.pool, table.tableId)) ?? Infinity) <= keepMaxFiles;
      // A big table's answer cut by a limit or pruned by hints may be small: tried through the cache levels, streamed if not.
      const narrowed = !small && maxFiles === undefined && (query.limitHint !== undefined || query.jsonPredicateHints !== undefined)
        ? JSON.stringify([shape, after ?? null]) : undefined;
      const endLine = (): string | undefined => {
        if (!endStream) return undefined;
        const next = end.next !== undefined && 'path' in end.next ? end.next : undefined;
        const nextPageToken = next === undefined ? undefined : context.pageTokens.issue(binding, resolved.version, { p: next.path, d: next.dvId });
        return endStreamLine({ ...(nextPageToken ? { nextPageToken } : {}), minUrlExpirationTimestamp: expiresAtMs });
      };
      return sendAnswer(request, reply, context, {
        resolved, endStream, cacheKey: cacheKey(small || narrowed !== undefined, after ?? null), ...(narrowed === undefined ? {} : { narrowed }),
        build: async (client) => {
          const { format, lines } = await headerAt(client, resolved, capabilities);
          const plan = await planInSnapshot(client, resolved.table, resolved.version, context.config.l3Enabled, context.config.maxTailActions);
          const predicate = parseJsonPredicate(query.jsonPredicateHints);
          const partitions = partitionEqualities(predicate, partitionColumnsOf(lines[1] as string));
          const filters = await physicalFiltersAt(client, resolved.table.tableId, resolved.version, { partitions, stats: [] });
          const files = snapshotFileLines(client, plan, { signer, table: resolved.table, expiresAtMs, format }, {
            version: resolved.version, timeTravel, predicate, limitHint: query.limitHint, maxFiles, after, filters,
          }, end);
          const header = timeTravel ? [lines[0] as string, metadataAtVersion(lines[1] as string, resolved.version)] : lines;
          return { format, level: plan.level, lines: answerLines(header, files, endLine) };
        },
      });
    }
    const token = query.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', query.pageToken, binding, changesPosition);
    const latest = await resolveShared(context, table, token ? { version: token.version } : undefined);
    const from = query.mode.startingVersion;
    const to = token?.version ?? query.mode.endingVersion ?? latest.version;
    checkRange(from, to, latest);
    const after = token ? { version: token.position.v, ordinal: token.position.o } : undefined;
    const small = maxFiles !== undefined ? maxFiles <= keepMaxFiles : (await rangeActionCount(context.pool, table.tableId, from, to)) <= keepMaxFiles;
    const endLine = changesEndLine(context, binding, endStream, end, from, to, expiresAtMs);
    return sendAnswer(request, reply, context, {
      resolved: { table: latest.table, version: from }, endStream, cacheKey: cacheKey(small, from, to, after ?? null),
      build: async (client) => {
        const { format, lines } = await headerAt(client, { table: latest.table, version: to }, capabilities);
        const changes = changeLines(client, { signer, table: latest.table, expiresAtMs, format }, { from, to, feed: 'data-changes', metadata: true, maxFiles, after }, end);
        return { format, level: 'l4', lines: answerLines(lines, changes, endLine) };
      },
    });
  });

  app.get<{ Params: TableParams }>(`${base}/changes`, { config, schema }, async (request, reply) => {
    const changes = parseChangesQuery(request.query);
    const { recipient, table, capabilities, maxFiles, endStream, expiresAtMs, signer } = await answerTerms(context, request, changes.maxFiles);
    const shape = { changes: true, start: changes.start, end: changes.end ?? null, history: changes.includeHistoricalMetadata, formats: capabilities.responseFormats, all: [...capabilities.all] };
    const binding = bindingOf(recipient.id, table, shape);
    const token = changes.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', changes.pageToken, binding, changesPosition);
    const latest = await resolveShared(context, table, token ? { version: token.version } : undefined);
    const range = token ? { from: token.position.f, to: token.version } : await inSnapshot(context.pool, async (client) => {
      const from = 'version' in changes.start ? changes.start.version
        : await versionAtOrAfter(client, table.tableId, latest.table.logStartVersion, changes.start.timestampMs, 'startingTimestamp');
      const to = changes.end === undefined ? latest.version
        : 'version' in changes.end ? changes.end.version : (await resolveShared(context, table, changes.end)).version;
      return { from, to };
    });
    checkRange(range.from, range.to, latest);
    const after = token ? { version: token.position.v, ordinal: token.position.o } : undefined;
    const small = maxFiles !== undefined ? maxFiles <= keepMaxFiles : (await rangeActionCount(context.pool, table.tableId, range.from, range.to)) <= keepMaxFiles;
    const end: PageEnd = { next: undefined };
    const endLine = changesEndLine(context, binding, endStream, end, range.from, range.to, expiresAtMs);
    return sendAnswer(request, reply, context, {
      resolved: { table: latest.table, version: range.from }, endStream,
      cacheKey: small && signer.cacheKey !== undefined ? [shape, maxFiles ?? null, signer.cacheKey ?? null, expiresAtMs, range.from, range.to, after ?? null] : undefined,
      build: async (client) => {
        await checkChangeDataFeed(client, table.tableId, range.from, range.to);
        // With historical metadata the header is the metaData as of the start, saying its version (PROTOCOL.md, "Metadata").
        const headerVersion = changes.includeHistoricalMetadata ? range.from : range.to;
        const { format, lines: header } = await headerAt(client, { table: latest.table, version: headerVersion }, capabilities);
        const lines = changes.includeHistoricalMetadata ? [header[0] as string, metadataAtVersion(header[1] as string, headerVersion)] : header;
        const feed = changeLines(client, { signer, table: latest.table, expiresAtMs, format }, {
          from: range.from, to: range.to, feed: 'cdf', metadata: changes.includeHistoricalMetadata, maxFiles, after,
        }, end);
        return { format, level: 'l4', lines: answerLines(lines, feed, endLine) };
      },
    });
  });
}

/**
 * What a query or changes request is answered with besides its lines: the
 * recipient and table (authenticated, resolved), the capabilities, the page
 * size (at most DELTAMETA_READER_SHARING_MAX_FILES), whether an
 * endStreamAction ends it, the URLs' expiry and their signer.
 */
async function answerTerms(context: SharingTableContext, request: TableRequest, askedMaxFiles: number | undefined) {
  const { recipient, table } = await sharedTableOf(context, request);
  const capabilities = parseCapabilities(request.headers['delta-sharing-capabilities']);
  const maxFiles = askedMaxFiles === undefined ? undefined : Math.min(askedMaxFiles, context.config.sharingMaxFiles);
  return {
    recipient, table, capabilities, maxFiles,
    endStream: wantsEndStream(capabilities) || maxFiles !== undefined,
    expiresAtMs: bucketedExpiry(Date.now(), context.config.sharingUrlTtlMs),
    signer: signerFor(context, request),
  };
}

/** A range of versions a changes answer may cover: within the retained log, the start not after the end. */
function checkRange(from: number, to: number, latest: ResolvedVersion): void {
  if (to > latest.version) throw invalidParameter(`the end (version ${to}) is after the latest version ${latest.version}`);
  if (from > to) throw invalidParameter(`the start (version ${from}) is after the end (version ${to})`);
  if (from < latest.table.logStartVersion) throw invalidParameter(`the start (version ${from}) is before the oldest version retained (${latest.table.logStartVersion})`);
}

function changesEndLine(context: SharingTableContext, binding: PageBinding, endStream: boolean, end: PageEnd, from: number, to: number, expiresAtMs: number): () => string | undefined {
  return () => {
    if (!endStream) return undefined;
    const next = end.next !== undefined && 'version' in end.next ? end.next : undefined;
    const nextPageToken = next === undefined ? undefined : context.pageTokens.issue(binding, to, { f: from, v: next.version, o: next.ordinal });
    return endStreamLine({ ...(nextPageToken ? { nextPageToken } : {}), minUrlExpirationTimestamp: expiresAtMs });
  };
}

/** The metaData line of a version or timestamp query carries the version (PROTOCOL.md, "Metadata"). */
function metadataAtVersion(line: string, version: number): string {
  const parsed = JSON.parse(line) as { metaData: Record<string, unknown> };
  return `${JSON.stringify({ metaData: { ...parsed.metaData, version } })}\n`;
}

/** The partition columns a metaData line names (parquet format: metaData.partitionColumns; delta: metaData.deltaMetadata.partitionColumns). */
function partitionColumnsOf(line: string): string[] {
  const parsed = JSON.parse(line) as { metaData: { partitionColumns?: string[]; deltaMetadata?: { partitionColumns?: string[] } } };
  return parsed.metaData.partitionColumns ?? parsed.metaData.deltaMetadata?.partitionColumns ?? [];
}
