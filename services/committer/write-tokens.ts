/**
 * Write tokens: bearer tokens scoped to table names, in an operator's JSON
 * file of the reader's format ([{ "name", "sha256", "tablePrefixes" }],
 * docs/security.md) but its own file (DELTAMETA_COMMITTER_TOKENS_FILE): a
 * read token never commits. Only hashes are stored; a presented token is
 * hashed and compared with every entry in constant time (no early exit).
 * The grants can be replaced while the committer runs (reload): a revoked
 * token stops working without a restart.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors/index.ts';
import { ForbiddenError, UnauthorizedError } from './problems.ts';
import { scopeCovers, scopeProblem } from '../../shared/access/index.ts';

export interface WriteGrant {
  readonly name: string;
  readonly tablePrefixes: readonly string[];
}

export interface WriteGrantSpec extends WriteGrant {
  /** hex SHA-256 of the token */
  readonly sha256: string;
}

interface TokenEntry extends WriteGrant {
  readonly hash: Buffer;
}

const variable = 'DELTAMETA_COMMITTER_TOKENS_FILE';

const tokensFileSchema = z.array(z.object({
  name: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the hex SHA-256 of the token'),
  tablePrefixes: z.array(z.string()),
}).strict());

export function hashWriteToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function entriesOf(grants: readonly WriteGrantSpec[], where: string): TokenEntry[] {
  const parsed = tokensFileSchema.safeParse(grants);
  if (!parsed.success) throw new ConfigError(where, parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data.map((grant) => {
    for (const prefix of grant.tablePrefixes) {
      const problem = scopeProblem(prefix);
      if (problem !== undefined) throw new ConfigError(where, `token ${JSON.stringify(grant.name)}: ${problem}`);
    }
    return { name: grant.name, tablePrefixes: [...grant.tablePrefixes], hash: Buffer.from(grant.sha256.toLowerCase(), 'hex') };
  });
}

function readTokensFile(file: string): TokenEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return entriesOf(parsed as WriteGrantSpec[], `${variable} (${file})`);
}

/** Decides who may commit to what; `anonymous()` lets every request commit (loopback, or DELTAMETA_COMMITTER_ALLOW_ANONYMOUS=on). */
export class WriteAccess {
  private constructor(private entries: readonly TokenEntry[] | undefined, readonly tokensFile: string | undefined) {}

  static anonymous(): WriteAccess {
    return new WriteAccess(undefined, undefined);
  }

  static fromGrants(grants: readonly WriteGrantSpec[]): WriteAccess {
    return new WriteAccess(entriesOf(grants, 'write token grants'), undefined);
  }

  /** Reads and validates the operator's file; a bad file fails the start naming the variable. */
  static fromFile(file: string): WriteAccess {
    return new WriteAccess(readTokensFile(file), file);
  }

  get enabled(): boolean {
    return this.entries !== undefined;
  }

  /** Re-reads the tokens file, all or nothing: a file that does not read or validate throws and the grants in force stay. */
  reload(): void {
    if (this.tokensFile === undefined) return;
    this.entries = readTokensFile(this.tokensFile);
  }

  /**
   * Throws UnauthorizedError without a valid bearer token, ForbiddenError
   * when its grant does not cover `table`; nothing when access control is off.
   */
  authorize(authorization: string | undefined, table: string): void {
    const entries = this.entries;
    if (entries === undefined) return;
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw new UnauthorizedError('a write token is required (Authorization: Bearer <token>)');
    const presented = createHash('sha256').update(match[1], 'utf8').digest();
    let found: TokenEntry | undefined;
    for (const entry of entries) {
      if (timingSafeEqual(entry.hash, presented) && found === undefined) found = entry;
    }
    if (!found) throw new UnauthorizedError('the bearer token is not a valid write token');
    if (!found.tablePrefixes.some((prefix) => scopeCovers(prefix, table))) throw new ForbiddenError(found.name, table, 'write token');
  }
}
