/**
 * Page tokens: where the next page starts, signed (HMAC-SHA256) and bound
 * to what the page was issued for — route, table, version and the
 * canonical filters. Unsigned, a token is a cursor the client can point
 * anywhere (another table's keys, a version that was never resolved); bound,
 * a token from one listing cannot continue another. The key is
 * DELTAMETA_READER_TOKEN_KEY, else random per process: readers behind one
 * balancer, or sharing L2 (which keeps bodies with their next-page-token
 * header), need the same key. The key's id is part of paged cache keys, so
 * readers with different keys never serve each other's tokens.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors/index.ts';

/** What a page belongs to; a token opens only for the same binding. */
export interface PageBinding {
  readonly route: 'files' | 'commits' | 'tables';
  /** the table, or for the table list the grant's name ('' without access control) */
  readonly table: string;
  /** canonical text of the filters (and any other query that shapes the list) */
  readonly filters: string;
}

export interface OpenedPageToken<T> {
  readonly version: number;
  readonly position: T;
}

const signedPartsSchema = z.object({ r: z.string(), t: z.string(), f: z.string(), v: z.number().int().min(-1), p: z.unknown() });

/** One key per process when none is configured: in-process readers (tests) agree, separate processes do not. */
const processKey = randomBytes(32);

function digestOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64url').slice(0, 22);
}

export class PageTokens {
  private readonly key: Buffer;
  /** Names the key without revealing it; part of the cache key of every paged answer. */
  readonly keyId: string;

  constructor(secret: string | undefined) {
    this.key = secret === undefined ? processKey : createHash('sha256').update(secret, 'utf8').digest();
    this.keyId = createHash('sha256').update(this.key).digest('base64url').slice(0, 11);
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload, 'utf8').digest();
  }

  /** A token for the page after `position` of the list `binding` at `version` (-1: the list has no version). */
  issue(binding: PageBinding, version: number, position: unknown): string {
    const payload = Buffer.from(JSON.stringify({ r: binding.route, t: binding.table, f: digestOf(binding.filters), v: version, p: position }), 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** The version and position of `raw`, checked against `binding`; BadRequestError naming `param` and the problem. */
  open<T>(param: string, raw: string, binding: PageBinding, position: z.ZodType<T>): OpenedPageToken<T> {
    const [payload, signature, extra] = raw.split('.');
    if (payload === undefined || signature === undefined || extra !== undefined || payload === '') {
      throw new BadRequestError(`${param} is not a token this reader issued (malformed)`);
    }
    const expected = this.mac(payload);
    const presented = Buffer.from(signature, 'base64url');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new BadRequestError(`${param} has a bad signature: it was altered, or issued by a reader with another DELTAMETA_READER_TOKEN_KEY`);
    }
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw new BadRequestError(`${param} is not a token this reader issued (malformed)`);
    }
    const parts = signedPartsSchema.safeParse(decoded);
    if (!parts.success) throw new BadRequestError(`${param} is not a token this reader issued (malformed)`);
    const { r, t, f, v, p } = parts.data;
    if (r !== binding.route) throw new BadRequestError(`${param} was issued for another listing (${r}), not ${binding.route}`);
    if (t !== binding.table) throw new BadRequestError(`${param} was issued for ${JSON.stringify(t)}, not ${JSON.stringify(binding.table)}`);
    if (f !== digestOf(binding.filters)) throw new BadRequestError(`${param} was issued for other filters or parameters: repeat the first request's query with the token`);
    const opened = position.safeParse(p);
    if (!opened.success) throw new BadRequestError(`${param} is not a token this reader issued (bad position)`);
    return { version: v, position: opened.data };
  }
}
