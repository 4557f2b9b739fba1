/**
 * The parameters of Delta Sharing's table endpoints (PROTOCOL.md of
 * delta-io/delta-sharing): the `POST …/query` body, the `GET …/changes` and
 * `…/metadata` query strings, checked at the door — a wrong type, a value out
 * of range, an unknown combination is `400 INVALID_PARAMETER_VALUE` naming
 * the field, before anything is read. Hints (`predicateHints`,
 * `jsonPredicateHints`, `limitHint`) are best effort by the protocol: a hint
 * the server cannot use is ignored, never an error.
 *
 * Timestamps: the protocol's format `yyyy-[m]m-[d]d hh:mm:ss[.f...]` (read as
 * UTC: the server's zone) or an RFC 3339 date-time with a zone.
 */
import { z } from 'zod';
import { parseRfc3339 } from '../request-params.ts';
import { invalidParameter } from './errors.ts';

const int32Max = 2_147_483_647;
const longMax = Number.MAX_SAFE_INTEGER;
/** The longest jsonPredicateHints or predicate hint accepted (a predicate tree of this size is already absurd). */
export const maxHintBytes = 64 * 1024;
const maxPredicateHints = 100;

const protocolTimestamp = /^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?$/;

/** Epoch milliseconds of a protocol timestamp; 400 naming `field` otherwise. */
export function parseSharingTimestamp(field: string, raw: string): number {
  const zoneless = protocolTimestamp.exec(raw);
  if (zoneless) {
    const [year, month, day, hour, minute, second] = zoneless.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const padded = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:${String(second).padStart(2, '0')}${zoneless[7] ?? ''}Z`;
    const parsed = parseRfc3339(padded);
    if ('ms' in parsed) return parsed.ms;
    throw invalidParameter(`${field} is not a valid timestamp: ${parsed.problem}, got ${JSON.stringify(raw)}`);
  }
  const parsed = parseRfc3339(raw);
  if ('ms' in parsed) return parsed.ms;
  throw invalidParameter(`${field} must be a timestamp like 2026-01-31 12:00:00 (UTC) or 2026-01-31T12:00:00Z, got ${JSON.stringify(raw)}`);
}

const long = (field: string) => z.number({ message: `${field} must be a number` }).int(`${field} must be an integer`).min(0, `${field} must be ≥ 0`).max(longMax, `${field} is too large`);

const queryBodySchema = z.object({
  predicateHints: z.array(z.string().max(maxHintBytes, `a predicate hint is longer than ${maxHintBytes} bytes`)).max(maxPredicateHints, `predicateHints has more than ${maxPredicateHints} entries`).nullish(),
  jsonPredicateHints: z.string().max(maxHintBytes, `jsonPredicateHints is longer than ${maxHintBytes} bytes`).nullish(),
  limitHint: z.number({ message: 'limitHint must be a number' }).int('limitHint must be an integer').min(0, 'limitHint must be ≥ 0').max(int32Max, 'limitHint must be an Int32').nullish(),
  version: long('version').nullish(),
  timestamp: z.string({ message: 'timestamp must be a string' }).max(64).nullish(),
  startingVersion: long('startingVersion').nullish(),
  endingVersion: long('endingVersion').nullish(),
  maxFiles: z.number({ message: 'maxFiles must be a number' }).int('maxFiles must be an integer').min(1, 'maxFiles must be ≥ 1').max(int32Max, 'maxFiles must be an Int32').nullish(),
  pageToken: z.string({ message: 'pageToken must be a string' }).max(4096, 'pageToken is too long').nullish(),
  includeRefreshToken: z.boolean({ message: 'includeRefreshToken must be a boolean' }).nullish(),
  refreshToken: z.string().max(4096).nullish(),
  idempotency_key: z.string().max(256).nullish(),
}).passthrough();

/** What a query asks for. */
export type QueryMode =
  | { readonly kind: 'snapshot'; readonly at: { readonly version: number } | { readonly timestampMs: number } | undefined }
  | { readonly kind: 'changes'; readonly startingVersion: number; readonly endingVersion: number | undefined };

export interface QueryRequest {
  readonly mode: QueryMode;
  readonly jsonPredicateHints: string | undefined;
  readonly limitHint: number | undefined;
  readonly maxFiles: number | undefined;
  readonly pageToken: string | undefined;
}

function firstIssue(error: z.ZodError, where: string): string {
  const issue = error.issues[0];
  if (!issue) return `${where} is not valid`;
  const path = issue.path.join('.');
  return path === '' || issue.message.startsWith(path) ? issue.message : `${path}: ${issue.message}`;
}

/** The query body (already JSON-parsed by Fastify; an empty body is `{}`), checked. */
export function parseQueryBody(body: unknown): QueryRequest {
  const input = body === undefined || body === null || body === '' ? {} : body;
  if (typeof input !== 'object' || Array.isArray(input)) throw invalidParameter('the query body must be a JSON object');
  const parsed = queryBodySchema.safeParse(input);
  if (!parsed.success) throw invalidParameter(firstIssue(parsed.error, 'the query body'));
  const q = parsed.data;
  const travel = [q.version != null, q.timestamp != null, q.startingVersion != null].filter(Boolean).length;
  if (travel > 1) throw invalidParameter('give at most one of version, timestamp and startingVersion');
  if (q.endingVersion != null && q.startingVersion == null) throw invalidParameter('endingVersion needs startingVersion');
  if (q.endingVersion != null && q.startingVersion != null && q.endingVersion < q.startingVersion) {
    throw invalidParameter(`endingVersion ${q.endingVersion} is before startingVersion ${q.startingVersion}`);
  }
  const mode: QueryMode = q.startingVersion != null
    ? { kind: 'changes', startingVersion: q.startingVersion, endingVersion: q.endingVersion ?? undefined }
    : {
      kind: 'snapshot',
      at: q.version != null ? { version: q.version } : q.timestamp != null ? { timestampMs: parseSharingTimestamp('timestamp', q.timestamp) } : undefined,
    };
  return {
    mode,
    jsonPredicateHints: q.jsonPredicateHints ?? undefined,
    limitHint: q.limitHint ?? undefined,
    maxFiles: q.maxFiles ?? undefined,
    pageToken: q.pageToken === '' ? undefined : (q.pageToken ?? undefined),
  };
}

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`${name} is given more than once`);
  return value;
}

function longParam(query: Record<string, unknown>, name: string): number | undefined {
  const raw = single(query, name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) > longMax) throw invalidParameter(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function timestampParam(query: Record<string, unknown>, name: string): number | undefined {
  const raw = single(query, name);
  return raw === undefined ? undefined : parseSharingTimestamp(name, raw);
}

function booleanParam(query: Record<string, unknown>, name: string): boolean {
  const raw = single(query, name);
  if (raw === undefined) return false;
  if (raw.toLowerCase() !== 'true' && raw.toLowerCase() !== 'false') throw invalidParameter(`${name} must be true or false, got ${JSON.stringify(raw)}`);
  return raw.toLowerCase() === 'true';
}

function queryObject(query: unknown): Record<string, unknown> {
  return (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
}

/** `version` or `timestamp` of `GET …/metadata` (not both). */
export function parseMetadataQuery(query: unknown): { version: number } | { timestampMs: number } | undefined {
  const params = queryObject(query);
  const version = longParam(params, 'version');
  const timestampMs = timestampParam(params, 'timestamp');
  if (version !== undefined && timestampMs !== undefined) throw invalidParameter('give version or timestamp, not both');
  return version !== undefined ? { version } : timestampMs !== undefined ? { timestampMs } : undefined;
}

/** `startingTimestamp` of `GET …/version`. */
export function parseVersionQuery(query: unknown): number | undefined {
  return timestampParam(queryObject(query), 'startingTimestamp');
}

export interface ChangesRequest {
  readonly start: { readonly version: number } | { readonly timestampMs: number };
  readonly end: { readonly version: number } | { readonly timestampMs: number } | undefined;
  readonly includeHistoricalMetadata: boolean;
  readonly maxFiles: number | undefined;
  readonly pageToken: string | undefined;
}

/** The query string of `GET …/changes`: a start (version or timestamp) is required, an end is optional. */
export function parseChangesQuery(query: unknown): ChangesRequest {
  const params = queryObject(query);
  const startingVersion = longParam(params, 'startingVersion');
  const startingTimestamp = timestampParam(params, 'startingTimestamp');
  const endingVersion = longParam(params, 'endingVersion');
  const endingTimestamp = timestampParam(params, 'endingTimestamp');
  if (startingVersion !== undefined && startingTimestamp !== undefined) throw invalidParameter('give startingVersion or startingTimestamp, not both');
  if (startingVersion === undefined && startingTimestamp === undefined) throw invalidParameter('startingVersion or startingTimestamp is required');
  if (endingVersion !== undefined && endingTimestamp !== undefined) throw invalidParameter('give endingVersion or endingTimestamp, not both');
  if (startingVersion !== undefined && endingVersion !== undefined && endingVersion < startingVersion) {
    throw invalidParameter(`endingVersion ${endingVersion} is before startingVersion ${startingVersion}`);
  }
  const maxFilesRaw = single(params, 'maxFiles');
  if (maxFilesRaw !== undefined && (!/^\d{1,10}$/.test(maxFilesRaw) || Number(maxFilesRaw) < 1 || Number(maxFilesRaw) > int32Max)) {
    throw invalidParameter(`maxFiles must be an integer from 1 to ${int32Max}, got ${JSON.stringify(maxFilesRaw)}`);
  }
  const pageToken = single(params, 'pageToken');
  return {
    start: startingVersion !== undefined ? { version: startingVersion } : { timestampMs: startingTimestamp as number },
    end: endingVersion !== undefined ? { version: endingVersion } : endingTimestamp !== undefined ? { timestampMs: endingTimestamp } : undefined,
    includeHistoricalMetadata: booleanParam(params, 'includeHistoricalMetadata'),
    maxFiles: maxFilesRaw === undefined ? undefined : Number(maxFilesRaw),
    pageToken: pageToken === '' ? undefined : pageToken,
  };
}
