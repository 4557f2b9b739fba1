/**
 * The list endpoints' `maxResults` and `pageToken` (PROTOCOL.md, "List
 * Shares"). maxResults: an Int32 >= 0, default 500, at most 1000 per page
 * (more is served as 1000: the protocol lets a server return fewer). The
 * next page token is the reader's signed page token (page-token.ts): the key
 * after which the next page starts, bound to the recipient and the list, so
 * a token is opaque, cannot be altered (400) and cannot continue another
 * list. Keyset, not offset: an item added or removed between pages neither
 * repeats nor hides the others.
 */
import { z } from 'zod';
import type { PageTokens } from '../page-token.ts';
import { invalidParameter } from './errors.ts';
import { compareKeys } from './tables.ts';

export const defaultMaxResults = 500;
export const maxPageSize = 1000;
const int32Max = 2_147_483_647;

export interface PageRequest {
  readonly maxResults: number;
  readonly pageToken: string | undefined;
}

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`${name} is given more than once`);
  return value;
}

export function pageRequestOf(query: unknown): PageRequest {
  const params = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  const raw = single(params, 'maxResults');
  let maxResults = defaultMaxResults;
  if (raw !== undefined) {
    if (!/^\d{1,10}$/.test(raw) || Number(raw) > int32Max) throw invalidParameter(`maxResults must be an integer from 0 to ${int32Max}, got ${JSON.stringify(raw)}`);
    maxResults = Math.min(Number(raw), maxPageSize);
  }
  const pageToken = single(params, 'pageToken');
  return { maxResults, pageToken: pageToken === '' ? undefined : pageToken };
}

/** What a list is, for its page tokens: which list, of what, for whom. */
export interface SharingList {
  readonly list: 'shares' | 'schemas' | 'tables' | 'all-tables';
  /** the share (and schema) listed; '' for shares */
  readonly of: string;
  readonly recipientId: string;
}

const positionSchema = z.object({ sharing: z.string(), after: z.array(z.string()).nullable() });

export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken?: string;
}

/** One page of `items` (any order: sorted here by `keyOf`). */
export function pageOf<T>(items: readonly T[], keyOf: (item: T) => string[], request: PageRequest, tokens: PageTokens, list: SharingList): Page<T> {
  const binding = { route: 'tables' as const, table: `delta-sharing ${list.recipientId}`, filters: `${list.list}\u0000${list.of}` };
  const after = request.pageToken === undefined ? null : tokens.open('pageToken', request.pageToken, binding, positionSchema).position;
  if (after !== null && after.sharing !== list.list) throw invalidParameter(`pageToken was issued for another list, not ${list.list}`);
  const sorted = [...items].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  const from = after?.after == null ? 0 : sorted.findIndex((item) => compareKeys(keyOf(item), after.after ?? []) > 0);
  const start = from === -1 ? sorted.length : from;
  const page = sorted.slice(start, start + request.maxResults);
  if (start + request.maxResults >= sorted.length) return { items: page };
  const last = page.at(-1);
  const position = { sharing: list.list, after: last === undefined ? (after?.after ?? null) : keyOf(last) };
  return { items: page, nextPageToken: tokens.issue(binding, -1, position) };
}
