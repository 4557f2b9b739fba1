/** Query parameters of /v1: parsed and checked once, 400 on anything malformed. */
import { BadRequestError } from '../../shared/errors/index.ts';

export type QueryParams = Readonly<Record<string, string | readonly string[] | undefined>>;

export function single(query: QueryParams, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`${name} may be given once`);
  return value;
}

export function integerParam(query: QueryParams, name: string, min: number, max: number): number | undefined {
  const raw = single(query, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new BadRequestError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new BadRequestError(`${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return value;
}

export function timestampParam(query: QueryParams, name: string): number | undefined {
  const raw = single(query, name);
  if (raw === undefined) return undefined;
  // ISO 8601 with a date; Date.parse alone accepts too much ("1", "May 5")
  const ms = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) throw new BadRequestError(`${name} must be an ISO 8601 timestamp, got ${JSON.stringify(raw)}`);
  return ms;
}

export function booleanParam(query: QueryParams, name: string): boolean {
  const raw = single(query, name);
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true' || raw === '') return true;
  throw new BadRequestError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** Opaque paging tokens: base64url JSON. */
export function encodeToken(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeToken<T>(raw: string, name: string, check: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequestError(`${name} is not a token this reader issued`);
  }
  if (!check(value)) throw new BadRequestError(`${name} is not a token this reader issued`);
  return value;
}
