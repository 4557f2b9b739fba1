/**
 * What the Delta Sharing table endpoints share: the context the plugin gives
 * them, the shared table a request names (authenticated recipient → share →
 * schema → table, each case-insensitive, an ungranted share answered like a
 * missing one), the version a request names (through the reader's
 * VersionResolver: the same rules as /v1 — no version PostgreSQL has not
 * confirmed, 404 unknown, 400 past retention), and the signer of the
 * answer's file URLs.
 */
import type { FastifyRequest } from 'fastify';
import type { ReaderConfig } from '../../../shared/config/index.ts';
import type { Pool } from '../../../shared/db/index.ts';
import type { ReaderMetrics } from '../../../shared/metrics/index.ts';
import type { SharingRecipient } from '../../../shared/sharing/index.ts';
import type { PageTokens } from '../page-token.ts';
import type { ResolvedVersion, VersionResolver } from '../version-resolution.ts';
import { authenticateRecipient } from './auth.ts';
import type { SharingConfigCache } from './config-cache.ts';
import { invalidParameter, resourceMissing } from './errors.ts';
import { HmacFileUrlSigner, type FileUrlSigner } from './file-urls.ts';
import { resolveSharedTables, type SharedTable } from './tables.ts';

export interface SharingTableContext {
  readonly pool: Pool;
  /** the reader's stream pool: answers streamed from a snapshot hold one of its few connections, never the main pool's */
  readonly streamPool: Pool;
  readonly configs: SharingConfigCache;
  readonly versions: VersionResolver;
  readonly pageTokens: PageTokens;
  readonly config: ReaderConfig;
  /** the HMAC key of the file URLs (file-urls.ts sharingUrlKey) */
  readonly urlKey: Buffer;
  /** a signer of another kind (an object store's presigner); default: the reader's own HMAC URLs */
  readonly signer?: FileUrlSigner;
  /** the reader's metrics: streamed answers count in deltameta_reader_cache_requests_total by the level that produced them, as /v1's */
  readonly metrics?: ReaderMetrics;
}

export interface TableParams {
  share: string;
  schema: string;
  table: string;
}

export async function sharedTableOf(context: SharingTableContext, request: FastifyRequest<{ Params: TableParams }>): Promise<{ recipient: SharingRecipient; table: SharedTable }> {
  const catalog = await context.configs.catalog();
  const recipient = authenticateRecipient(request, catalog);
  const { params } = request;
  const share = catalog.shareOf(recipient, params.share);
  const schema = catalog.schemaOf(share, params.schema);
  const wanted = params.table.toLowerCase();
  const table = (await resolveSharedTables(context.pool, share, catalog.entriesOf(share, schema))).find((candidate) => candidate.name === wanted);
  if (table === undefined) throw resourceMissing(`table ${share.name}.${schema}.${params.table} does not exist`);
  return { recipient, table };
}

export type VersionAt = { readonly version: number } | { readonly timestampMs: number } | undefined;

/** The version `at` names (undefined: the latest), with the table row it was resolved on. */
export async function resolveShared(context: SharingTableContext, table: SharedTable, at: VersionAt): Promise<ResolvedVersion> {
  const resolved = at === undefined ? await context.versions.resolve(table.table, { kind: 'latest' })
    : 'version' in at ? await context.versions.resolve(table.table, { kind: 'version', version: at.version })
      : await context.versions.resolve(table.table, { kind: 'timestamp', timestampMs: at.timestampMs });
  // Dropped and created again under the name since the share was resolved: another table, not this one.
  if (resolved.table.tableId !== table.tableId) throw resourceMissing(`table ${table.share}.${table.schema}.${table.name} does not exist`);
  return resolved;
}

const hostHeader = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * Where this request's file URLs point: DELTAMETA_READER_SHARING_PUBLIC_URL,
 * else the scheme and Host the recipient used, and the prefix. A Host that
 * is not a host name (or address) and port is refused: it would be written
 * into every URL of the answer.
 */
export function signerFor(context: SharingTableContext, request: FastifyRequest): FileUrlSigner {
  if (context.signer) return context.signer;
  let baseUrl = context.config.sharingPublicUrl;
  if (baseUrl === undefined) {
    const host = request.headers.host ?? '';
    if (!hostHeader.test(host)) throw invalidParameter('the Host header is not a host name and port: file URLs cannot be built from it');
    baseUrl = `${request.protocol}://${host}${context.config.sharingPrefix}`;
  }
  return new HmacFileUrlSigner({ baseUrl, key: context.urlKey });
}
