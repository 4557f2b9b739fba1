/**
 * Delta Sharing's table endpoints (PROTOCOL.md of delta-io/delta-sharing):
 * `GET …/version` (and the deprecated `HEAD` of the table), `GET …/metadata`,
 * `POST …/query` and `GET …/changes`. Versions are resolved as /v1 resolves
 * them (table-context.ts); the answer's lines are read in one REPEATABLE
 * READ snapshot — a small one (version, metadata) on the main pool, a
 * streamed one (query, changes) on the reader's stream pool, cut off when
 * not sent within DELTAMETA_READER_STREAM_SEND_TIMEOUT_MS, gzipped for a
 * client that accepts it. The response format (parquet or delta) follows
 * the `delta-sharing-capabilities` header (responses.ts); `maxFiles` pages
 * with a signed `nextPageToken` in the endStreamAction, bound to the
 * recipient, the table and the request, and pinning the version.
 */
import { Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { PoolClient } from '../../../shared/db/index.ts';
import { tableHeader } from '../../../shared/log-store/index.ts';
import { acceptsGzip } from '../accept-encoding.ts';
import type { PageBinding } from '../page-token.ts';
import { inSnapshot, planInSnapshot } from '../snapshot-scope.ts';
import { boundSendTime, endingWith, inStreamSnapshot } from '../whole-list-stream.ts';
import { checkChangeDataFeed, versionAtOrAfter } from './changes-source.ts';
import { invalidParameter } from './errors.ts';
import { parseJsonPredicate } from './predicate-hints.ts';
import {
  chooseFormat, endStreamLine, metadataLine, parseCapabilities, protocolLine, responseCapabilities, wantsEndStream, type Capabilities, type ResponseFormat,
} from './responses.ts';
import { sharingRouteConfig } from './routes.ts';
import { resolveShared, sharedTableOf, signerFor, type SharingTableContext, type TableParams } from './table-context.ts';
import { changeLines, snapshotFileLines, type PageEnd, type SigningContext } from './table-lines.ts';
import { parseChangesQuery, parseMetadataQuery, parseQueryBody, parseVersionQuery } from './table-requests.ts';
import type { SharedTable } from './tables.ts';
import type { ResolvedVersion } from '../version-resolution.ts';

type TableRequest = FastifyRequest<{ Params: TableParams }>;

const ndjson = 'application/x-ndjson; charset=utf-8';
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

/** What a streamed answer needs besides its lines. */
interface Streamed {
  readonly version: number;
  readonly format: ResponseFormat;
  readonly level: string;
  readonly endStream: boolean;
  readonly stream: Readable;
}

function sendStreamed(request: FastifyRequest, reply: FastifyReply, context: SharingTableContext, streamed: Streamed, startedMs: number): FastifyReply {
  void reply.header('content-type', ndjson)
    .header('delta-table-version', String(streamed.version))
    .header('delta-sharing-capabilities', responseCapabilities(streamed.format, streamed.endStream))
    .header('cache-status', `deltameta; fwd=miss; detail=${streamed.level}`)
    .header('server-timing', `${streamed.level};dur=${(performance.now() - startedMs).toFixed(3)};desc="delta sharing, streamed"`);
  let body: Readable = streamed.stream;
  if (acceptsGzip(request.headers['accept-encoding'])) {
    const gzip = createGzip({ level: 1 });
    pipeline(streamed.stream, gzip, () => undefined);
    body = gzip;
    void reply.header('content-encoding', 'gzip');
  }
  const bounded = boundSendTime(context.config.streamSendTimeoutMs, () => reply.raw.destroy());
  pipeline(body, bounded, () => undefined);
  return reply.send(bounded);
}

/** Lines batched into chunks of ~256 KiB, the snapshot ended when they end (or the stream is destroyed). */
function linesStream(first: readonly string[], rest: AsyncGenerator<string>, last: () => string | undefined, finish: () => Promise<void>): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      let pending = first.join('');
      for await (const line of rest) {
        pending += line;
        if (pending.length >= 256 * 1024) {
          yield Buffer.from(pending, 'utf8');
          pending = '';
        }
      }
      pending += last() ?? '';
      if (pending !== '') yield Buffer.from(pending, 'utf8');
    } finally {
      await finish();
    }
  }
  return endingWith(Readable.from(chunks()), finish);
}

export function registerSharingTableRoutes(app: FastifyInstance, context: SharingTableContext): void {
  const config = sharingRouteConfig as FastifyContextConfig;
  const schema = { hide: true };
  const base = '/shares/:share/schemas/:schema/tables/:table';

  const version = async (request: TableRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { table } = await sharedTableOf(context, request);
    const startingTimestamp = request.method === 'GET' ? parseVersionQuery(request.query) : undefined;
    const resolved = await resolveShared(context, table, undefined);
    const found = startingTimestamp === undefined ? resolved.version
      : await inSnapshot(context.pool, (client) => versionAtOrAfter(client, table.tableId, resolved.table.logStartVersion, startingTimestamp, 'startingTimestamp'));
    return reply.header('delta-table-version', String(found)).code(200).send();
  };
  app.get<{ Params: TableParams }>(`${base}/version`, { config, schema }, version);
  // The protocol's deprecated form of the same question.
  app.head<{ Params: TableParams }>(base, { config, schema }, version);

  app.get<{ Params: TableParams }>(`${base}/metadata`, { config, schema }, async (request, reply) => {
    const { table } = await sharedTableOf(context, request);
    const at = parseMetadataQuery(request.query);
    const capabilities = parseCapabilities(request.headers['delta-sharing-capabilities']);
    const resolved = await resolveShared(context, table, at);
    const { format, lines } = await inSnapshot(context.pool, async (client) => {
      const header = await tableHeader(client, resolved.table.tableId, resolved.version);
      if (!header.metadata || !header.protocol) throw invalidParameter(`version ${resolved.version} of the table has no metadata or protocol`);
      const chosen = chooseFormat(capabilities, header.protocol, header.metadata);
      const facts = at === undefined ? {} : { version: resolved.version };
      return { format: chosen, lines: [protocolLine(chosen, header.protocol), metadataLine(chosen, header.metadata, facts)] };
    });
    return reply.header('content-type', ndjson).header('delta-table-version', String(resolved.version))
      .header('delta-sharing-capabilities', responseCapabilities(format, false)).send(lines.join(''));
  });

  app.post<{ Params: TableParams }>(`${base}/query`, { config, schema }, async (request, reply) => {
    const startedMs = performance.now();
    const { recipient, table } = await sharedTableOf(context, request);
    const query = parseQueryBody(request.body);
    const capabilities = parseCapabilities(request.headers['delta-sharing-capabilities']);
    const maxFiles = query.maxFiles === undefined ? undefined : Math.min(query.maxFiles, context.config.sharingMaxFiles);
    const endStream = wantsEndStream(capabilities) || maxFiles !== undefined;
    const expiresAtMs = Date.now() + context.config.sharingUrlTtlMs;
    const signer = signerFor(context, request);
    const binding = bindingOf(recipient.id, table, { mode: query.mode, hints: query.jsonPredicateHints ?? null, limit: query.limitHint ?? null, formats: capabilities.responseFormats });
    const end: PageEnd = { next: undefined };
    const endLine = (): string | undefined => {
      if (!endStream) return undefined;
      const next = end.next;
      const nextPageToken = next === undefined ? undefined
        : 'path' in next ? context.pageTokens.issue(binding, streamedVersion, { p: next.path, d: next.dvId })
          : context.pageTokens.issue(binding, streamedVersion, { f: changesFrom, v: next.version, o: next.ordinal });
      return endStreamLine({ ...(nextPageToken ? { nextPageToken } : {}), minUrlExpirationTimestamp: expiresAtMs });
    };
    let streamedVersion = 0;
    let changesFrom = 0;
    if (query.mode.kind === 'snapshot') {
      const token = query.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', query.pageToken, binding, snapshotPosition);
      const at = token ? { version: token.version } : query.mode.at;
      const resolved = await resolveShared(context, table, at);
      streamedVersion = resolved.version;
      const timeTravel = query.mode.at !== undefined;
      const streamed = await inStreamSnapshot(context.streamPool, async ({ client, finish }) => {
        const { format, lines } = await headerAt(client, resolved, capabilities);
        const plan = await planInSnapshot(client, resolved.table, resolved.version, context.config.l3Enabled, context.config.maxTailActions);
        const signing: SigningContext = { signer, table: resolved.table, expiresAtMs, format };
        const files = snapshotFileLines(client, plan, signing, {
          version: resolved.version, timeTravel, predicate: parseJsonPredicate(query.jsonPredicateHints), limitHint: query.limitHint, maxFiles,
          after: token ? { path: token.position.p, dvId: token.position.d } : undefined,
        }, end);
        return { version: resolved.version, format, level: plan.level, endStream, stream: linesStream(lines, files, endLine, finish) };
      });
      return sendStreamed(request, reply, context, streamed, startedMs);
    }
    const token = query.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', query.pageToken, binding, changesPosition);
    const latest = await resolveShared(context, table, token ? { version: token.version } : undefined);
    const from = query.mode.startingVersion;
    const to = token?.version ?? query.mode.endingVersion ?? latest.version;
    if (to > latest.version) throw invalidParameter(`endingVersion ${to} is after the latest version ${latest.version}`);
    if (from > to) throw invalidParameter(`startingVersion ${from} is after the latest version ${to}`);
    if (from < latest.table.logStartVersion) throw invalidParameter(`startingVersion ${from} is before the oldest version retained (${latest.table.logStartVersion})`);
    streamedVersion = to;
    changesFrom = from;
    const streamed = await inStreamSnapshot(context.streamPool, async ({ client, finish }) => {
      const { format, lines } = await headerAt(client, { table: latest.table, version: to }, capabilities);
      const signing: SigningContext = { signer, table: latest.table, expiresAtMs, format };
      const changes = changeLines(client, signing, {
        from, to, feed: 'data-changes', metadata: true, maxFiles, after: token ? { version: token.position.v, ordinal: token.position.o } : undefined,
      }, end);
      return { version: from, format, level: 'l4', endStream, stream: linesStream(lines, changes, endLine, finish) };
    });
    return sendStreamed(request, reply, context, streamed, startedMs);
  });

  app.get<{ Params: TableParams }>(`${base}/changes`, { config, schema }, async (request, reply) => {
    const startedMs = performance.now();
    const { recipient, table } = await sharedTableOf(context, request);
    const changes = parseChangesQuery(request.query);
    const capabilities = parseCapabilities(request.headers['delta-sharing-capabilities']);
    const maxFiles = changes.maxFiles === undefined ? undefined : Math.min(changes.maxFiles, context.config.sharingMaxFiles);
    const endStream = wantsEndStream(capabilities) || maxFiles !== undefined;
    const expiresAtMs = Date.now() + context.config.sharingUrlTtlMs;
    const signer = signerFor(context, request);
    const binding = bindingOf(recipient.id, table, { changes: true, start: changes.start, end: changes.end ?? null, history: changes.includeHistoricalMetadata, formats: capabilities.responseFormats });
    const token = changes.pageToken === undefined ? undefined : context.pageTokens.open('pageToken', changes.pageToken, binding, changesPosition);
    const latest = await resolveShared(context, table, token ? { version: token.version } : undefined);
    const range = token ? { from: token.position.f, to: token.version } : await inSnapshot(context.pool, async (client) => {
      const from = 'version' in changes.start ? changes.start.version
        : await versionAtOrAfter(client, table.tableId, latest.table.logStartVersion, changes.start.timestampMs, 'startingTimestamp');
      const to = changes.end === undefined ? latest.version
        : 'version' in changes.end ? changes.end.version : (await resolveShared(context, table, changes.end)).version;
      return { from, to };
    });
    if (range.to > latest.version) throw invalidParameter(`endingVersion ${range.to} is after the latest version ${latest.version}`);
    if (range.from > range.to) throw invalidParameter(`the start (version ${range.from}) is after the end (version ${range.to})`);
    if (range.from < latest.table.logStartVersion) throw invalidParameter(`startingVersion ${range.from} is before the oldest version retained (${latest.table.logStartVersion})`);
    const end: PageEnd = { next: undefined };
    const endLine = (): string | undefined => {
      if (!endStream) return undefined;
      const next = end.next;
      const nextPageToken = next === undefined || 'path' in next ? undefined
        : context.pageTokens.issue(binding, range.to, { f: range.from, v: next.version, o: next.ordinal });
      return endStreamLine({ ...(nextPageToken ? { nextPageToken } : {}), minUrlExpirationTimestamp: expiresAtMs });
    };
    const streamed = await inStreamSnapshot(context.streamPool, async ({ client, finish }) => {
      await checkChangeDataFeed(client, table.tableId, range.from, range.to);
      const { format, lines } = await headerAt(client, { table: latest.table, version: range.to }, capabilities);
      const signing: SigningContext = { signer, table: latest.table, expiresAtMs, format };
      const feed = changeLines(client, signing, {
        from: range.from, to: range.to, feed: 'cdf', metadata: changes.includeHistoricalMetadata, maxFiles,
        after: token ? { version: token.position.v, ordinal: token.position.o } : undefined,
      }, end);
      return { version: range.from, format, level: 'l4', endStream, stream: linesStream(lines, feed, endLine, finish) };
    });
    return sendStreamed(request, reply, context, streamed, startedMs);
  });
}
