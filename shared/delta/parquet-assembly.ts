/**
 * Dremel record assembly for checkpoint files: the nested value of each
 * top-level column of a row, rebuilt from the (repetition level,
 * definition level, value) entries of its leaf columns (parquet-read.ts
 * supplies them a page at a time). Values come out as the JSON form of the
 * same action holds them.
 *
 * By hand, not hyparquet's row API: that holds a whole row group as objects
 * (over 300 MB for 50,000 adds; see parquet-read.ts).
 */
import type { SchemaElement, SchemaTree } from 'hyparquet';
import { InternalError } from '../errors/index.ts';
import type { Json, JsonObject } from './actions.ts';

/** A leaf column of the file schema: what assembly needs of it, and what the reader builds its page decoder from. */
export interface LeafColumn {
  /** dotted path, as column chunks name it */
  readonly path: string;
  readonly pathInSchema: string[];
  readonly element: SchemaElement;
  /** the schema nodes from the root down to this leaf */
  readonly schemaPath: SchemaTree[];
  readonly maxDef: number;
}

/** The entries of one leaf column chunk, in order. */
export interface LevelCursor {
  /** the next entry's definition level; throws when the chunk has no more */
  peekDef(): number;
  /** the next entry's repetition level; 0 at the end of the chunk */
  peekRep(): number;
  /** consumes one entry: its value if defined down to the leaf, else undefined */
  take(): unknown;
}

/** A node of the file schema prepared for assembly. */
export interface Field {
  name: string;
  kind: 'leaf' | 'struct' | 'list' | 'map';
  repetition: 'REQUIRED' | 'OPTIONAL' | 'REPEATED';
  /** Definition level at which this node is present. */
  defLevel: number;
  /** Repetition level of a new instance of this node (REPEATED only). */
  repLevel: number;
  element: SchemaElement;
  children: Field[];
  /** Cursor indexes of every leaf under this node; the first one is peeked to decide presence. */
  leaves: number[];
  /** Under stats_parsed, where dates and timestamps are the strings the JSON stats hold. */
  inStats: boolean;
}

/**
 * Prepares a schema node (and everything under it) for assembly; each leaf
 * below it is appended to `leaves`, whose index is its cursor's.
 */
export function compileField(tree: SchemaTree, ancestors: SchemaTree[], parentDef: number, parentRep: number, parentInStats: boolean, leaves: LeafColumn[]): Field {
  const { element } = tree;
  const repetition = element.repetition_type ?? 'REQUIRED';
  const defLevel = repetition === 'REQUIRED' ? parentDef : parentDef + 1;
  const repLevel = repetition === 'REPEATED' ? parentRep + 1 : parentRep;
  const inStats = parentInStats || element.name === 'stats_parsed';
  const path = [...ancestors, tree];
  const field: Field = { name: element.name, kind: 'leaf', repetition, defLevel, repLevel, element, children: [], leaves: [], inStats };
  if (tree.children.length === 0) {
    field.leaves.push(leaves.length);
    leaves.push({ path: tree.path.join('.'), pathInSchema: tree.path, element, schemaPath: path, maxDef: defLevel });
    return field;
  }
  field.children = tree.children.map((child) => compileField(child, path, defLevel, repLevel, inStats, leaves));
  field.leaves = field.children.flatMap((child) => child.leaves);
  const only = field.children.length === 1 ? field.children[0] : undefined;
  const annotation = element.logical_type?.type ?? element.converted_type;
  if ((annotation === 'MAP' || element.converted_type === 'MAP_KEY_VALUE') && only?.repetition === 'REPEATED' && only.children.length === 2) {
    field.kind = 'map';
  } else if (annotation === 'LIST' && only?.repetition === 'REPEATED') {
    field.kind = 'list';
  } else {
    field.kind = 'struct';
  }
  return field;
}

/** Reads the value of `field` for the current instance of its parent; undefined is null. */
export function readField(field: Field, cursors: LevelCursor[]): Json | undefined {
  if (field.repetition === 'REPEATED') return readInstances(field, cursors, () => readPresent(field, cursors) ?? null);
  if (field.repetition === 'OPTIONAL' && firstCursor(field, cursors).peekDef() < field.defLevel) {
    skip(field, cursors);
    return undefined;
  }
  return readPresent(field, cursors);
}

function readPresent(field: Field, cursors: LevelCursor[]): Json | undefined {
  switch (field.kind) {
    case 'leaf':
      return leafValue(firstCursor(field, cursors).take(), field);
    case 'struct': {
      // Null struct fields are absent, as in the JSON form of the action.
      const out: JsonObject = {};
      for (const child of field.children) {
        const value = readField(child, cursors);
        if (value !== undefined) setKey(out, child.name, value);
      }
      return out;
    }
    case 'list': {
      const repeated = field.children[0];
      if (!repeated) return [];
      const element = listElement(field, repeated);
      return readInstances(repeated, cursors, () =>
        (element === repeated ? readPresent(repeated, cursors) : readField(element, cursors)) ?? null);
    }
    case 'map': {
      const entries = field.children[0];
      if (!entries) return {};
      const key = entries.children.find((child) => child.name === 'key') ?? entries.children[0];
      const value = entries.children.find((child) => child.name === 'value') ?? entries.children[1];
      if (!key || !value) return {};
      // Entries in file order; a null value is data (a null partition value) and stays null.
      const out: JsonObject = {};
      readInstances(entries, cursors, () => {
        const k = readField(key, cursors);
        const v = readField(value, cursors);
        if (k !== undefined && k !== null) setKey(out, typeof k === 'string' ? k : JSON.stringify(k), v ?? null);
        return null;
      });
      return out;
    }
  }
}

/**
 * The element of a LIST: normally the single child of the repeated group,
 * but in the legacy layouts (parquet-format LogicalTypes.md, "Backward-
 * compatibility rules") the repeated field is itself the element.
 */
function listElement(list: Field, repeated: Field): Field {
  const only = repeated.children.length === 1 ? repeated.children[0] : undefined;
  if (!only || repeated.name === 'array' || repeated.name === `${list.name}_tuple`) return repeated;
  return only;
}

/** Reads every instance of a REPEATED field under the current parent instance. */
function readInstances(field: Field, cursors: LevelCursor[], readOne: () => Json): Json[] {
  const first = firstCursor(field, cursors);
  // Below the field's level: the parent is there but holds no instance (an empty list or map).
  if (first.peekDef() < field.defLevel) {
    skip(field, cursors);
    return [];
  }
  const out: Json[] = [];
  do out.push(readOne());
  while (first.peekRep() === field.repLevel);
  return out;
}

/** An absent node has exactly one entry in each leaf below it. */
function skip(field: Field, cursors: LevelCursor[]): void {
  for (const index of field.leaves) cursorAt(cursors, index).take();
}

function firstCursor(field: Field, cursors: LevelCursor[]): LevelCursor {
  const index = field.leaves[0];
  // compileField gives every group at least one leaf.
  if (index === undefined) throw new InternalError(`parquet group ${field.name} has no leaf columns`);
  return cursorAt(cursors, index);
}

function cursorAt(cursors: LevelCursor[], index: number): LevelCursor {
  const cursor = cursors[index];
  if (!cursor) throw new InternalError(`parquet leaf column ${index} has no cursor`);
  return cursor;
}

/** JSON.parse makes "__proto__" an own key; plain assignment would set the prototype instead. */
function setKey(target: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function leafValue(value: unknown, field: Field): Json | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON has no NaN or Infinity; a JSON writer emits null for them.
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      // Number() rounds beyond 2^53 exactly as JSON.parse rounds the same
      // digits, so both forms of one action agree.
      return Number(value);
    default:
      break;
  }
  if (value === null) return undefined;
  if (value instanceof Date) {
    // Action timestamps are longs (ms) in both forms; a writer that
    // annotated one as TIMESTAMP still means milliseconds.
    if (!field.inStats) return value.getTime();
    const isDate = field.element.converted_type === 'DATE' || field.element.logical_type?.type === 'DATE';
    // Delta JSON stats write dates as yyyy-MM-dd and timestamps as ISO-8601
    // with milliseconds in UTC.
    return isDate ? value.toISOString().slice(0, 10) : value.toISOString();
  }
  // Binary values have no JSON form in any action (Delta collects no stats
  // on binary columns), so there is nothing faithful to yield.
  return undefined;
}
