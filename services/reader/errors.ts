/**
 * The reader's HTTP errors: one map from error values to RFC 9457
 * application/problem+json responses (the Fastify error handler uses it).
 * A query PostgreSQL gave up on (timeouts, lock waits) or a pool with no
 * free connection in time is a 503 with Retry-After: the request was fine,
 * the reader is busy, and a 500 would page someone for load.
 */
import { DeltametaError, ForbiddenError, UnauthorizedError } from '../../shared/errors/index.ts';
import { NotMaterializedError } from '../../shared/materialized/index.ts';
import { postgresUnavailableReason, retryAfterSeconds } from '../../shared/service/index.ts';
import { RequestAbandoned } from './snapshot-scope.ts';

export { ForbiddenError, UnauthorizedError };

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

const problemBase = 'https://deltameta.dev/problems/';

function problem(status: number, slug: string, title: string, detail: string): Problem {
  return { type: `${problemBase}${slug}`, title, status, detail };
}

/** Fastify's own errors (bad JSON, unsupported media type, validation) carry a 4xx statusCode. */
function clientStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('statusCode' in error)) return undefined;
  const status = error.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * SQLSTATEs of a query PostgreSQL gave up on under load or contention, not
 * because the request is wrong: the same request may succeed later.
 */
const unavailableSqlStates: ReadonlyMap<string, string> = new Map([
  ['57014', 'the query was cancelled (statement timeout, DELTAMETA_READER_PG_STATEMENT_TIMEOUT_MS)'],
  ['55P03', 'a lock the query needs was not available in time'],
  ['25P03', 'the transaction was idle too long (DELTAMETA_READER_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS)'],
]);

export { retryAfterSeconds };

/** Why PostgreSQL could not serve this now, when that is what `error` (or an error it wraps) says. */
function unavailableReason(error: unknown): string | undefined {
  return postgresUnavailableReason(error, unavailableSqlStates, 'no PostgreSQL connection was free in time (DELTAMETA_READER_PG_ACQUIRE_TIMEOUT_MS)');
}

export function problemFor(error: unknown): Problem {
  // Checked by class before the codes: the reader answers such versions from the log
  // tables, so one that escapes is the reader's fault (500), never a missing table (404).
  if (error instanceof NotMaterializedError) return problem(500, 'internal', 'Internal Server Error', 'the reader failed to answer; see its log');
  if (error instanceof DeltametaError) {
    switch (error.code) {
      case 'UNAUTHORIZED': return problem(401, 'unauthorized', 'Unauthorized', error.message);
      case 'FORBIDDEN': return problem(403, 'forbidden', 'Forbidden', error.message);
      case 'NOT_FOUND': return problem(404, 'not-found', 'Not Found', error.message);
      case 'VERSION_GONE': return problem(410, 'version-gone', 'Version Gone', error.message);
      case 'BAD_INPUT':
      case 'CONFIG_INVALID': return problem(400, 'bad-request', 'Bad Request', error.message);
      default: break;
    }
  }
  // nginx's 499: nobody reads it, and it is no fault of the reader's (not logged as one)
  if (error instanceof RequestAbandoned) return problem(499, 'abandoned', 'Client Closed Request', error.message);
  const unavailable = unavailableReason(error);
  if (unavailable !== undefined) return problem(503, 'unavailable', 'Service Unavailable', `${unavailable}; retry later`);
  const clientStatus = clientStatusOf(error);
  if (clientStatus !== undefined) return problem(clientStatus, 'bad-request', 'Bad Request', error instanceof Error ? error.message : String(error));
  return problem(500, 'internal', 'Internal Server Error', 'the reader failed to answer; see its log');
}
