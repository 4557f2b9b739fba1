/**
 * The log rows of the commits after an import's base checkpoint, built
 * ahead: while a worker decodes the checkpoint the main thread mostly waits
 * on PostgreSQL, so the tail's rows (a fifth of the rows at 1M files in the
 * realistic layout) are made between the checkpoint's chunks, one version
 * at a time, instead of after the checkpoint, where they were on the
 * import's critical path. Validation and the commit rows (which need the
 * versions' timestamps, known once the base is) stay in version order after
 * the base.
 */
import type { CommitInfo, LocatedAction } from '../delta/index.ts';
import { emptySummary, type RowBatch, type VersionSummary } from './rows.ts';

/** What a version's rows tell its commit row. */
export interface VersionRows {
  readonly summary: VersionSummary;
  readonly commitInfo: CommitInfo | undefined;
  readonly commitInfoOrdinal: number | undefined;
}

/** Adds a version's action rows to the batch. */
export function addVersionRows(batch: RowBatch, version: number, actions: readonly LocatedAction[]): VersionRows {
  const summary = emptySummary();
  let commitInfo: CommitInfo | undefined;
  let commitInfoOrdinal: number | undefined;
  actions.forEach((located, ordinal) => {
    if (located.action.kind === 'commitInfo') {
      commitInfo = located.action.commitInfo;
      commitInfoOrdinal = ordinal;
    }
    batch.addAction(version, ordinal, located.action, summary);
  });
  return { summary, commitInfo, commitInfoOrdinal };
}

export class TailRows {
  private readonly built = new Map<number, VersionRows>();
  private readonly pending: [number, LocatedAction[]][];

  /** `tail`: the tail's actions by version, in version order (readTail). */
  constructor(tail: ReadonlyMap<number, LocatedAction[]>, private readonly batch: RowBatch) {
    this.pending = [...tail].reverse();
  }

  /** Builds the next tail version's rows; false when every one is built. */
  buildNext(): boolean {
    const next = this.pending.pop();
    if (!next) return false;
    this.built.set(next[0], addVersionRows(this.batch, next[0], next[1]));
    return true;
  }

  /** A version's rows: built ahead, or now. */
  rowsOf(version: number, actions: readonly LocatedAction[]): VersionRows {
    const built = this.built.get(version);
    if (built) {
      this.built.delete(version);
      return built;
    }
    const index = this.pending.findIndex(([pending]) => pending === version);
    if (index >= 0) this.pending.splice(index, 1);
    return addVersionRows(this.batch, version, actions);
  }
}
