/**
 * The NDJSON bodies of Delta Sharing's `query` and `changes` answers, as
 * async generators of lines read inside one snapshot (the caller's stream
 * snapshot, on the reader's stream pool): the files of a version (the same
 * sources as `/v1/tables/{name}/files`: file_index, the tail merge or the
 * log tables, files-source.ts) pruned by `jsonPredicateHints`
 * (predicate-hints.ts, safe: never a file that could match) and cut by
 * `limitHint`; or the changes of a range of versions (changes-source.ts).
 * Every file's URL is signed (file-urls.ts) with one expiry for the whole
 * answer. Paging (`maxFiles`): one more file is looked at to tell whether a
 * next page exists; its token carries the last key sent.
 */
import type { PoolClient } from '../../../shared/db/index.ts';
import { recordsInStats, type AddAction, type DeletionVectorDescriptor } from '../../../shared/delta/index.ts';
import { noFilters, type FileFilters } from '../file-filters.ts';
import { fileLines } from '../files-source.ts';
import type { Plan, TableRef } from '../snapshot-scope.ts';
import { versionChanges, type ChangesQuery } from './changes-source.ts';
import type { FileUrlSigner } from './file-urls.ts';
import { deletionVectorPath } from './deletion-vector-path.ts';
import { fileMayMatch, type PredicateNode } from './predicate-hints.ts';
import { changeLine, fileLine, metadataLine, SharingResponseError, type ResponseFormat } from './responses.ts';

/** Where a page ended: what the next page's token carries (undefined: the answer is complete). */
export interface PageEnd {
  next: { readonly path: string; readonly dvId: string } | { readonly version: number; readonly ordinal: number } | undefined;
}

export interface SigningContext {
  readonly signer: FileUrlSigner;
  readonly table: TableRef;
  readonly expiresAtMs: number;
  readonly format: ResponseFormat;
}

/**
 * The signed URL of a deletion vector's file (delta format: the client reads
 * it to skip rows); undefined for none or an inline one. Parquet format never
 * gets here: it refuses tables with deletion vectors (responses.ts).
 */
async function deletionVectorUrl(context: SigningContext, dv: DeletionVectorDescriptor | null | undefined): Promise<string | undefined> {
  if (!dv) return undefined;
  const stored = deletionVectorPath(dv);
  if (stored === undefined) return undefined;
  // A Delta action path is URL-encoded; the DV's relative path is not.
  const actionPath = dv.storageType === 'u' ? stored.split('/').map(encodeURIComponent).join('/') : stored;
  return sign(context, actionPath, dv.sizeInBytes);
}

function sign(context: SigningContext, path: string, size: number): string | Promise<string> {
  const location = context.table.location;
  if (location === null) throw new SharingResponseError('UNSUPPORTED_OPERATION', `table ${context.table.name} has no location the reader can serve its files from`);
  const file = { tableId: String(context.table.tableId), tableLocation: location, path, size };
  return context.signer.signNow ? context.signer.signNow(file, context.expiresAtMs) : context.signer.sign(file, context.expiresAtMs);
}

/** Lines joined into batches: one yield per ~64 KiB instead of one per file, through every generator downstream. */
const batchChars = 64 * 1024;

export interface SnapshotLinesQuery {
  readonly version: number;
  /** sent with the files of a version or timestamp query */
  readonly timeTravel: boolean;
  readonly predicate: PredicateNode | undefined;
  readonly limitHint: number | undefined;
  readonly maxFiles: number | undefined;
  readonly after: { readonly path: string; readonly dvId: string } | undefined;
  /** partition equalities the predicate implies, pushed into SQL (predicate-pushdown.ts); the predicate still judges each file */
  readonly filters?: FileFilters;
}

/** The `file` lines of a version: pruned, limited, paged. */
export async function* snapshotFileLines(client: PoolClient, plan: Plan, context: SigningContext, query: SnapshotLinesQuery, end: PageEnd): AsyncGenerator<string> {
  let sent = 0;
  let records = 0;
  let last: { path: string; dvId: string } | undefined;
  let batch = '';
  const lines = fileLines(client, context.table, plan, { version: query.version, filters: query.filters ?? noFilters, after: query.after, limit: undefined });
  for await (const file of lines) {
    const add = (JSON.parse(file.line) as { add: AddAction }).add;
    if (!fileMayMatch(query.predicate, add)) continue;
    if (query.maxFiles !== undefined && sent === query.maxFiles) {
      end.next = last;
      if (batch !== '') yield batch;
      return;
    }
    const signed = sign(context, add.path, add.size);
    const url = typeof signed === 'string' ? signed : await signed;
    const dvUrl = add.deletionVector ? await deletionVectorUrl(context, add.deletionVector) : undefined;
    batch += fileLine(context.format, {
      add, url, expirationTimestamp: context.expiresAtMs, ...(query.timeTravel ? { version: query.version } : {}), ...(dvUrl !== undefined ? { deletionVectorUrl: dvUrl } : {}),
    });
    if (batch.length >= batchChars) {
      yield batch;
      batch = '';
    }
    sent++;
    last = { path: file.path, dvId: file.dvId };
    if (query.limitHint !== undefined) {
      // Files without a record count count as none: a hint is never met early by a guess.
      records += recordsInStats(add.stats);
      if (records >= query.limitHint) break;
    }
  }
  if (batch !== '') yield batch;
  end.next = undefined;
}

export interface ChangeLinesQuery extends ChangesQuery {
  readonly maxFiles: number | undefined;
}

/** The change lines of a range (and its metaData lines when asked), paged by (version, ordinal). */
export async function* changeLines(client: PoolClient, context: SigningContext, query: ChangeLinesQuery, end: PageEnd): AsyncGenerator<string> {
  let sent = 0;
  let last: { version: number; ordinal: number } | undefined;
  for await (const change of versionChanges(client, context.table.tableId, query)) {
    if (query.maxFiles !== undefined && sent === query.maxFiles && change.kind !== 'metaData') {
      end.next = last;
      return;
    }
    last = { version: change.version, ordinal: change.ordinal };
    if (change.kind === 'metaData') {
      yield metadataLine(context.format, change.action, { version: change.version });
      continue;
    }
    const url = await sign(context, change.action.path, change.action.size ?? 0);
    // (one line per yield: a range's changes are far fewer than a snapshot's files)
    const dvUrl = change.kind === 'cdc' ? undefined : await deletionVectorUrl(context, change.action.deletionVector);
    const facts = { url, expirationTimestamp: context.expiresAtMs, version: change.version, timestamp: change.timestampMs, ...(dvUrl !== undefined ? { deletionVectorUrl: dvUrl } : {}) };
    yield change.kind === 'add' ? changeLine(context.format, { kind: 'add', action: change.action }, facts)
      : change.kind === 'remove' ? changeLine(context.format, { kind: 'remove', action: change.action }, facts)
        : changeLine(context.format, { kind: 'cdc', action: change.action }, facts);
    sent++;
  }
  end.next = undefined;
}
