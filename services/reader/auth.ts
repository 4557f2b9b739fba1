/**
 * Bearer tokens scoped to table names, configured by the operator in a JSON
 * file: [{ "name": "analytics", "sha256": "<hex of the token>",
 * "tablePrefixes": ["sales", "events."] }]. Only hashes are stored; a
 * presented token is hashed and compared with every entry in constant time
 * (no early exit), so timing says nothing about which entry came close.
 *
 * A prefix covers whole name segments (shared/access table-scope.ts); `*` covers every
 * table. The grants can be replaced while the reader runs (reload), so a
 * revoked token stops working without a restart.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors/index.ts';
import { ForbiddenError, UnauthorizedError } from './errors.ts';
import { scopeCovers, scopeProblem } from '../../shared/access/index.ts';

export interface TokenGrant {
  readonly name: string;
  readonly tablePrefixes: readonly string[];
}

interface TokenEntry extends TokenGrant {
  readonly hash: Buffer;
}

interface GrantSpec {
  readonly name: string;
  readonly sha256: string;
  readonly tablePrefixes: readonly string[];
}

const tokensFileSchema = z.array(z.object({
  name: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the hex SHA-256 of the token'),
  tablePrefixes: z.array(z.string()),
}).strict());

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The entries of `grants`; ConfigError (naming `variable` and the token) for a prefix that would cover more than meant. */
function entriesOf(grants: readonly GrantSpec[], variable: string): TokenEntry[] {
  return grants.map((grant) => {
    for (const prefix of grant.tablePrefixes) {
      const problem = scopeProblem(prefix);
      if (problem !== undefined) throw new ConfigError(variable, `token ${JSON.stringify(grant.name)}: ${problem}`);
    }
    return { name: grant.name, tablePrefixes: [...grant.tablePrefixes], hash: Buffer.from(grant.sha256.toLowerCase(), 'hex') };
  });
}

/** The grants of an operator's tokens file; ConfigError naming DELTAMETA_READER_TOKENS_FILE for anything wrong with it. */
function readTokensFile(file: string): TokenEntry[] {
  const variable = 'DELTAMETA_READER_TOKENS_FILE';
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const result = tokensFileSchema.safeParse(parsed);
  if (!result.success) throw new ConfigError(variable, `${file}: ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return entriesOf(result.data, `${variable} (${file})`);
}

/** Decides who may read what; `disabled()` lets everything through (local use, DELTAMETA_READER_AUTH=off). */
export class AccessControl {
  private constructor(private entries: readonly TokenEntry[] | undefined, readonly tokensFile: string | undefined) {}

  static disabled(): AccessControl {
    return new AccessControl(undefined, undefined);
  }

  static fromGrants(grants: readonly GrantSpec[]): AccessControl {
    return new AccessControl(entriesOf(grants, 'token grants'), undefined);
  }

  /** Reads and validates the operator's file; a bad file fails the start naming the variable. */
  static fromFile(file: string): AccessControl {
    return new AccessControl(readTokensFile(file), file);
  }

  get enabled(): boolean {
    return this.entries !== undefined;
  }

  /**
   * Re-reads the tokens file. All or nothing: a file that does not read or
   * validate throws ConfigError and the grants in force stay (a half-written
   * file must not lock everyone out, nor let anyone in).
   */
  reload(): void {
    if (this.tokensFile === undefined) return;
    this.entries = readTokensFile(this.tokensFile);
  }

  /** The grant of the request's Authorization header; undefined when access control is off. Throws UnauthorizedError. */
  authenticate(authorization: string | undefined): TokenGrant | undefined {
    const entries = this.entries;
    if (entries === undefined) return undefined;
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw new UnauthorizedError('a bearer token is required (Authorization: Bearer <token>)');
    const presented = createHash('sha256').update(match[1], 'utf8').digest();
    let found: TokenEntry | undefined;
    for (const entry of entries) {
      if (timingSafeEqual(entry.hash, presented) && found === undefined) found = entry;
    }
    if (!found) throw new UnauthorizedError('the bearer token is not valid');
    return found;
  }

  /** Whether `grant` may read `table`. With access control on, no grant covers nothing. */
  covers(grant: TokenGrant | undefined, table: string): boolean {
    if (!this.enabled) return true;
    return grant !== undefined && grant.tablePrefixes.some((prefix) => scopeCovers(prefix, table));
  }

  /** Throws ForbiddenError unless the grant covers the table. */
  authorize(grant: TokenGrant | undefined, table: string): void {
    if (!this.covers(grant, table)) throw new ForbiddenError(grant?.name ?? '', table);
  }
}
