/**
 * A commit request as HTTP carries it, turned into the library's
 * CommitRequest (shared/log-store transaction-request.ts), field for field:
 *
 *   NDJSON body (application/x-ndjson): the commit-file lines; the
 *   transaction in headers — Delta-Read-Version, Delta-Isolation-Level,
 *   Delta-Read-Predicates (JSON array), Delta-Read-Whole-Table,
 *   Delta-Read-Files (JSON array), Delta-Blind-Append, Idempotency-Key.
 *
 *   JSON envelope (application/json): { readVersion, isolationLevel,
 *   readPredicates, readWholeTable, readFiles, isBlindAppend,
 *   idempotencyKey, actions } with actions as NDJSON text or an array of
 *   action objects; Delta-* headers are refused beside it (one place for
 *   the context), Idempotency-Key is accepted when it agrees.
 *
 * Lines are parsed by the library's parseActionLines. The Idempotency-Key
 * is commitInfo.txnId (the library's idempotency): set on the commitInfo
 * the body holds, or on one prepended when it holds none.
 */
import { z } from 'zod';
import { parseActionLines, type Action, type CommitInfo } from '../../shared/delta/index.ts';
import { BadRequestError, LogFormatError } from '../../shared/errors/index.ts';
import { isolationLevels, parseReadPredicate, type CommitRequest, type IsolationLevel, type ReadPredicate } from '../../shared/log-store/index.ts';
import { reasonOf, TooManyLinesError } from './problems.ts';

/** The `file` the library's errors name for the body; problems.ts reports the line alone. */
export const bodySource = 'request body';

export interface ParsedCommit {
  readonly request: CommitRequest;
  /** 1-based line in the body of each action of request.actions (0: the commitInfo the Idempotency-Key added) */
  readonly lines: readonly number[];
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

const contextHeaders = ['delta-read-version', 'delta-isolation-level', 'delta-read-predicates', 'delta-read-whole-table', 'delta-read-files', 'delta-blind-append'];

const termSchema = z.object({
  column: z.string().min(1),
  op: z.enum(['=', 'in', 'is-null']),
  values: z.array(z.string()).optional(),
}).strict();
const predicatesSchema = z.array(z.union([z.string(), z.array(termSchema)]));
const readVersionSchema = z.number().int().min(-1, 'must be -1 (the table did not exist) or a version');
const idempotencyKeySchema = z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, 'must be visible ASCII without spaces');
const envelopeSchema = z.object({
  readVersion: readVersionSchema.optional(),
  isolationLevel: z.enum(isolationLevels as [IsolationLevel, ...IsolationLevel[]]).optional(),
  readPredicates: predicatesSchema.optional(),
  readWholeTable: z.boolean().optional(),
  readFiles: z.array(z.string()).optional(),
  isBlindAppend: z.boolean().optional(),
  idempotencyKey: idempotencyKeySchema.optional(),
  actions: z.union([z.string(), z.array(z.unknown())]),
}).strict();

type Context = Omit<z.infer<typeof envelopeSchema>, 'actions'>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) throw new BadRequestError(`header ${name} is given more than once`);
  return value;
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new BadRequestError(`${where}: ${result.error.issues.map((issue) => `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`).join('; ')}`);
}

function jsonHeader(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`header ${name}: not valid JSON (${(error as Error).message})`);
  }
}

function booleanHeader(text: string | undefined, name: string): boolean | undefined {
  if (text === undefined) return undefined;
  if (text === 'true' || text === 'false') return text === 'true';
  throw new BadRequestError(`header ${name}: must be true or false, got ${JSON.stringify(text)}`);
}

function contextFromHeaders(headers: Headers): Context {
  const readVersion = header(headers, 'delta-read-version');
  const isolationLevel = header(headers, 'delta-isolation-level');
  const predicates = header(headers, 'delta-read-predicates');
  const files = header(headers, 'delta-read-files');
  if (readVersion !== undefined && !/^-?\d{1,16}$/.test(readVersion)) throw new BadRequestError(`header Delta-Read-Version: must be an integer, got ${JSON.stringify(readVersion)}`);
  if (isolationLevel !== undefined && !isolationLevels.includes(isolationLevel as IsolationLevel)) {
    throw new BadRequestError(`header Delta-Isolation-Level: must be ${isolationLevels.join(' or ')}, got ${JSON.stringify(isolationLevel)}`);
  }
  const context = {
    ...(readVersion !== undefined ? { readVersion: parsed(readVersionSchema, Number(readVersion), 'header Delta-Read-Version') } : {}),
    ...(isolationLevel !== undefined ? { isolationLevel: isolationLevel as IsolationLevel } : {}),
    ...(predicates !== undefined ? { readPredicates: parsed(predicatesSchema, jsonHeader(predicates, 'Delta-Read-Predicates'), 'header Delta-Read-Predicates') } : {}),
    ...(files !== undefined ? { readFiles: parsed(z.array(z.string()), jsonHeader(files, 'Delta-Read-Files'), 'header Delta-Read-Files') } : {}),
  };
  const readWholeTable = booleanHeader(header(headers, 'delta-read-whole-table'), 'Delta-Read-Whole-Table');
  const isBlindAppend = booleanHeader(header(headers, 'delta-blind-append'), 'Delta-Blind-Append');
  return { ...context, ...(readWholeTable !== undefined ? { readWholeTable } : {}), ...(isBlindAppend !== undefined ? { isBlindAppend } : {}) };
}

function readPredicatesOf(context: Context, where: string): readonly ReadPredicate[] | 'whole-table' {
  if (context.readWholeTable === true) {
    if ((context.readPredicates ?? []).length > 0) throw new BadRequestError(`${where}: readWholeTable already reads every partition: give it or readPredicates, not both`);
    return 'whole-table';
  }
  return (context.readPredicates ?? []).map((predicate) => (typeof predicate === 'string' ? parseReadPredicate(predicate, `${where} readPredicates`) : predicate));
}

/** Counts the non-blank lines up to the limit, before anything is parsed: a huge body is refused before it costs parsing. */
function checkLineCount(text: string, maxLines: number): void {
  let lines = 0;
  let start = 0;
  while (start <= text.length) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    if (text.slice(start, stop).trim() !== '') lines++;
    if (lines > maxLines) throw new TooManyLinesError(lines, maxLines);
    if (end === -1) break;
    start = end + 1;
  }
}

/** Sets the Idempotency-Key as commitInfo.txnId; a different txnId in the body is refused. */
function withIdempotencyKey(actions: Action[], lines: number[], key: string | undefined): { actions: Action[]; lines: number[] } {
  if (key === undefined) return { actions, lines };
  const index = actions.findIndex((action) => action.kind === 'commitInfo');
  if (index === -1) return { actions: [{ kind: 'commitInfo', commitInfo: { txnId: key } }, ...actions], lines: [0, ...lines] };
  const info = (actions[index] as { commitInfo: CommitInfo }).commitInfo;
  if (info.txnId !== undefined && info.txnId !== key) {
    throw new LogFormatError(bodySource, lines[index], `commitInfo.txnId: ${JSON.stringify(info.txnId)} contradicts the Idempotency-Key ${JSON.stringify(key)}`);
  }
  const replaced = [...actions];
  replaced[index] = { kind: 'commitInfo', commitInfo: { ...info, txnId: key } };
  return { actions: replaced, lines };
}

function build(table: string, text: string, context: Context, idempotencyKey: string | undefined, where: string, limits: { maxLines: number; maxAttempts: number }): ParsedCommit {
  checkLineCount(text, limits.maxLines);
  const located = parseActionLines(text, bodySource);
  if (located.length === 0) throw new BadRequestError('the body holds no action: a commit needs at least one line');
  const keyed = withIdempotencyKey(located.map((entry) => entry.action), located.map((entry) => entry.line), idempotencyKey);
  const request: CommitRequest = {
    table,
    actions: keyed.actions,
    source: bodySource,
    readPredicates: readPredicatesOf(context, where),
    readFiles: context.readFiles ?? [],
    maxAttempts: limits.maxAttempts,
    ...(context.readVersion !== undefined ? { readVersion: context.readVersion } : {}),
    ...(context.isolationLevel !== undefined ? { isolationLevel: context.isolationLevel } : {}),
    ...(context.isBlindAppend !== undefined ? { isBlindAppend: context.isBlindAppend } : {}),
  };
  return { request, lines: keyed.lines };
}

/** The commit of an application/x-ndjson request: lines in the body, the transaction in headers. */
export function commitFromNdjson(table: string, body: string, headers: Headers, limits: { maxLines: number; maxAttempts: number }): ParsedCommit {
  const key = header(headers, 'idempotency-key');
  return build(table, body, contextFromHeaders(headers), key === undefined ? undefined : parsed(idempotencyKeySchema, key, 'header Idempotency-Key'), 'headers', limits);
}

/** The commit of an application/json envelope. An array of action objects is numbered by its items, as lines. */
export function commitFromEnvelope(table: string, body: unknown, headers: Headers, limits: { maxLines: number; maxAttempts: number }): ParsedCommit {
  const given = contextHeaders.filter((name) => headers[name] !== undefined);
  if (given.length > 0) throw new BadRequestError(`with a JSON envelope the transaction is in the envelope: drop header${given.length > 1 ? 's' : ''} ${given.join(', ')}`);
  const envelope = parsed(envelopeSchema, body, 'envelope');
  const headerKey = header(headers, 'idempotency-key');
  if (headerKey !== undefined && envelope.idempotencyKey !== undefined && headerKey !== envelope.idempotencyKey) {
    throw new BadRequestError('the Idempotency-Key header and the envelope\'s idempotencyKey differ');
  }
  const key = envelope.idempotencyKey ?? (headerKey === undefined ? undefined : parsed(idempotencyKeySchema, headerKey, 'header Idempotency-Key'));
  const text = typeof envelope.actions === 'string' ? envelope.actions : envelope.actions.map((action) => JSON.stringify(action) ?? 'null').join('\n');
  return build(table, text, envelope, key, 'envelope', limits);
}

/**
 * The library numbers the actions it refuses by their place in the request
 * (1-based); the client wants the line of its body.
 */
export function onBodyLines(error: unknown, lines: readonly number[]): unknown {
  if (!(error instanceof LogFormatError) || error.file !== bodySource || error.line === undefined) return error;
  const line = lines[error.line - 1];
  if (line === undefined || line === 0) return new LogFormatError(bodySource, undefined, reasonOf(error), { cause: error });
  return new LogFormatError(bodySource, line, reasonOf(error), { cause: error });
}
