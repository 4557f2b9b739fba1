/**
 * Delta Sharing's errors (PROTOCOL.md): a JSON body `{"errorCode","message"}`
 * with the protocol's status codes — 400 INVALID_PARAMETER_VALUE (or
 * UNSUPPORTED_OPERATION, as the reference server answers a table it cannot
 * serve in the format asked), 401
 * UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 RESOURCE_DOES_NOT_EXIST, 500
 * INTERNAL_ERROR, plus 503 TEMPORARILY_UNAVAILABLE (PostgreSQL could not
 * serve in time; the connector retries 5xx). Never the /v1 problem+json.
 */
import { problemFor } from '../errors.ts';
import { SharingResponseError } from './responses.ts';

export type SharingErrorCode =
  | 'INVALID_PARAMETER_VALUE'
  | 'UNSUPPORTED_OPERATION'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_DOES_NOT_EXIST'
  | 'INTERNAL_ERROR'
  | 'TEMPORARILY_UNAVAILABLE';

const statusByCode: Readonly<Record<SharingErrorCode, number>> = {
  INVALID_PARAMETER_VALUE: 400,
  UNSUPPORTED_OPERATION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_DOES_NOT_EXIST: 404,
  INTERNAL_ERROR: 500,
  TEMPORARILY_UNAVAILABLE: 503,
};

export class SharingError extends Error {
  readonly status: number;
  constructor(readonly errorCode: SharingErrorCode, message: string) {
    super(message);
    this.name = 'SharingError';
    this.status = statusByCode[errorCode];
  }
}

export interface SharingErrorBody {
  readonly errorCode: SharingErrorCode;
  readonly message: string;
}

const codeByStatus: ReadonlyMap<number, SharingErrorCode> = new Map([
  [400, 'INVALID_PARAMETER_VALUE'], [401, 'UNAUTHENTICATED'], [403, 'PERMISSION_DENIED'], [404, 'RESOURCE_DOES_NOT_EXIST'], [503, 'TEMPORARILY_UNAVAILABLE'],
]);

/** The status and body for any error a sharing route throws: its own, the reader's (by problemFor's status), else 500. */
export function sharingErrorFor(error: unknown): { status: number; body: SharingErrorBody } {
  if (error instanceof SharingError) return { status: error.status, body: { errorCode: error.errorCode, message: error.message } };
  // The reference server's 400s for what a table cannot be served as (a format, a location): UNSUPPORTED_OPERATION, not a bad parameter.
  if (error instanceof SharingResponseError) return { status: error.statusCode, body: { errorCode: error.errorCode, message: error.message } };
  const problem = problemFor(error);
  const errorCode = codeByStatus.get(problem.status);
  if (errorCode !== undefined) return { status: problem.status, body: { errorCode, message: problem.detail } };
  if (problem.status >= 400 && problem.status < 500) return { status: 400, body: { errorCode: 'INVALID_PARAMETER_VALUE', message: problem.detail } };
  return { status: 500, body: { errorCode: 'INTERNAL_ERROR', message: 'the server failed to answer; see the reader log' } };
}

export function resourceMissing(message: string): SharingError {
  return new SharingError('RESOURCE_DOES_NOT_EXIST', message);
}

export function invalidParameter(message: string): SharingError {
  return new SharingError('INVALID_PARAMETER_VALUE', message);
}
