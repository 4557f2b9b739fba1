/**
 * What an action may hold, checked once when it enters (commit input, a
 * commit file, a checkpoint row), so that nothing accepted can fail later
 * in a place nobody watches: a bigint or integer column, a CHECK on a sum,
 * PostgreSQL's jsonb (no \u0000, no unpaired surrogate, numeric range and
 * scale, nesting), or Date's range. A refusal names the action (file and
 * line) and the field; the whole commit or import is refused with it.
 */
import { BadRequestError, InputRefusedError } from '../errors/index.ts';
import type { Action, Json, JsonObject } from './actions.ts';

export interface InputLimits {
  /** add/remove/cdc/sidecar paths, in UTF-16 code units */
  readonly maxPathLength: number;
  /** identifiers, partition values, tags, configuration values, map keys */
  readonly maxValueLength: number;
  /** free text: commitInfo strings, descriptions, domain configurations, unknown actions */
  readonly maxTextLength: number;
  readonly maxStatsLength: number;
  readonly maxSchemaStringLength: number;
  /** nesting of objects and arrays, in an action and in its stats */
  readonly maxJsonDepth: number;
  /** digits of one number literal in stats (jsonb's numeric refuses a scale over 16383) */
  readonly maxStatsNumberLength: number;
  /**
   * Bytes of one data file, and records in one. Per-table sums
   * (table_state.size_bytes, num_records) are bigint: 2^40 per file leaves
   * room for 2^23 such files before a sum could overflow.
   */
  readonly maxFileSize: number;
  readonly maxRecordsPerFile: number;
  /** Timestamps in ms since the epoch: 1970-01-01 to 9999-12-31 (Date and timestamptz both hold them). */
  readonly minTimestampMs: number;
  readonly maxTimestampMs: number;
  /** One commit, JSON checkpoint or compaction file: read whole into memory, so bounded before it is read. */
  readonly maxJsonFileBytes: number;
  /**
   * One Parquet page once decompressed, as its header declares it (checked
   * before anything is allocated; decompression then stops at the declared
   * size, so a gzip bomb inflates no further than this).
   */
  readonly maxUncompressedPageBytes: number;
  /** Entries in one Parquet page (run-length encoded levels are tiny on disk and not in memory). */
  readonly maxPageValues: number;
  /** Parts of one multi-part checkpoint, as its file names declare them. */
  readonly maxCheckpointParts: number;
}

export const defaultInputLimits: InputLimits = {
  maxPathLength: 16_384,
  maxValueLength: 65_536,
  maxTextLength: 1_048_576,
  maxStatsLength: 1_048_576,
  maxSchemaStringLength: 8_388_608,
  maxJsonDepth: 32,
  maxStatsNumberLength: 64,
  maxFileSize: 2 ** 40,
  maxRecordsPerFile: 2 ** 40,
  minTimestampMs: 0,
  maxTimestampMs: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  maxJsonFileBytes: 256 * 2 ** 20,
  maxUncompressedPageBytes: 64 * 2 ** 20,
  maxPageValues: 2 ** 24,
  maxCheckpointParts: 100_000,
};

/** Defaults with some limits replaced (each must be a positive number). */
export function inputLimits(overrides: Partial<InputLimits> = {}): InputLimits {
  for (const [name, value] of Object.entries(overrides)) {
    if (typeof value !== 'number' || Number.isNaN(value) || (value <= 0 && name !== 'minTimestampMs')) {
      throw new BadRequestError(`limit ${name} must be a positive number, got ${String(value)}`);
    }
  }
  return { ...defaultInputLimits, ...overrides };
}

const int32Max = 2 ** 31 - 1;

type Where = { readonly file: string; readonly line: number | undefined; readonly kind: string };

function fail(where: Where, field: string, reason: string): never {
  throw new InputRefusedError(where.file, where.line, `${where.kind}.${field}: ${reason}`);
}

function integerIn(where: Where, body: JsonObject, field: string, min: number, max: number, optional: boolean): void {
  const value = body[field];
  if (value === undefined || value === null) {
    if (optional) return;
    fail(where, field, 'missing');
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(where, field, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
}

function timestamp(where: Where, body: JsonObject, field: string, limits: InputLimits, optional = true): void {
  integerIn(where, body, field, limits.minTimestampMs, limits.maxTimestampMs, optional);
}

// An unpaired surrogate: jsonb refuses its escape, and UTF-8 cannot carry it (pg would write U+FFFD instead).
const unpairedSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkString(where: Where, field: string, value: string, max: number): void {
  if (value.length > max) fail(where, field, `longer than ${max} characters (${value.length})`);
  // PostgreSQL text and jsonb cannot hold NUL at all.
  if (value.includes('\u0000')) fail(where, field, 'contains a NUL character');
  if (unpairedSurrogate.test(value)) fail(where, field, 'contains an unpaired UTF-16 surrogate (not valid Unicode)');
}

/** Every string and key under a value: length, NUL, surrogates; and nesting depth. */
function checkTree(where: Where, field: string, value: Json | undefined, max: number, depth: number, limits: InputLimits): void {
  if (typeof value === 'string') {
    checkString(where, field, value, max);
    return;
  }
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) fail(where, field, 'must be a finite number');
    return;
  }
  if (depth > limits.maxJsonDepth) fail(where, field, `nested deeper than ${limits.maxJsonDepth} levels`);
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkTree(where, `${field}[${index}]`, item, max, depth + 1, limits));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    checkString(where, `${field} key ${JSON.stringify(key.slice(0, 40))}`, key, limits.maxValueLength);
    checkTree(where, `${field}.${key}`, item, max, depth + 1, limits);
  }
}

/**
 * Depth and number-literal length of a JSON text, scanned before parsing:
 * a deep text can overflow the parser's stack, and a long number literal
 * parses in JavaScript but overflows jsonb's numeric.
 */
function scanStats(where: Where, text: string, limits: InputLimits): void {
  let depth = 0;
  let inString = false;
  let numberLength = 0;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index++;
      else if (char === 0x22) inString = false;
      continue;
    }
    const isNumberChar = (char >= 0x30 && char <= 0x39) || char === 0x2e || char === 0x2d || char === 0x2b || char === 0x65 || char === 0x45;
    numberLength = isNumberChar ? numberLength + 1 : 0;
    if (numberLength > limits.maxStatsNumberLength) fail(where, 'stats', `has a number longer than ${limits.maxStatsNumberLength} characters`);
    if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) {
      if (++depth > limits.maxJsonDepth) fail(where, 'stats', `nested deeper than ${limits.maxJsonDepth} levels`);
    } else if (char === 0x7d || char === 0x5d) depth--;
  }
}

/**
 * The stats text checked last and its numRecords: an import turns the add it
 * has just checked into a file_index row (shared/materialized file-row.ts)
 * and needs numRecords, which would otherwise parse the stats a second time
 * (a million times on a large checkpoint).
 */
let lastCheckedStats: { text: string; numRecords: number | null } | undefined;

/**
 * numRecords of a stats text that checkActionValues has just accepted (a
 * JSON object; numRecords a safe integer in range, else null); undefined
 * when `stats` is not the text checked last (the caller parses it then).
 */
export function checkedStatsRecords(stats: string): number | null | undefined {
  return lastCheckedStats !== undefined && lastCheckedStats.text === stats ? lastCheckedStats.numRecords : undefined;
}

function checkStats(where: Where, body: JsonObject, limits: InputLimits): void {
  const stats = body['stats'];
  if (stats === undefined || stats === null) return;
  if (typeof stats !== 'string') fail(where, 'stats', 'must be a string');
  // Its length, NUL and surrogates were checked with the action's other top-level fields (checkTree, cap maxStatsLength).
  scanStats(where, stats, limits);
  let parsed: Json;
  try {
    parsed = JSON.parse(stats) as Json;
  } catch (error) {
    fail(where, 'stats', `not valid JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail(where, 'stats', 'must be a JSON object');
  checkFiniteNumbers(where, parsed);
  integerIn({ ...where, kind: `${where.kind}.stats` }, parsed, 'numRecords', 0, limits.maxRecordsPerFile, true);
  const numRecords = parsed['numRecords'];
  lastCheckedStats = { text: stats, numRecords: typeof numRecords === 'number' && Number.isSafeInteger(numRecords) ? numRecords : null };
}

/** jsonb's numeric refuses what JSON.parse turns into Infinity (1e400 is fine, 1e999999 is not): refuse both. */
function checkFiniteNumbers(where: Where, value: Json): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(where, 'stats', 'has a number out of range');
  } else if (Array.isArray(value)) {
    for (const item of value) checkFiniteNumbers(where, item);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) checkFiniteNumbers(where, item);
  }
}

function checkDeletionVector(where: Where, body: JsonObject, limits: InputLimits): void {
  const dv = body['deletionVector'];
  if (dv === undefined || dv === null || typeof dv !== 'object' || Array.isArray(dv)) return;
  const at: Where = { ...where, kind: `${where.kind}.deletionVector` };
  integerIn(at, dv, 'offset', 0, Number.MAX_SAFE_INTEGER, true);
  integerIn(at, dv, 'sizeInBytes', 0, limits.maxFileSize, false);
  integerIn(at, dv, 'cardinality', 0, Number.MAX_SAFE_INTEGER, false);
  integerIn(at, dv, 'maxRowIndex', 0, Number.MAX_SAFE_INTEGER, true);
}

/** Length caps per top-level field where they differ from the action's default. */
function fieldCap(field: string, value: Json | undefined, limits: InputLimits, fallback: number): number {
  if (typeof value !== 'string') return fallback;
  switch (field) {
    case 'path': return limits.maxPathLength;
    case 'stats': return limits.maxStatsLength;
    case 'schemaString': return limits.maxSchemaStringLength;
    case 'description':
    case 'configuration': return limits.maxTextLength;
    default: return fallback;
  }
}

/**
 * Checks the values of one action (its shape is checked by the parser).
 * Throws a LogFormatError (BAD_INPUT) naming file, line, action and field.
 */
export function checkActionValues(action: Action, file: string, line: number | undefined, limits: InputLimits = defaultInputLimits): void {
  const kind = action.kind === 'unknown' ? action.name : action.kind;
  const where: Where = { file, line, kind };
  const body = (action.kind === 'unknown' ? action.value : (action as unknown as Record<string, Json>)[action.kind]) ?? null;
  const freeText = action.kind === 'commitInfo' || action.kind === 'unknown';
  const fallback = freeText ? limits.maxTextLength : limits.maxValueLength;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    checkTree(where, '(value)', body, fallback, 1, limits);
    return;
  }
  for (const [field, value] of Object.entries(body)) {
    checkString(where, `key ${JSON.stringify(field.slice(0, 40))}`, field, limits.maxValueLength);
    checkTree(where, field, value, fieldCap(field, value, limits, fallback), 1, limits);
  }
  const maxSafe = Number.MAX_SAFE_INTEGER;
  switch (action.kind) {
    case 'add':
      integerIn(where, body, 'size', 0, limits.maxFileSize, false);
      timestamp(where, body, 'modificationTime', limits, false);
      integerIn(where, body, 'baseRowId', 0, maxSafe, true);
      integerIn(where, body, 'defaultRowCommitVersion', 0, maxSafe, true);
      checkStats(where, body, limits);
      checkDeletionVector(where, body, limits);
      break;
    case 'remove':
      integerIn(where, body, 'size', 0, limits.maxFileSize, true);
      timestamp(where, body, 'deletionTimestamp', limits);
      integerIn(where, body, 'baseRowId', 0, maxSafe, true);
      integerIn(where, body, 'defaultRowCommitVersion', 0, maxSafe, true);
      checkStats(where, body, limits);
      checkDeletionVector(where, body, limits);
      break;
    case 'cdc':
      integerIn(where, body, 'size', 0, limits.maxFileSize, false);
      break;
    case 'metaData':
      timestamp(where, body, 'createdTime', limits);
      break;
    case 'protocol':
      // delta_protocol's columns are integer.
      integerIn(where, body, 'minReaderVersion', 1, int32Max, false);
      integerIn(where, body, 'minWriterVersion', 1, int32Max, false);
      break;
    case 'txn':
      integerIn(where, body, 'version', 0, maxSafe, false);
      timestamp(where, body, 'lastUpdated', limits);
      break;
    case 'commitInfo':
      timestamp(where, body, 'timestamp', limits);
      timestamp(where, body, 'inCommitTimestamp', limits);
      break;
    case 'checkpointMetadata':
      integerIn(where, body, 'version', 0, maxSafe, false);
      break;
    case 'sidecar':
      integerIn(where, body, 'sizeInBytes', 0, maxSafe, false);
      timestamp(where, body, 'modificationTime', limits);
      break;
    default:
      break;
  }
}
