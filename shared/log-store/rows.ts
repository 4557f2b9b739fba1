/**
 * Actions as rows of the log tables, and bulk loading with COPY (text
 * format). One code path for imports (millions of rows, batched) and single
 * commits (a handful of rows).
 */
import { copyLines, type PoolClient } from '../db/index.ts';
import { deletionVectorUniqueId, type Action, type AddAction, type CommitInfo, type Json } from '../delta/index.ts';

type Cell = string | number | boolean | null;

interface TableSpec {
  readonly table: string;
  readonly columns: readonly string[];
}

const specs = {
  commit: {
    table: 'deltameta.delta_commit',
    columns: [
      'table_id', 'version', 'timestamp_ms', 'committed_at', 'operation', 'commit_info', 'commit_info_ordinal', 'txn_id',
      'num_adds', 'num_removes', 'num_actions', 'metadata_changed', 'protocol_changed', 'is_checkpoint', 'unknown_actions',
    ],
  },
  add: {
    table: 'deltameta.delta_add',
    columns: ['table_id', 'version', 'ordinal', 'path', 'dv_id', 'partition_values', 'size', 'modification_time', 'data_change', 'action'],
  },
  remove: {
    table: 'deltameta.delta_remove',
    columns: ['table_id', 'version', 'ordinal', 'path', 'dv_id', 'deletion_timestamp', 'data_change', 'action'],
  },
  cdc: { table: 'deltameta.delta_cdc', columns: ['table_id', 'version', 'ordinal', 'path', 'action'] },
  metadata: {
    table: 'deltameta.delta_metadata',
    columns: ['table_id', 'version', 'ordinal', 'metadata_id', 'schema_string', 'partition_columns', 'configuration', 'action'],
  },
  protocol: {
    table: 'deltameta.delta_protocol',
    columns: ['table_id', 'version', 'ordinal', 'min_reader_version', 'min_writer_version', 'reader_features', 'writer_features', 'action'],
  },
  txn: { table: 'deltameta.delta_txn', columns: ['table_id', 'version', 'ordinal', 'app_id', 'txn_version', 'last_updated', 'action'] },
  domain: {
    table: 'deltameta.delta_domain_metadata',
    columns: ['table_id', 'version', 'ordinal', 'domain', 'configuration', 'removed', 'action'],
  },
} as const satisfies Record<string, TableSpec>;

export type RowKind = keyof typeof specs;

/** COPY text format: backslash, newline, carriage return and tab are escaped; \N is NULL. */
function copyCell(value: Cell): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') return String(value);
  const escaped = value.includes('\\') ? value.replaceAll('\\', '\\\\') : value;
  return controlCharacters.test(escaped)
    ? escaped.replace(/[\n\r\t]/g, (char) => (char === '\n' ? '\\n' : char === '\r' ? '\\r' : '\\t'))
    : escaped;
}

const controlCharacters = /[\n\r\t]/;

/**
 * A cell holding JSON.stringify output. Hot path of every import: JSON text
 * has backslashes (the escaped quotes of stats) but never raw control
 * characters, so doubling backslashes is all COPY needs.
 */
class JsonCell {
  constructor(readonly text: string) {}
}

function cell(value: Cell | JsonCell): string {
  if (value instanceof JsonCell) return jsonCopyCell(value.text);
  return copyCell(value);
}

/** A JSON.stringify text as a COPY text cell: it never holds a raw control character, so doubling backslashes is all it needs. */
export function jsonCopyCell(json: string): string {
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

/**
 * The cells of an add's row that another row of the same add can share (an
 * import's file_index row holds the same JSON texts): computed once.
 */
export interface AddCells {
  /** jsonCopyCell(JSON.stringify(add)) */
  readonly action: string;
  /** jsonCopyCell(JSON.stringify(add.partitionValues)) */
  readonly partitionValues: string;
}

export function addCells(add: AddAction): AddCells {
  return { action: jsonCopyCell(JSON.stringify(add)), partitionValues: jsonCopyCell(JSON.stringify(add.partitionValues)) };
}

function json(value: unknown): JsonCell {
  return new JsonCell(JSON.stringify(value));
}

function textArray(items: readonly string[] | null | undefined): string | null {
  if (!items) return null;
  return `{${items.map((item) => `"${item.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

export interface CommitRowFields {
  readonly version: number;
  readonly timestampMs: number;
  readonly commitInfo: CommitInfo | undefined;
  readonly commitInfoOrdinal: number | undefined;
  readonly isCheckpoint: boolean;
}

export interface VersionSummary {
  adds: number;
  removes: number;
  actions: number;
  metadataChanged: boolean;
  protocolChanged: boolean;
  unknown: Json[];
}

/** Rows waiting to be copied, per log table; flushed in batches to bound memory. */
export class RowBatch {
  private readonly lines = new Map<RowKind, string[]>();
  private pending = 0;
  totalRows = 0;

  constructor(private readonly tableId: number) {}

  get size(): number {
    return this.pending;
  }

  private push(kind: RowKind, cells: readonly (Cell | JsonCell)[]): void {
    // join, not +=: a rope of ropes per row costs more in GC than it saves.
    this.pushLine(kind, `${cells.map(cell).join('\t')}\n`);
  }

  private pushLine(kind: RowKind, line: string): void {
    let list = this.lines.get(kind);
    if (!list) {
      list = [];
      this.lines.set(kind, list);
    }
    list.push(line);
    this.pending++;
    this.totalRows++;
  }

  /** Adds one action's row; returns what it changes in the version's summary. */
  addAction(version: number, ordinal: number, action: Action, summary: VersionSummary): void {
    if (action.kind === 'add') {
      this.addAdd(version, ordinal, action.add, summary, addCells(action.add));
      return;
    }
    const id = this.tableId;
    summary.actions++;
    switch (action.kind) {
      case 'remove': {
        const remove = action.remove;
        summary.removes++;
        this.push('remove', [
          id, version, ordinal, remove.path, deletionVectorUniqueId(remove.deletionVector), remove.deletionTimestamp ?? null,
          remove.dataChange, json(remove),
        ]);
        break;
      }
      case 'cdc':
        this.push('cdc', [id, version, ordinal, action.cdc.path, json(action.cdc)]);
        break;
      case 'metaData': {
        const metadata = action.metaData;
        summary.metadataChanged = true;
        this.push('metadata', [
          id, version, ordinal, metadata.id, metadata.schemaString, textArray(metadata.partitionColumns),
          json(metadata.configuration ?? {}), json(metadata),
        ]);
        break;
      }
      case 'protocol': {
        const protocol = action.protocol;
        summary.protocolChanged = true;
        this.push('protocol', [
          id, version, ordinal, protocol.minReaderVersion, protocol.minWriterVersion, textArray(protocol.readerFeatures),
          textArray(protocol.writerFeatures), json(protocol),
        ]);
        break;
      }
      case 'txn':
        this.push('txn', [id, version, ordinal, action.txn.appId, action.txn.version, action.txn.lastUpdated ?? null, json(action.txn)]);
        break;
      case 'domainMetadata': {
        const domain = action.domainMetadata;
        this.push('domain', [id, version, ordinal, domain.domain, domain.configuration, domain.removed, json(domain)]);
        break;
      }
      case 'unknown':
        summary.unknown.push({ [action.name]: action.value });
        break;
      default:
        // commitInfo lives on the commit row; checkpointMetadata and sidecar describe a checkpoint, not the table.
        summary.actions--;
        break;
    }
  }

  /**
   * An add's row, its JSON cells given (addCells). The hot path of a large
   * checkpoint: one template, no per-cell array (the GC cost of a million rows).
   */
  addAdd(version: number, ordinal: number, add: AddAction, summary: VersionSummary, cells: AddCells): void {
    summary.actions++;
    summary.adds++;
    // size and modificationTime are numbers, dataChange a boolean: parse and the checkpoint reader check them.
    this.pushLine('add', [
      this.tableId, version, ordinal, copyCell(add.path), copyCell(deletionVectorUniqueId(add.deletionVector)), cells.partitionValues,
      add.size, add.modificationTime, add.dataChange ? 't' : 'f', `${cells.action}\n`,
    ].join('\t'));
  }

  addCommit(fields: CommitRowFields, summary: VersionSummary): void {
    const info = fields.commitInfo;
    this.push('commit', [
      this.tableId, fields.version, fields.timestampMs, new Date(fields.timestampMs).toISOString(),
      typeof info?.operation === 'string' ? info.operation : null,
      info ? JSON.stringify(info) : null,
      fields.commitInfoOrdinal ?? null,
      typeof info?.txnId === 'string' ? info.txnId : null,
      summary.adds, summary.removes, summary.actions, summary.metadataChanged, summary.protocolChanged, fields.isCheckpoint,
      summary.unknown.length > 0 ? JSON.stringify(summary.unknown) : null,
    ]);
  }

  /** COPYs everything pending, commit rows first (the action tables' rows belong to them). */
  async flush(client: PoolClient): Promise<void> {
    await copyAll(client, this.takePending());
  }

  /**
   * Hands the pending rows over and starts copying them, so the caller can
   * parse the next batch while PostgreSQL ingests this one (an import is
   * otherwise half idle, waiting on COPY). Await the result before the next
   * flush and before COMMIT.
   */
  flushInBackground(client: PoolClient): Promise<void> {
    return copyAll(client, this.takePending());
  }

  /** The pending rows as one COPY text per log table, taken: what a worker hands over whole (copyTexts writes them). */
  takeTexts(): RowTexts {
    return [...this.takePending()].map(([kind, lines]) => [kind, lines.join('')] as const);
  }

  private takePending(): Map<RowKind, string[]> {
    const taken = new Map(this.lines);
    this.lines.clear();
    this.pending = 0;
    return taken;
  }
}

/** Rows of the log tables as COPY text, per table: what RowBatch.takeTexts hands over. */
export type RowTexts = ReadonlyArray<readonly [RowKind, string]>;

/** COPYs texts taken by takeTexts (commit rows first, as copyAll). */
export async function copyTexts(client: PoolClient, texts: RowTexts): Promise<void> {
  await copyAll(client, new Map(texts.map(([kind, text]) => [kind, text === '' ? [] : [text]])));
}

const order: RowKind[] = ['commit', 'metadata', 'protocol', 'txn', 'domain', 'remove', 'add', 'cdc'];

async function copyAll(client: PoolClient, pending: ReadonlyMap<RowKind, string[]>): Promise<void> {
  for (const kind of order) {
    const lines = pending.get(kind);
    if (!lines || lines.length === 0) continue;
    const spec = specs[kind];
    await copyLines(client, spec.table, spec.columns, lines);
  }
}

export function emptySummary(): VersionSummary {
  return { adds: 0, removes: 0, actions: 0, metadataChanged: false, protocolChanged: false, unknown: [] };
}
