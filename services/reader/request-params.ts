/**
 * Query parameters of /v1 as zod schemas: each route parses its query once
 * (parseParams), and anything malformed is a 400 whose detail names the
 * parameter. A repeated key arrives as an array (Fastify's query parser),
 * so every single-valued parameter starts from onceParam.
 */
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors/index.ts';

export type QueryParams = Readonly<Record<string, string | readonly string[] | undefined>>;

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

/** ISO 8601 with a date, as epoch milliseconds; Date.parse alone accepts too much ("1", "May 5"). */
export function timestampParam(name: string): z.ZodType<number, string> {
  return onceParam(name)
    .refine((raw) => /^\d{4}-\d{2}-\d{2}/.test(raw) && Number.isFinite(Date.parse(raw)), {
      error: (issue) => `${name} must be an ISO 8601 timestamp, got ${JSON.stringify(issue.input)}`, abort: true,
    })
    .transform((raw) => Date.parse(raw));
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

/** Opaque paging tokens: base64url JSON. */
export function encodeToken(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decodedJson(raw: string): unknown {
  try {
    return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A token this reader issued (encodeToken of a value `shape` accepts); anything else is a 400, whatever is wrong with it. */
export function tokenParam<T>(name: string, shape: z.ZodType<T>): z.ZodType<T, string> {
  return onceParam(name).transform((raw, context) => {
    const parsed = shape.safeParse(decodedJson(raw));
    if (parsed.success) return parsed.data;
    context.issues.push({ code: 'custom', message: `${name} is not a token this reader issued`, input: raw });
    return z.NEVER;
  });
}

/** The query as `schema` reads it; BadRequestError with the first problem's message (which names its parameter). */
export function parseParams<T>(schema: z.ZodType<T>, query: unknown): T {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  throw new BadRequestError(parsed.error.issues[0]?.message ?? 'malformed query');
}
