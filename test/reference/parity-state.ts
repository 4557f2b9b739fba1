/**
 * For deltars-parity.test.ts: deltameta's answer (what PostgreSQL holds at a
 * version) in delta-rs's comparable form, column-mapped tables included; the
 * `deltameta` command as a user runs it; and Spark's time-travel rule,
 * written out here so the test's expectation does not come from the code it
 * checks.
 */
import type { Pool } from '../../shared/db/index.ts';
import { type AddAction, type MetadataAction, type ProtocolAction } from '../../shared/delta/index.ts';
import { requireTable, tableHeader } from '../../shared/log-store/index.ts';
import { type ComparableState } from '../support/deltars.ts';
import { snapshotOf } from '../support/tables.ts';
import { runDeltameta } from '../support/cli.ts';
import { comparableState } from './comparable-state.ts';


/** Runs `deltameta <args>` against the suite's database; throws with its stderr when it exits non-zero. */
export async function runCli(postgresUrl: string, args: readonly string[]): Promise<string> {
  const { code, stdout, stderr } = await runDeltameta(args, { DELTAMETA_PG_URL: postgresUrl });
  if (code !== 0) throw new Error(`deltameta ${args.join(' ')} failed (exit ${code}): ${stderr.trimEnd()}`);
  return stdout;
}

interface SchemaFieldJson {
  readonly name: string;
  readonly metadata?: Record<string, unknown>;
}

/**
 * Physical → logical names of the top-level columns, read from the schema
 * here rather than with shared/delta's columnNames: the oracle must not share
 * the code it checks.
 */
function logicalByPhysical(metadata: MetadataAction): Map<string, string> {
  const schema = JSON.parse(metadata.schemaString) as { fields?: SchemaFieldJson[] };
  return new Map(
    (schema.fields ?? []).map((field) => {
      const physical = field.metadata?.['delta.columnMapping.physicalName'];
      return [typeof physical === 'string' ? physical : field.name, field.name];
    }),
  );
}

/**
 * delta-rs 1.6 reports partition values by logical name and stats by
 * physical name (as the log keys both under column mapping), so only the
 * partition values are renamed before the comparable form is made; the
 * mapping mode is taken out for comparableState, which refuses mapped
 * tables, and put back in the result.
 */
export function comparableMappedState(version: number, metadata: MetadataAction, protocol: ProtocolAction | undefined, adds: readonly AddAction[]): ComparableState {
  const mode = metadata.configuration['delta.columnMapping.mode'];
  if (mode === undefined || mode === 'none') return comparableState({ version, metadata, protocol, adds });
  const logical = logicalByPhysical(metadata);
  const renamed = adds.map((add) => ({
    ...add,
    partitionValues: Object.fromEntries(
      Object.entries(add.partitionValues).map(([physical, value]) => {
        const name = logical.get(physical);
        if (name === undefined) throw new Error(`${add.path}: partition value under ${physical}, which no column of the schema maps to`);
        return [name, value];
      }),
    ),
  }));
  const { ['delta.columnMapping.mode']: _mode, ...unmapped } = metadata.configuration;
  const state = comparableState({ version, metadata: { ...metadata, configuration: unmapped }, protocol, adds: renamed });
  return { ...state, metadata: { ...state.metadata, configuration: metadata.configuration } };
}

/** What PostgreSQL holds for the table at `version`: the snapshot's add actions and the header's metadata and protocol. */
export async function storedSnapshot(pool: Pool, tableName: string, version: number): Promise<{ version: number; metadata: MetadataAction | undefined; protocol: ProtocolAction | undefined; adds: AddAction[] }> {
  const table = await requireTable(pool, tableName);
  const client = await pool.connect();
  let header;
  try {
    header = await tableHeader(client, table.tableId, version);
  } finally {
    client.release();
  }
  const snapshot = await snapshotOf(pool, tableName, { version });
  const adds = snapshot.lines.map((line) => (JSON.parse(line) as { add: AddAction }).add);
  return { version: snapshot.version, metadata: header.metadata, protocol: header.protocol, adds };
}

/** storedSnapshot as a comparable state, column-mapped tables included. */
export async function storedState(pool: Pool, tableName: string, version: number): Promise<ComparableState> {
  const stored = await storedSnapshot(pool, tableName, version);
  if (!stored.metadata) throw new Error(`${tableName} has no metaData at ${version}`);
  return comparableMappedState(stored.version, stored.metadata, stored.protocol, stored.adds);
}

/** One version's timestamps as a Delta reader can see them. */
export interface VersionTimes {
  readonly version: number;
  /** the commit file's modification time */
  readonly fileMs: number;
  /** commitInfo.inCommitTimestamp, on versions at or after ICT enablement */
  readonly ictMs?: number;
}

/**
 * Spark's time travel (DeltaHistoryManager.getActiveCommitAtTime with
 * canReturnLastCommit = false, and PROTOCOL.md "In-Commit Timestamps"):
 * versions before ICT enablement are timed by their commit files, made
 * strictly increasing (a time not after its predecessor's becomes
 * predecessor + 1 ms); versions from enablement on by their ICT. The answer
 * is the newest version timed at or before `ms`; a time before the first
 * version or after the last is an error (null here).
 */
export function sparkVersionAt(times: readonly VersionTimes[], ms: number): number | null {
  const effective: { version: number; ms: number }[] = [];
  for (const entry of times) {
    const previous = effective.at(-1)?.ms ?? -Infinity;
    const own = entry.ictMs ?? entry.fileMs;
    // ICTs are strictly increasing by the writer's rule; file times are made so.
    effective.push({ version: entry.version, ms: entry.ictMs === undefined && own <= previous ? previous + 1 : own });
  }
  const last = effective.at(-1);
  if (last === undefined || ms > last.ms) return null;
  let found: number | null = null;
  for (const entry of effective) if (entry.ms <= ms) found = entry.version;
  return found;
}

/** Each app id's txn version as PostgreSQL holds it at `version` (absent: null), for the ids asked. */
export async function storedTransactionVersions(pool: Pool, tableName: string, version: number, appIds: readonly string[]): Promise<Record<string, number | null>> {
  const table = await requireTable(pool, tableName);
  const client = await pool.connect();
  try {
    const { txns } = await tableHeader(client, table.tableId, version);
    const byApp = new Map(txns.map((txn) => [txn.appId, txn.version]));
    return Object.fromEntries(appIds.map((appId) => [appId, byApp.get(appId) ?? null]));
  } finally {
    client.release();
  }
}
