/**
 * Query parameters of /v1 as zod schemas: each route parses its query once
 * (parseParams), and anything malformed is a 400 whose detail names the
 * parameter. A repeated key arrives as an array (Fastify's query parser),
 * so every single-valued parameter starts from onceParam.
 */
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors/index.ts';

export type QueryParams = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The 400 naming the limit when the query string (after `?`, as sent:
 * still percent-encoded) is longer than `maxBytes`, else undefined. Floods of
 * filters, values and keys all scale with it; Node refuses request heads
 * beyond 16 KiB (431) before the reader sees them.
 */
export function queryTooLong(rawUrl: string | undefined, maxBytes: number): BadRequestError | undefined {
  const start = rawUrl?.indexOf('?') ?? -1;
  if (rawUrl === undefined || start < 0) return undefined;
  const bytes = Buffer.byteLength(rawUrl) - Buffer.byteLength(rawUrl.slice(0, start + 1));
  if (bytes <= maxBytes) return undefined;
  return new BadRequestError(`the query string is ${bytes} bytes, at most ${maxBytes} bytes are accepted (DELTAMETA_READER_MAX_QUERY_BYTES)`);
}

/** A parameter given at most once, as text. */
export function onceParam(name: string): z.ZodString {
  return z.string({ error: (issue) => (Array.isArray(issue.input) ? `${name} may be given once` : `${name} must be text`) });
}

export function integerParam(name: string, min: number, max: number): z.ZodType<number, string> {
  const message = `${name} must be an integer from ${min} to ${max}, got`;
  return onceParam(name)
    .regex(/^\d+$/, { error: (issue) => `${message} ${JSON.stringify(issue.input)}`, abort: true })
    .refine((raw) => {
      const value = Number(raw);
      return Number.isSafeInteger(value) && value >= min && value <= max;
    }, { error: (issue) => `${message} ${String(issue.input)}`, abort: true })
    .transform(Number);
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * An RFC 3339 date-time as epoch milliseconds, or why it is not one. Strict:
 * a zone is required (a zoneless time means a different instant on every
 * server), and fields out of range are refused rather than rolled over
 * (Date.parse reads 2026-02-30 as March 2). A leap second (:60) is refused:
 * no commit carries one.
 */
export function parseRfc3339(raw: string): { readonly ms: number } | { readonly problem: string } {
  const match = rfc3339.exec(raw);
  if (!match) {
    if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(raw)) return { problem: 'a zone is required (Z or ±hh:mm)' };
    return { problem: 'expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm)' };
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) return { problem: `month ${match[2]} is not 01-12` };
  if (day < 1 || day > daysIn(year, month)) return { problem: `day ${match[3]} is not in ${match[1]}-${match[2]}` };
  if (hour > 23) return { problem: `hour ${match[4]} is not 00-23` };
  if (minute > 59) return { problem: `minute ${match[5]} is not 00-59` };
  if (second > 59) return { problem: `second ${match[6]} is not 00-59` };
  const offsetHours = Number(match[10] ?? 0);
  const offsetMinutes = Number(match[11] ?? 0);
  if (offsetHours > 23 || offsetMinutes > 59) return { problem: `zone offset ${match[9]}${match[10]}:${match[11]} is out of range` };
  const fraction = match[7] === undefined ? 0 : Math.floor(Number(`0${match[7]}`) * 1000);
  const offsetMs = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, fraction) - offsetMs;
  // Date.UTC reads years 0-99 as 1900-1999.
  if (year < 100) return { problem: `year ${match[1]} is before 0100` };
  return { ms };
}

/** An RFC 3339 timestamp (parseRfc3339), as epoch milliseconds; the 400 says what is wrong with it. */
export function timestampParam(name: string): z.ZodType<number, string> {
  return onceParam(name).transform((raw, context) => {
    const parsed = parseRfc3339(raw);
    if ('ms' in parsed) return parsed.ms;
    context.issues.push({ code: 'custom', message: `${name} must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z: ${parsed.problem}, got ${JSON.stringify(raw)}`, input: raw });
    return z.NEVER;
  });
}

/** `true`, `false` or present without a value (`&actions`); absent is false. */
export function booleanParam(name: string): z.ZodType<boolean, string | undefined> {
  return onceParam(name)
    .refine((raw) => raw === 'true' || raw === 'false' || raw === '', {
      error: (issue) => `${name} must be true or false, got ${JSON.stringify(issue.input)}`, abort: true,
    })
    .transform((raw) => raw !== 'false')
    .optional()
    .transform((value) => value ?? false);
}

export function choiceParam<const T extends readonly [string, ...string[]]>(name: string, choices: T): z.ZodType<T[number], string> {
  return onceParam(name).pipe(z.enum(choices, {
    error: (issue) => `${name} must be ${choices.slice(0, -1).join(', ')}${choices.length > 1 ? ' or ' : ''}${choices.at(-1) ?? ''}, got ${JSON.stringify(issue.input)}`,
  }));
}

/** The query as `schema` reads it; BadRequestError with the first problem's message (which names its parameter). */
export function parseParams<T>(schema: z.ZodType<T>, query: unknown): T {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  throw new BadRequestError(parsed.error.issues[0]?.message ?? 'malformed query');
}
