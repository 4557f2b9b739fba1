/**
 * The committer's HTTP errors: one map from error values to RFC 9457
 * application/problem+json responses. A conflict names its type and the
 * winning version (extension members conflictType, winningVersion,
 * readVersion); a followed table names its location; a malformed action
 * names its line in the body (1-based) and, where the library says which,
 * its field. A query PostgreSQL gave up on, or no free connection in time,
 * is a 503 with Retry-After: the commit was not made and may be repeated.
 */
import { CommitConflictError, DeltametaError, ForbiddenError, LogFormatError, TableFollowedError, UnauthorizedError } from '../../shared/errors/index.ts';
import type { CommitOutcome } from './metrics.ts';
import { postgresUnavailableReason, retryAfterSeconds } from '../../shared/service/index.ts';

export { ForbiddenError, UnauthorizedError };

/** Thrown when a commit holds more actions than DELTAMETA_COMMITTER_MAX_LINES (HTTP 413). */
export class TooManyLinesError extends DeltametaError {
  constructor(lines: number, maxLines: number) {
    super('BAD_INPUT', `the commit has ${lines} or more action lines; at most ${maxLines} are accepted (DELTAMETA_COMMITTER_MAX_LINES)`);
  }
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly [extension: string]: unknown;
}

const problemBase = 'https://deltameta.dev/problems/';

function problem(status: number, slug: string, title: string, detail: string, extensions: Record<string, unknown> = {}): Problem {
  return { type: `${problemBase}${slug}`, title, status, detail, ...extensions };
}

/** The field a library refusal names first ("add.size: must be a number"), when it names one. */
export function fieldOf(reason: string): string | undefined {
  return /^([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9_]+)+):\s/.exec(reason)?.[1];
}

/** The reason of a LogFormatError without its "file:line: " prefix. */
export function reasonOf(error: LogFormatError): string {
  const prefix = `${error.file}${error.line !== undefined ? `:${error.line}` : ''}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

const unavailableSqlStates: ReadonlyMap<string, string> = new Map([
  ['57014', 'the commit was cancelled (statement timeout, DELTAMETA_COMMITTER_PG_STATEMENT_TIMEOUT_MS)'],
  ['55P03', 'a lock the commit needs was not available in time'],
  ['25P03', 'the transaction was idle too long (DELTAMETA_COMMITTER_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS)'],
  ['40001', 'PostgreSQL could not serialize the commit'],
  ['40P01', 'PostgreSQL ended the commit as part of a deadlock'],
]);
export { retryAfterSeconds };

function unavailableReason(error: unknown): string | undefined {
  return postgresUnavailableReason(error, unavailableSqlStates, 'no PostgreSQL connection was free in time (DELTAMETA_COMMITTER_PG_ACQUIRE_TIMEOUT_MS)');
}

/** Fastify's own errors (body too large, unsupported media type, bad JSON) carry a 4xx statusCode. */
function clientStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('statusCode' in error)) return undefined;
  const status = error.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

const titles: Readonly<Record<number, [string, string]>> = {
  400: ['bad-request', 'Bad Request'],
  404: ['not-found', 'Not Found'],
  413: ['too-large', 'Payload Too Large'],
  415: ['unsupported-media-type', 'Unsupported Media Type'],
};

export function problemFor(error: unknown, bodyLimitBytes: number): Problem {
  if (error instanceof CommitConflictError) {
    return problem(409, 'commit-conflict', 'Commit Conflict', error.message, {
      table: error.table, conflictType: error.reason, winningVersion: error.winningVersion, readVersion: error.readVersion,
    });
  }
  if (error instanceof TableFollowedError) return problem(409, 'table-followed', 'Table Followed', error.message, { table: error.table, location: error.location });
  if (error instanceof TooManyLinesError) return problem(413, 'too-large', 'Payload Too Large', error.message);
  if (error instanceof LogFormatError && error.line !== undefined) {
    const reason = reasonOf(error);
    const field = fieldOf(reason);
    return problem(400, 'bad-request', 'Bad Request', `line ${error.line}: ${reason}`, { line: error.line, ...(field !== undefined ? { field } : {}) });
  }
  if (error instanceof DeltametaError) {
    switch (error.code) {
      case 'UNAUTHORIZED': return problem(401, 'unauthorized', 'Unauthorized', error.message);
      case 'FORBIDDEN': return problem(403, 'forbidden', 'Forbidden', error.message);
      case 'NOT_FOUND': return problem(404, 'not-found', 'Not Found', error.message);
      case 'BAD_INPUT': return problem(400, 'bad-request', 'Bad Request', error.message);
      default: break;
    }
  }
  const unavailable = unavailableReason(error);
  if (unavailable !== undefined) return problem(503, 'unavailable', 'Service Unavailable', `${unavailable}; nothing was committed, retry later`);
  const clientStatus = clientStatusOf(error);
  if (clientStatus !== undefined) {
    const [slug, title] = titles[clientStatus] ?? ['bad-request', 'Bad Request'];
    const detail = clientStatus === 413
      ? `the request body exceeds ${bodyLimitBytes} bytes (DELTAMETA_COMMITTER_MAX_BODY_BYTES)`
      : error instanceof Error ? error.message : String(error);
    return problem(clientStatus, slug, title, detail);
  }
  return problem(500, 'internal', 'Internal Server Error', 'the committer failed; see its log (the commit may or may not have been made: retry with the same Idempotency-Key)');
}

/** The metric outcome of an answer's status. */
export function outcomeOf(status: number, alreadyCommitted = false): CommitOutcome {
  if (status === 201) return alreadyCommitted ? 'already_committed' : 'committed';
  if (status === 409) return 'conflict';
  if (status >= 400 && status < 500) return 'refused';
  return 'error';
}
