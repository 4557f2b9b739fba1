/**
 * The names Delta Sharing carries in its URLs and in a connector's
 * `profile#share.schema.table`: shares, schemas, shared tables and
 * recipients. One strict pattern (also the CHECK of sql/000014_sharing.sql),
 * so a name never needs escaping and never holds the '.' that separates them.
 */
import { BadRequestError } from '../errors/index.ts';

export const sharingNamePattern = /^[a-z0-9_][a-z0-9_-]{0,127}$/;
export const sharingNameRule = "lowercase letters, digits, '_' and '-', starting with a letter, digit or '_', at most 128 characters";

/** deltameta's own table names (sql/000002_delta_log.sql). */
export const deltaTableNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export type SharingNameKind = 'share' | 'schema' | 'table' | 'recipient' | '--as';

export function isSharingName(value: string): boolean {
  return sharingNamePattern.test(value);
}

/** `value` when it is a valid name, else BadRequestError naming what it was for and the rule. */
export function checkSharingName(kind: SharingNameKind, value: string): string {
  if (!isSharingName(value)) throw new BadRequestError(`${kind} name ${JSON.stringify(value)} is not valid: ${sharingNameRule}`);
  return value;
}

/** A table entry as given on the command line: `name`, or `prefix*` (every table whose name starts with prefix). */
export type TableSelector = { readonly kind: 'table'; readonly name: string } | { readonly kind: 'prefix'; readonly prefix: string };

export function parseTableSelector(value: string): TableSelector {
  if (value.endsWith('*')) {
    const prefix = value.slice(0, -1);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,198}$/.test(prefix)) {
      throw new BadRequestError(`table prefix ${JSON.stringify(value)} is not valid: a prefix is the start of a deltameta table name (letters, digits, '_', '.', '-', not starting with '.' or '-') followed by one '*'`);
    }
    return { kind: 'prefix', prefix };
  }
  if (!deltaTableNamePattern.test(value)) {
    throw new BadRequestError(`table ${JSON.stringify(value)} is not a deltameta table name (letters, digits, '_', '.', '-', not starting with '.' or '-', at most 200 characters; a prefix ends with '*')`);
  }
  return { kind: 'table', name: value };
}
