/**
 * Conditional requests (RFC 9110 section 13.1.2): the strong ETag of an
 * answer and If-None-Match. A table answer's ETag is a digest of (table,
 * version, route, canonical query), so it is known before the body is
 * read and a client that has it gets 304 without any cache level being
 * asked. Its gzip representation carries the tag with a "-gzip" suffix.
 *
 * If-None-Match is parsed by hand: neither Fastify nor a dependency of this
 * project parses it, and the grammar is a dozen lines.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** `*`, or the opaque tags listed (without quotes; W/ dropped: If-None-Match compares weakly). */
export type IfNoneMatch = { readonly any: true } | { readonly any: false; readonly opaqueTags: readonly string[] };

/** etagc (RFC 9110 section 8.8.3): visible characters but DQUOTE, and obs-text. */
const etagChars = /^[\x21\x23-\x7e\x80-\xff]*$/;

/**
 * The field's value; undefined when absent or malformed. A malformed field
 * is ignored (answered as if absent): a 200 is always right, a 304 the
 * client cannot match is not.
 */
export function parseIfNoneMatch(header: string | undefined): IfNoneMatch | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return { any: true };
  const opaqueTags: string[] = [];
  let at = 0;
  const skip = (pattern: RegExp): void => {
    while (at < header.length && pattern.test(header.charAt(at))) at++;
  };
  for (;;) {
    // A list (RFC 9110 section 5.6.1): empty elements and whitespace around commas are allowed.
    skip(/[ \t,]/);
    if (at >= header.length) break;
    if (header.startsWith('W/', at)) at += 2;
    if (header.charAt(at) !== '"') return undefined;
    const close = header.indexOf('"', at + 1);
    if (close < 0) return undefined;
    const opaque = header.slice(at + 1, close);
    if (!etagChars.test(opaque)) return undefined;
    opaqueTags.push(opaque);
    at = close + 1;
    skip(/[ \t]/);
    if (at < header.length && header.charAt(at) !== ',') return undefined;
  }
  return opaqueTags.length > 0 ? { any: false, opaqueTags } : undefined;
}

/** The entity tag of a representation, as sent in ETag. */
export function representationTag(etag: string, gzip: boolean): string {
  return gzip ? `"${etag}-gzip"` : `"${etag}"`;
}

/**
 * Does the client's If-None-Match name this content (in either
 * representation: both decode to the same bytes), so the answer is 304?
 */
export function clientHasContent(ifNoneMatch: string | undefined, etag: string): boolean {
  const parsed = parseIfNoneMatch(ifNoneMatch);
  if (parsed === undefined) return false;
  if (parsed.any) return true;
  return parsed.opaqueTags.some((tag) => tag === etag || tag === `${etag}-gzip`);
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 32);
}

/** The ETag of a body that is not a table answer (the table list): its digest. */
export function bodyEtag(body: string): string {
  return digest(body);
}

/** A hot summary asks for the same ETag thousands of times a second: remembered, not rehashed. */
const rememberedEtagsMax = 10_000;

export class TableEtags {
  // No TTL: an ETag is a digest of its key, it never goes stale.
  private readonly remembered = new LRUCache<string, string>({ max: rememberedEtagsMax });

  /**
   * The ETag of (table, table id, version, route, canonical query); `canonical` is the query as it affects content, version excluded.
   * The id: a table dropped and created again under its name restarts at version 0 and must not match the old one's answers (L1, L2, 304).
   */
  of(table: { readonly name: string; readonly tableId: number }, version: number, route: string, canonical: string): string {
    const key = `${table.name}\u0000${table.tableId}\u0000${version}\u0000${route}\u0000${canonical}`;
    let etag = this.remembered.get(key);
    if (etag === undefined) {
      etag = digest(key);
      this.remembered.set(key, etag);
    }
    return etag;
  }
}
