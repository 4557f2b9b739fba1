/**
 * Reconciliation of one logical file's actions within a batch of versions
 * into file_index intervals. The actions come in (version, ordinal) order;
 * the newest one decides whether the file is live at the batch's end, and
 * every add opens an interval that the key's next action (a remove, or an
 * add that replaces it) closes. So a key added, removed and added again
 * inside one batch leaves two rows, and time travel to any version of the
 * batch still finds the right one.
 */
import { InternalError } from '../errors/index.ts';

export interface KeyAction {
  readonly version: number;
  readonly ordinal: number;
  /** the add action's JSON as stored in delta_add; null for a remove */
  readonly add: string | null;
}

export interface FileInterval {
  /** the add action's JSON as stored */
  readonly add: string;
  readonly addedVersion: number;
  /** the version of the next action on the key; null: live at the batch's end */
  readonly removedVersion: number | null;
}

export interface KeyReconciliation {
  /**
   * The version at which a row already live before the batch stops being
   * live: the first action of the batch on the key, add or remove (an add
   * on a live key replaces it). Removing a key that is not live — a
   * checkpoint's tombstones — closes nothing.
   */
  readonly closeAt: number;
  readonly intervals: FileInterval[];
}

/** `actions` must be non-empty and sorted by (version, ordinal). */
export function reconcileKey(actions: readonly KeyAction[]): KeyReconciliation {
  const first = actions[0];
  if (!first) throw new InternalError('reconcileKey needs at least one action');
  const intervals: FileInterval[] = [];
  actions.forEach((action, index) => {
    if (action.add === null) return;
    const next = actions[index + 1];
    // Two actions on one key in one version cannot pass validation; were
    // they there, the later wins and the earlier was never visible.
    if (next && next.version === action.version) return;
    intervals.push({ add: action.add, addedVersion: action.version, removedVersion: next ? next.version : null });
  });
  return { closeAt: first.version, intervals };
}
