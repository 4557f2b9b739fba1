/**
 * The reader's HTTP errors: one map from error values to RFC 9457
 * application/problem+json responses (the Fastify error handler uses it).
 */
import { DeltametaError } from '../../shared/errors/index.ts';
import { NotMaterializedError } from '../../shared/materialized/index.ts';

/** Thrown when a request carries no bearer token, or one that matches no configured token (HTTP 401). */
export class UnauthorizedError extends DeltametaError {
  constructor(message: string) {
    super('UNAUTHORIZED', message);
  }
}

/** Thrown when the request's token does not cover the table (HTTP 403). */
export class ForbiddenError extends DeltametaError {
  readonly table: string;
  readonly tokenName: string;
  constructor(tokenName: string, table: string) {
    super('FORBIDDEN', `token ${JSON.stringify(tokenName)} does not cover table ${JSON.stringify(table)}`);
    this.table = table;
    this.tokenName = tokenName;
  }
}

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
  const clientStatus = clientStatusOf(error);
  if (clientStatus !== undefined) return problem(clientStatus, 'bad-request', 'Bad Request', error instanceof Error ? error.message : String(error));
  return problem(500, 'internal', 'Internal Server Error', 'the reader failed to answer; see its log');
}
