/**
 * What the base checkpoint's worker (import-base-worker.ts) and the import's
 * main thread (import-base.ts) say to each other, and how an error crosses:
 * by its class and fields, rebuilt on the main thread as the same class, so
 * an unreadable checkpoint still makes the import fall back to an older base.
 */
import { CheckpointUnreadableError, type CheckpointFiles, type InputLimits, type LocatedAction, type LogListing } from '../delta/index.ts';
import { InputRefusedError, InternalError, LogFormatError } from '../errors/index.ts';
import type { RowTexts, VersionSummary } from '../log-store/index.ts';

export interface BaseInit {
  readonly listing: LogListing;
  readonly checkpoint: CheckpointFiles;
  readonly limits: InputLimits;
  readonly tableId: number;
  readonly version: number;
  /** `${path}\u0000${dvId}` of every key the tail touches */
  readonly touchedKeys: readonly string[];
  /** rows (log and state) per chunk */
  readonly chunkRows: number;
}

export interface PartitionCount {
  readonly partitionValues: string;
  files: number;
  bytes: number;
  records: number;
}

interface ErrorDescription {
  readonly kind: 'unreadable' | 'refused' | 'format' | 'other';
  readonly file: string;
  readonly line: number | undefined;
  readonly reason: string;
}

export type BaseMessage =
  | { type: 'chunk'; log: RowTexts; state: string; actions: LocatedAction[]; touchedAdds: string[]; rows: number }
  | {
    type: 'end'; summary: VersionSummary; partitionSamples: LocatedAction[]; partitions: [string, PartitionCount][];
    files: number; bytes: number; records: number;
  }
  | { type: 'error'; error: ErrorDescription };

function reasonOf(error: LogFormatError): string {
  const prefix = `${error.file}${error.line !== undefined ? `:${error.line}` : ''}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

function describeError(error: unknown): ErrorDescription {
  if (error instanceof CheckpointUnreadableError) return { kind: 'unreadable', file: error.file, line: error.line, reason: error.reason };
  if (error instanceof InputRefusedError) return { kind: 'refused', file: error.file, line: error.line, reason: reasonOf(error) };
  if (error instanceof LogFormatError) return { kind: 'format', file: error.file, line: error.line, reason: reasonOf(error) };
  return { kind: 'other', file: '', line: undefined, reason: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}

function reviveError(description: ErrorDescription, checkpoint: CheckpointFiles): Error {
  const { file, line, reason } = description;
  switch (description.kind) {
    case 'unreadable': return new CheckpointUnreadableError(checkpoint, new LogFormatError(file, line, reason));
    case 'refused': return new InputRefusedError(file, line, reason);
    case 'format': return new LogFormatError(file, line, reason);
    default: return new InternalError(`import: the checkpoint worker failed: ${reason}`);
  }
}

export const baseMessages = { describeError, reviveError };
