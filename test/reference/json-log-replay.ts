/**
 * A reading of a Delta log's JSON commits done here, independently of both
 * delta-rs and the project's own parser, for the harness test
 * (deltars.test.ts) to check delta-rs's answers against: the newest action
 * on a logical file (path as written, plus the DV's unique id) wins, and
 * the latest metaData and protocol hold.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type AddAction, type MetadataAction, type ProtocolAction } from '../../shared/delta/index.ts';
import { type ComparableState, type WrittenDeletionVector } from '../support/deltars.ts';
import { comparableState } from './comparable-state.ts';

export type Action = Record<string, unknown>;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const logName = (version: number, suffix: string): string => `${String(version).padStart(20, '0')}${suffix}`;

export function logFiles(tableDir: string): string[] {
  return readdirSync(path.join(tableDir, '_delta_log'));
}

export function commitVersions(tableDir: string): number[] {
  return logFiles(tableDir)
    .flatMap((name) => /^(\d{20})\.json$/.exec(name)?.[1] ?? [])
    .map(Number)
    .sort((a, b) => a - b);
}

export function readCommit(tableDir: string, version: number): Action[] {
  const text = readFileSync(path.join(tableDir, '_delta_log', logName(version, '.json')), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const action: unknown = JSON.parse(line);
      if (!isRecord(action)) throw new Error(`commit ${version} holds a line that is not an action: ${line}`);
      return action;
    });
}

/** The body of an add or remove action, or undefined for any other action. */
function fileAction(action: Action, kind: 'add' | 'remove'): Record<string, unknown> | undefined {
  const body = action[kind];
  if (!isRecord(body)) return undefined;
  if (typeof body['path'] !== 'string') throw new Error(`${kind} action without a path: ${JSON.stringify(action)}`);
  return body;
}

export const actionPath = (action: Action, kind: 'add' | 'remove'): string | undefined => fileAction(action, kind)?.['path'] as string | undefined;

/** A logical file: the path string as written plus the DV's storage type, path and offset (PROTOCOL.md). */
function fileKey(body: Record<string, unknown>): string {
  const dv = body['deletionVector'];
  if (!isRecord(dv)) return `${String(body['path'])}\u0000`;
  const offset = typeof dv['offset'] === 'number' ? `@${dv['offset']}` : '';
  const dvId = `${String(dv['storageType'])}${String(dv['pathOrInlineDv'])}${offset}`;
  return `${String(body['path'])}\u0000${dvId}`;
}

export function operation(actions: Action[]): string | undefined {
  const info = actions.find((action) => isRecord(action['commitInfo']))?.['commitInfo'];
  return isRecord(info) && typeof info['operation'] === 'string' ? info['operation'] : undefined;
}

export interface ReplayedLog {
  readonly live: Map<string, Record<string, unknown>>;
  metadata: Record<string, unknown> | undefined;
  protocol: Record<string, unknown> | undefined;
}

/** Applies the actions of each commit in log order: the newest action on a file key wins. */
export function replay(tableDir: string, versions: Iterable<number>): ReplayedLog {
  const log: ReplayedLog = { live: new Map(), metadata: undefined, protocol: undefined };
  for (const version of versions) {
    for (const action of readCommit(tableDir, version)) {
      const removed = fileAction(action, 'remove');
      if (removed !== undefined) log.live.delete(fileKey(removed));
      const added = fileAction(action, 'add');
      if (added !== undefined) log.live.set(fileKey(added), added);
      if (isRecord(action['metaData'])) log.metadata = action['metaData'];
      if (isRecord(action['protocol'])) log.protocol = action['protocol'];
    }
  }
  return log;
}

/** The replayed log in delta-rs's form; the log's JSON is taken for the project's action types, unchecked, as delta-rs takes it. */
export function replayedState(version: number, log: ReplayedLog, written: readonly WrittenDeletionVector[] = []): ComparableState {
  return comparableState(
    {
      version,
      metadata: log.metadata as MetadataAction | undefined,
      protocol: log.protocol as ProtocolAction | undefined,
      adds: [...log.live.values()] as AddAction[],
    },
    written,
  );
}
