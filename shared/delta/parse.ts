/**
 * Parsing and validating Delta actions from JSON (commit files, JSON
 * checkpoints, compacted files, `deltameta commit` input). A line that is
 * not valid JSON, not one action, or misses a field the protocol requires
 * is an error naming the file and line; fields the protocol does not name
 * are kept.
 */
import { LogFormatError } from '../errors/index.ts';
import type { Action, Json, JsonObject } from './actions.ts';
import { checkActionValues, defaultInputLimits, type InputLimits } from './input-limits.ts';

type Check = (value: Json | undefined) => boolean;
const isString: Check = (value) => typeof value === 'string';
const isNumber: Check = (value) => typeof value === 'number' && Number.isFinite(value);
const isBoolean: Check = (value) => typeof value === 'boolean';
const isObject: Check = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringArray: Check = (value) => Array.isArray(value) && value.every((item) => typeof item === 'string');
const isStringMap: Check = (value) =>
  isObject(value) && Object.values(value as JsonObject).every((item) => item === null || typeof item === 'string');
const optional = (check: Check): Check => (value) => value === undefined || value === null || check(value);

const required: Record<string, Record<string, Check>> = {
  add: {
    path: isString, partitionValues: isStringMap, size: isNumber, modificationTime: isNumber, dataChange: isBoolean,
    stats: optional(isString), tags: optional(isStringMap), deletionVector: optional(isObject),
    baseRowId: optional(isNumber), defaultRowCommitVersion: optional(isNumber),
  },
  remove: {
    path: isString, dataChange: isBoolean, deletionTimestamp: optional(isNumber), partitionValues: optional(isStringMap),
    size: optional(isNumber), deletionVector: optional(isObject),
  },
  metaData: {
    id: isString, format: isObject, schemaString: isString, partitionColumns: isStringArray,
    configuration: optional(isStringMap), createdTime: optional(isNumber),
  },
  protocol: {
    minReaderVersion: isNumber, minWriterVersion: isNumber, readerFeatures: optional(isStringArray), writerFeatures: optional(isStringArray),
  },
  txn: { appId: isString, version: isNumber, lastUpdated: optional(isNumber) },
  domainMetadata: { domain: isString, configuration: isString, removed: isBoolean },
  cdc: { path: isString, partitionValues: isStringMap, size: isNumber, dataChange: isBoolean },
  commitInfo: { timestamp: optional(isNumber), inCommitTimestamp: optional(isNumber), txnId: optional(isString), operation: optional(isString) },
  checkpointMetadata: { version: isNumber },
  sidecar: { path: isString, sizeInBytes: isNumber },
};

const deletionVectorFields: Record<string, Check> = {
  storageType: isString, pathOrInlineDv: isString, offset: optional(isNumber), sizeInBytes: isNumber, cardinality: isNumber,
};

/** Validates one action object ({"add": {...}}) and returns it typed: its shape here, its values against `limits`. */
export function parseActionObject(value: Json, file: string, line: number | undefined, limits: InputLimits = defaultInputLimits): Action {
  if (!isObject(value)) throw new LogFormatError(file, line, 'an action must be a JSON object');
  const keys = Object.keys(value as JsonObject);
  if (keys.length !== 1 || keys[0] === undefined) {
    throw new LogFormatError(file, line, `an action must have exactly one key, got ${keys.length === 0 ? 'none' : keys.join(', ')}`);
  }
  const name = keys[0];
  const body = (value as JsonObject)[name] as Json;
  const fields = required[name];
  if (!fields) {
    const unknown: Action = { kind: 'unknown', name, value: body };
    checkActionValues(unknown, file, line, limits);
    return unknown;
  }
  if (!isObject(body)) throw new LogFormatError(file, line, `${name}: must be an object`);
  const object = body as JsonObject;
  for (const [field, check] of Object.entries(fields)) {
    if (!check(object[field])) {
      const got = object[field] === undefined ? 'missing' : `got ${JSON.stringify(object[field])}`;
      throw new LogFormatError(file, line, `${name}.${field}: ${describe(check)} (${got})`);
    }
  }
  const dv = object['deletionVector'];
  if ((name === 'add' || name === 'remove') && dv !== undefined && dv !== null) {
    for (const [field, check] of Object.entries(deletionVectorFields)) {
      if (!check((dv as JsonObject)[field])) throw new LogFormatError(file, line, `${name}.deletionVector.${field}: missing or wrong type`);
    }
  }
  if (name === 'add' || name === 'remove' || name === 'cdc') {
    if ((object['path'] as string).length === 0) throw new LogFormatError(file, line, `${name}.path: must not be empty`);
  }
  const action = { kind: name, [name]: object } as unknown as Action;
  checkActionValues(action, file, line, limits);
  return action;
}

function describe(check: Check): string {
  if (check === isString) return 'must be a string';
  if (check === isNumber) return 'must be a number';
  if (check === isBoolean) return 'must be true or false';
  if (check === isStringMap) return 'must be an object of strings';
  if (check === isStringArray) return 'must be an array of strings';
  if (check === isObject) return 'must be an object';
  return 'has the wrong type';
}

export interface LineAction {
  readonly action: Action;
  /** 1-based line in its file */
  readonly line: number;
}

/** Parses newline-delimited actions. Blank lines are skipped; line numbers are 1-based. */
export function parseActionLines(text: string, file: string, limits: InputLimits = defaultInputLimits): LineAction[] {
  const actions: LineAction[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index];
    if (raw === undefined || raw.trim() === '') continue;
    let value: Json;
    try {
      value = JSON.parse(raw) as Json;
    } catch (error) {
      throw new LogFormatError(file, index + 1, `not valid JSON (${(error as Error).message})`);
    }
    actions.push({ action: parseActionObject(value, file, index + 1, limits), line: index + 1 });
  }
  return actions;
}
