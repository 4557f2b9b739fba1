/**
 * What a token's table prefix covers: whole name segments, never part of
 * one. A segment ends at `.`, `_`, `-` or `:`, so `sales` covers `sales`,
 * `sales.orders`, `sales_eu`, `sales-x` and `sales:y`, but not
 * `salesforce_private` (a plain starts-with would hand that table to the
 * `sales` token). `*` covers every table; an empty prefix is refused, as it
 * would silently mean the same.
 */

export const allTables = '*';

const segmentEnds = new Set(['.', '_', '-', ':']);

/** Why `prefix` cannot be a scope, or undefined when it can. */
export function scopeProblem(prefix: string): string | undefined {
  if (prefix === '') return `an empty table prefix is refused (write "${allTables}" to grant every table)`;
  if (prefix !== allTables && prefix.includes(allTables)) return `table prefix ${JSON.stringify(prefix)}: "${allTables}" stands alone (it means every table), it is not a pattern`;
  return undefined;
}

export function scopeCovers(prefix: string, table: string): boolean {
  if (prefix === allTables) return true;
  if (prefix === '' || !table.startsWith(prefix)) return false;
  if (table.length === prefix.length) return true;
  // A prefix that itself ends a segment ("sales_") covers what follows it; else the table's next character must end the segment.
  return segmentEnds.has(prefix.at(-1) ?? '') || segmentEnds.has(table.charAt(prefix.length));
}

/** Scopes as SQL can apply them (covered-table-names.ts): null for every table. */
export function scopesForSql(prefixes: readonly string[]): string[] | null {
  return prefixes.includes(allTables) ? null : prefixes.filter((prefix) => prefix !== '');
}
