/**
 * Bearer tokens scoped to table-name prefixes, configured by the operator in
 * a JSON file: [{ "name": "analytics", "sha256": "<hex of the token>",
 * "tablePrefixes": ["sales_", "events"] }]. Only hashes are stored; a
 * presented token is hashed and compared with every entry in constant time
 * (no early exit), so timing says nothing about which entry came close.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors/index.ts';
import { ForbiddenError, UnauthorizedError } from './errors.ts';

export interface TokenGrant {
  readonly name: string;
  readonly tablePrefixes: readonly string[];
}

interface TokenEntry extends TokenGrant {
  readonly hash: Buffer;
}

const tokensFileSchema = z.array(z.object({
  name: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the hex SHA-256 of the token'),
  tablePrefixes: z.array(z.string()),
}).strict());

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Decides who may read what; `disabled()` lets everything through (local use, DELTAMETA_READER_AUTH=off). */
export class AccessControl {
  private constructor(private readonly entries: readonly TokenEntry[] | undefined) {}

  static disabled(): AccessControl {
    return new AccessControl(undefined);
  }

  static fromGrants(grants: ReadonlyArray<{ name: string; sha256: string; tablePrefixes: readonly string[] }>): AccessControl {
    return new AccessControl(grants.map((grant) => ({ name: grant.name, tablePrefixes: [...grant.tablePrefixes], hash: Buffer.from(grant.sha256.toLowerCase(), 'hex') })));
  }

  /** Reads and validates the operator's file; a bad file fails the start naming the variable. */
  static fromFile(file: string): AccessControl {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ConfigError('DELTAMETA_READER_TOKENS_FILE', `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const result = tokensFileSchema.safeParse(parsed);
    if (!result.success) throw new ConfigError('DELTAMETA_READER_TOKENS_FILE', `${file}: ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    return AccessControl.fromGrants(result.data);
  }

  get enabled(): boolean {
    return this.entries !== undefined;
  }

  /** The grant of the request's Authorization header; undefined when access control is off. Throws UnauthorizedError. */
  authenticate(authorization: string | undefined): TokenGrant | undefined {
    if (this.entries === undefined) return undefined;
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw new UnauthorizedError('a bearer token is required (Authorization: Bearer <token>)');
    const presented = createHash('sha256').update(match[1], 'utf8').digest();
    let found: TokenEntry | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.hash, presented) && found === undefined) found = entry;
    }
    if (!found) throw new UnauthorizedError('the bearer token is not valid');
    return found;
  }

  covers(grant: TokenGrant | undefined, table: string): boolean {
    return grant === undefined || grant.tablePrefixes.some((prefix) => table.startsWith(prefix));
  }

  /** Throws ForbiddenError unless the grant covers the table. */
  authorize(grant: TokenGrant | undefined, table: string): void {
    if (!this.covers(grant, table)) throw new ForbiddenError(grant?.name ?? '', table);
  }
}
