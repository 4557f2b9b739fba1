/**
 * The Delta Sharing discovery endpoints (PROTOCOL.md, "REST APIs"): list
 * shares, get a share, list a share's schemas, a schema's tables, and all
 * of a share's tables. Each authenticates the recipient first (auth.ts),
 * then validates its parameters; every answer is JSON, errors
 * `{"errorCode","message"}` (errors.ts). Routes carry `sharing: true` in
 * their config: the /v1 access hook leaves them to this authentication.
 */
import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify';
import type { Pool } from '../../../shared/db/index.ts';
import type { SharingRecipient } from '../../../shared/sharing/index.ts';
import type { PageTokens } from '../page-token.ts';
import { authenticateRecipient } from './auth.ts';
import type { SharingCatalog } from './catalog.ts';
import type { SharingConfigCache } from './config-cache.ts';
import { pageOf, pageRequestOf, type Page } from './paging.ts';
import { resolveSharedTables, type SharedTable } from './tables.ts';

export interface SharingRouteContext {
  readonly pool: Pool;
  readonly configs: SharingConfigCache;
  readonly pageTokens: PageTokens;
}

/** Route config of every sharing route (access-hooks.ts, isSharingRoute). */
export const sharingRouteConfig = { sharing: true } as const;

interface ShareParams {
  share: string;
}
interface SchemaParams extends ShareParams {
  schema: string;
}

function listBody<T, U>(page: Page<T>, item: (value: T) => U): { items: U[]; nextPageToken?: string } {
  return { items: page.items.map(item), ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }) };
}

function tableItem(table: SharedTable): { name: string; schema: string; share: string; shareId: string; id: string } {
  return { name: table.name, schema: table.schema, share: table.share, shareId: table.shareId, id: table.id };
}

async function admitted(context: SharingRouteContext, request: FastifyRequest): Promise<{ catalog: SharingCatalog; recipient: SharingRecipient }> {
  const catalog = await context.configs.catalog();
  return { catalog, recipient: authenticateRecipient(request, catalog) };
}

export function registerSharingRoutes(app: FastifyInstance, context: SharingRouteContext): void {
  const { pool, pageTokens } = context;
  // A custom key: Fastify's config type declares none, so it is widened to it.
  const config = sharingRouteConfig as FastifyContextConfig;
  // Not in the reader's /v1 OpenAPI document: the protocol (PROTOCOL.md) is their description.
  const schema = { hide: true };

  app.get('/shares', { config, schema }, async (request) => {
    const { catalog, recipient } = await admitted(context, request);
    const paging = pageRequestOf(request.query);
    const page = pageOf(catalog.sharesOf(recipient), (share) => [share.name], paging, pageTokens, { list: 'shares', of: '', recipientId: recipient.id });
    return listBody(page, (share) => ({ name: share.name, id: share.id }));
  });

  app.get<{ Params: ShareParams }>('/shares/:share', { config, schema }, async (request) => {
    const { catalog, recipient } = await admitted(context, request);
    const share = catalog.shareOf(recipient, request.params.share);
    return { share: { name: share.name, id: share.id } };
  });

  app.get<{ Params: ShareParams }>('/shares/:share/schemas', { config, schema }, async (request) => {
    const { catalog, recipient } = await admitted(context, request);
    const share = catalog.shareOf(recipient, request.params.share);
    const paging = pageRequestOf(request.query);
    const page = pageOf(catalog.schemasOf(share), (schema) => [schema], paging, pageTokens, { list: 'schemas', of: share.name, recipientId: recipient.id });
    return listBody(page, (schema) => ({ name: schema, share: share.name }));
  });

  app.get<{ Params: SchemaParams }>('/shares/:share/schemas/:schema/tables', { config, schema }, async (request) => {
    const { catalog, recipient } = await admitted(context, request);
    const share = catalog.shareOf(recipient, request.params.share);
    const schema = catalog.schemaOf(share, request.params.schema);
    const paging = pageRequestOf(request.query);
    const tables = await resolveSharedTables(pool, share, catalog.entriesOf(share, schema));
    const page = pageOf(tables, (table) => [table.name], paging, pageTokens, { list: 'tables', of: `${share.name}.${schema}`, recipientId: recipient.id });
    return listBody(page, tableItem);
  });

  app.get<{ Params: ShareParams }>('/shares/:share/all-tables', { config, schema }, async (request) => {
    const { catalog, recipient } = await admitted(context, request);
    const share = catalog.shareOf(recipient, request.params.share);
    const paging = pageRequestOf(request.query);
    const tables = await resolveSharedTables(pool, share, catalog.entriesOf(share));
    const page = pageOf(tables, (table) => [table.schema, table.name], paging, pageTokens, { list: 'all-tables', of: share.name, recipientId: recipient.id });
    return listBody(page, tableItem);
  });
}
