/**
 * History and change feed (GET /v1/tables/{name}/commits): one NDJSON line
 * per commit in [from, to] — version, timestamp (the time-travel
 * timestamp), operation, commitInfo — and with `actions` the commit's
 * actions as their stored JSON, in commit-file order. From the log tables,
 * at most `limit` commits at a time: a table's whole history can be far
 * larger than a reader's memory.
 */
import type { PoolClient } from '../../shared/db/index.ts';

export interface CommitsQuery {
  readonly from: number;
  readonly to: number;
  readonly actions: boolean;
  /** commits at most; one more is read to tell whether a next page exists */
  readonly limit: number;
}

/** Filled in as the lines are read: where the next page starts, if there is one. */
export interface CommitsPageEnd {
  nextFrom: number | undefined;
}

/** Action tables and the key each action is written under in a commit file. */
const actionTables = [
  ['delta_add', 'add'], ['delta_remove', 'remove'], ['delta_metadata', 'metaData'], ['delta_protocol', 'protocol'],
  ['delta_txn', 'txn'], ['delta_domain_metadata', 'domainMetadata'], ['delta_cdc', 'cdc'],
] as const;

// serves: delta_commit primary key (table_id, version), a range read in order up to a limit
const commitsInRangeSql = `
  SELECT version, timestamp_ms, operation, commit_info FROM deltameta.delta_commit
   WHERE table_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version LIMIT $4`;

// serves: each action table's primary key (table_id, version, ordinal)
const actionsInRangeSql = `
  SELECT version, ordinal, kind, action FROM (
    ${actionTables.map(([table, kind]) => `SELECT version, ordinal, '${kind}' AS kind, action FROM deltameta.${table} WHERE table_id = $1 AND version BETWEEN $2 AND $3`).join('\n    UNION ALL\n    ')}
  ) actions ORDER BY version, ordinal`;

export async function* commitLines(client: PoolClient, tableId: number, query: CommitsQuery, end: CommitsPageEnd): AsyncGenerator<string> {
  const { rows: found } = await client.query<{ version: number; timestamp_ms: number; operation: string | null; commit_info: unknown }>(
    commitsInRangeSql, [tableId, query.from, query.to, query.limit + 1],
  );
  const rows = found.slice(0, query.limit);
  end.nextFrom = found.length > query.limit ? found[query.limit]?.version : undefined;
  const lastVersion = rows.at(-1)?.version;
  const actionsByVersion = new Map<number, string[]>();
  if (query.actions && lastVersion !== undefined) {
    const actions = await client.query<{ version: number; kind: string; action: string }>(actionsInRangeSql, [tableId, query.from, lastVersion]);
    for (const row of actions.rows) {
      let list = actionsByVersion.get(row.version);
      if (!list) actionsByVersion.set(row.version, (list = []));
      list.push(`{"${row.kind}":${row.action}}`);
    }
  }
  for (const row of rows) {
    const head = JSON.stringify({ version: row.version, timestamp: new Date(row.timestamp_ms).toISOString(), operation: row.operation, commitInfo: row.commit_info ?? null });
    yield query.actions ? `${head.slice(0, -1)},"actions":[${(actionsByVersion.get(row.version) ?? []).join(',')}]}` : head;
  }
}
