/**
 * The Delta Sharing configuration (sql/000014_sharing.sql) as one value:
 * shares, their schemas, table entries (a named table or a prefix),
 * recipients with the SHA-256 of their token, and their grants. It is small
 * (an operator's list), so it is read whole, in one query, by the reader's
 * cache and by `deltameta sharing list`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Pool, PoolClient } from '../db/index.ts';

export interface SharingShare {
  readonly id: string;
  readonly name: string;
}

export interface SharingSchema {
  readonly shareId: string;
  readonly name: string;
}

/** A named deltameta table shared as `sharedAs`, or every deltameta table whose name starts with `prefix`. */
export interface SharingTableEntry {
  readonly entryId: string;
  readonly shareId: string;
  readonly schema: string;
  readonly tableName: string | null;
  readonly sharedAs: string | null;
  readonly prefix: string | null;
}

export interface SharingRecipient {
  readonly id: string;
  readonly name: string;
  /** SHA-256 of the bearer token (the token itself is never stored) */
  readonly tokenSha256: Buffer;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revoked: boolean;
  readonly shareIds: readonly string[];
}

export interface SharingConfig {
  readonly shares: readonly SharingShare[];
  readonly schemas: readonly SharingSchema[];
  readonly tables: readonly SharingTableEntry[];
  readonly recipients: readonly SharingRecipient[];
}

const configSchema = z.object({
  shares: z.array(z.object({ id: z.string(), name: z.string() })),
  schemas: z.array(z.object({ shareId: z.string(), name: z.string() })),
  tables: z.array(z.object({
    entryId: z.string(), shareId: z.string(), schema: z.string(),
    tableName: z.string().nullable(), sharedAs: z.string().nullable(), prefix: z.string().nullable(),
  })),
  recipients: z.array(z.object({
    id: z.string(), name: z.string(), tokenSha256: z.string(), createdAt: z.string(), expiresAt: z.string().nullable(),
    revoked: z.boolean(), shareIds: z.array(z.string()),
  })),
});

/** Everything, in one statement (one snapshot): the shares, schemas and entries in name order. */
const loadQuery = `
SELECT json_build_object(
  'shares', (SELECT coalesce(json_agg(json_build_object('id', share_id, 'name', name) ORDER BY name), '[]')
               FROM deltameta.sharing_share),
  'schemas', (SELECT coalesce(json_agg(json_build_object('shareId', share_id, 'name', name) ORDER BY share_id, name), '[]')
                FROM deltameta.sharing_schema),
  'tables', (SELECT coalesce(json_agg(json_build_object('entryId', entry_id, 'shareId', share_id, 'schema', schema_name,
                     'tableName', table_name, 'sharedAs', shared_as, 'prefix', table_prefix)
                     ORDER BY share_id, schema_name, coalesce(shared_as, table_prefix)), '[]')
               FROM deltameta.sharing_table),
  'recipients', (SELECT coalesce(json_agg(json_build_object('id', r.recipient_id, 'name', r.name,
                     'tokenSha256', encode(r.token_sha256, 'hex'), 'createdAt', r.created_at, 'expiresAt', r.expires_at,
                     'revoked', r.revoked,
                     'shareIds', (SELECT coalesce(json_agg(g.share_id ORDER BY g.share_id), '[]')
                                    FROM deltameta.sharing_grant g WHERE g.recipient_id = r.recipient_id))
                     ORDER BY r.name), '[]')
                   FROM deltameta.sharing_recipient r)
) AS config`;

export async function loadSharingConfig(db: Pool | PoolClient): Promise<SharingConfig> {
  const { rows } = await db.query<{ config: unknown }>(loadQuery);
  const parsed = configSchema.parse(rows[0]?.config);
  return {
    shares: parsed.shares,
    schemas: parsed.schemas,
    tables: parsed.tables,
    recipients: parsed.recipients.map((recipient) => ({
      ...recipient,
      tokenSha256: Buffer.from(recipient.tokenSha256, 'hex'),
      createdAt: new Date(recipient.createdAt),
      expiresAt: recipient.expiresAt === null ? null : new Date(recipient.expiresAt),
    })),
  };
}

/**
 * The protocol's table `id` of a deltameta table reached through a prefix
 * entry: stable for that entry and that table (its table_id: a table dropped
 * and created again is another table), unique within the share. A UUID
 * (version 8, RFC 9562) from SHA-256 of both.
 */
export function tableIdFor(entryId: string, tableId: number | string): string {
  const bytes = createHash('sha256').update(`${entryId}/${String(tableId)}`, 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
