/**
 * One REPEATABLE READ, READ ONLY transaction per answer: the watermark, the
 * materialized rows and the log tail are read from one snapshot, so a
 * refresh or retention committing meanwhile changes nothing for this
 * answer. Decides the level that can answer a version:
 * - l3: file_index / table_state hold it ([file_index_min_version, mv_version]);
 * - l4 "tail": beyond the watermark: state at the watermark plus the log tail;
 * - l4 "log": below file_index_min_version, no materialized state, or L3 off:
 *   the log tables alone (the reference reconciliation).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';
import pg from 'pg';
import type { Pool, PoolClient } from '../../shared/db/index.ts';
import type { TableKind } from '../../shared/log-store/index.ts';
import { materializedRange, type MaterializedRange } from '../../shared/materialized/index.ts';

export interface TableRef {
  readonly tableId: number;
  readonly name: string;
  readonly logStartVersion: number;
  /** shown by the summary; a handover or publication changes them without a version (summarySource) */
  readonly kind: TableKind;
  readonly location: string | null;
  /** its versions are written to `location` by services/publisher (shadow checks read them there) */
  readonly published: boolean;
}

export type Plan =
  | { readonly level: 'l3'; readonly range: MaterializedRange }
  | { readonly level: 'l4'; readonly source: 'tail'; readonly range: MaterializedRange }
  | { readonly level: 'l4'; readonly source: 'log' };

export function planFor(range: MaterializedRange | undefined, version: number, l3Enabled: boolean): Plan {
  if (!l3Enabled || !range || version < range.minVersion) return { level: 'l4', source: 'log' };
  if (version <= range.mvVersion) return { level: 'l3', range };
  return { level: 'l4', source: 'tail', range };
}

/** Every answer's transaction: one snapshot, and a bug cannot write. */
export const beginSnapshotSql = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

/**
 * The signal of the request being answered, aborted when its client goes
 * away before the answer is sent (reader-app.ts enters it per request): a query
 * nobody will read is cancelled instead of running to its statement timeout
 * with a pooled connection.
 */
export const requestAbandonment = new AsyncLocalStorage<RequestWatch>();

/**
 * The request being answered. Its signal is made on first use: only answers
 * that reach PostgreSQL need one, and an AbortController plus a 'close'
 * listener on every request cost the hot path about a quarter of its
 * throughput (answers from L1 never look).
 */
export class RequestWatch {
  private controller: AbortController | undefined;

  constructor(private readonly response: ServerResponse) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      const response = this.response;
      if (response.closed) {
        if (!response.writableFinished) controller.abort();
      } else {
        response.once('close', () => {
          if (!response.writableFinished) controller.abort();
        });
      }
    }
    return this.controller.signal;
  }
}

/**
 * Node 20's AsyncLocalStorage, once entered, turns on promise hooks for every
 * promise of the process: measured at about a tenth of the hot summary's
 * throughput, paid by answers from L1 that never look at the watch. So the
 * store is entered only around work that can reach PostgreSQL, and switched
 * off (hooks off) whenever no such work is in flight. Hazard: getStore() is
 * then trustworthy only inside these scopes; every path to inSnapshot or a
 * whole-list stream must run in one (reader-app.ts, watched-responder.ts).
 */
let watchesInFlight = 0;

function endWatch(): void {
  watchesInFlight -= 1;
  if (watchesInFlight === 0) requestAbandonment.disable();
}

/** Runs `work` (an answer's queries) with `response`'s watch. */
export async function watchedWhile<T>(response: ServerResponse, work: () => Promise<T>): Promise<T> {
  watchesInFlight += 1;
  try {
    return await requestAbandonment.run(new RequestWatch(response), work);
  } finally {
    endWatch();
  }
}

/** Watches kept past their response's close, ended early by endLingeringWatches (a reader's stop). */
const lingering = new Set<NodeJS.Timeout>();

/**
 * Runs `next` (a hook's continuation: the rest of the request) with
 * `response`'s watch, kept until the response closes — and, when its client
 * went away before the answer was sent, `abandonedGraceMs` longer: the
 * request's work may still be running then (a query it starts after the
 * close, for another table of a list, must still find the watch, see it
 * aborted and not start). Ending the last watch disables the store for
 * every context at once (Node's AsyncLocalStorage.disable), so a watch
 * ended at the close left that work unwatched: its late query then waited
 * on a lock for as long as the lock was held (CI, reader-abandonment).
 */
export function watchedUntilClosed(response: ServerResponse, next: () => void, abandonedGraceMs = 0): void {
  watchesInFlight += 1;
  response.once('close', () => {
    if (response.writableFinished || abandonedGraceMs <= 0) {
      endWatch();
      return;
    }
    const timer = setTimeout(() => {
      lingering.delete(timer);
      endWatch();
    }, abandonedGraceMs);
    timer.unref();
    lingering.add(timer);
  });
  requestAbandonment.run(new RequestWatch(response), next);
}

/** Ends the watches kept for abandoned requests now (a reader stopping: its requests' work is over). */
export function endLingeringWatches(): void {
  for (const timer of lingering) {
    clearTimeout(timer);
    endWatch();
  }
  lingering.clear();
}

/** pg keeps the backend's pid from BackendKeyData on the client; its types leave it out. */
function backendPid(client: PoolClient): number | undefined {
  const pid = (client as PoolClient & { processID?: number | null }).processID;
  return typeof pid === 'number' ? pid : undefined;
}

/**
 * Cancels what `client`'s backend is running now, from a separate short-lived
 * connection with the pool's settings (pg_cancel_backend: a role may cancel
 * its own sessions). Closing the client's socket would not do: PostgreSQL
 * notices a gone client only when it next writes, after the query finished.
 * Best effort: false when the cancel could not be sent.
 */
export async function cancelBackendQuery(pool: Pool, client: PoolClient): Promise<boolean> {
  const pid = backendPid(client);
  if (pid === undefined) return false;
  const canceller = new pg.Client({ ...pool.options, statement_timeout: 5000 });
  try {
    await canceller.connect();
    const { rows } = await canceller.query<{ cancelled: boolean }>('SELECT pg_cancel_backend($1) AS cancelled', [pid]);
    return rows[0]?.cancelled === true;
  } catch {
    return false;
  } finally {
    await canceller.end().catch(() => undefined);
  }
}

/** How often an abandoned request's backend is cancelled again while its work goes on. */
const recancelEveryMs = 200;

/**
 * Cancels the client's query when `signal` aborts, and again every
 * recancelEveryMs until watching stops: one cancel lands only on the query
 * running when it arrives, and work between two queries (or a query sent
 * just after the abort) would otherwise block on a lock for as long as the
 * lock is held. Returns the function that stops watching.
 */
export function cancelOnAbort(pool: Pool, client: PoolClient, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  let watching = true;
  let timer: NodeJS.Timeout | undefined;
  const cancel = (): void => {
    if (!watching) return;
    void cancelBackendQuery(pool, client).finally(() => {
      if (watching) timer = setTimeout(cancel, recancelEveryMs);
    });
  };
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  return () => {
    watching = false;
    clearTimeout(timer);
    signal.removeEventListener('abort', cancel);
  };
}

/** The work of a request its client has gone from: not started. */
export class RequestAbandoned extends Error {
  constructor() {
    super('the client went away before the answer was made');
    this.name = 'RequestAbandoned';
  }
}

export async function inSnapshot<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const watch = requestAbandonment.getStore();
  // Nobody will read it: no connection taken (a request abandoned while it waited for one starts nothing).
  if (abandoned(watch)) throw new RequestAbandoned();
  const client = await pool.connect();
  const stopWatching = cancelOnAbort(pool, client, watch?.signal);
  let reusable = false;
  try {
    await client.query(beginSnapshotSql);
    const result = await work(client);
    await client.query('COMMIT');
    reusable = true;
    return result;
  } finally {
    stopWatching();
    if (!reusable) reusable = await client.query('ROLLBACK').then(() => true, () => false);
    // A cancel sent for an abandoned request may still be on its way: it must not land on the next user of this connection.
    client.release(reusable && !abandoned(watch) ? undefined : true);
  }
}

function abandoned(watch: RequestWatch | undefined): boolean {
  return watch?.signal.aborted === true;
}

/** serves: delta_commit primary key (table_id, version): the versions of the tail, their action counts */
const tailActionsSql = `
  SELECT coalesce(sum(num_adds + num_removes), 0)::bigint AS actions
    FROM deltameta.delta_commit WHERE table_id = $1 AND version > $2 AND version <= $3`;

/**
 * The plan for `version`. A tail of more than `maxTailActions` actions (a
 * table far behind its log: quarantined, or the refresher stopped) is held in
 * memory whole by the tail merge, so the answer comes from the log tables
 * instead (streamed, memory bounded; work proportional to the table's log).
 */
export async function planInSnapshot(client: PoolClient, table: TableRef, version: number, l3Enabled: boolean, maxTailActions?: number): Promise<Plan> {
  const plan = planFor(l3Enabled ? await materializedRange(client, table.tableId) : undefined, version, l3Enabled);
  if (plan.level !== 'l4' || plan.source !== 'tail' || maxTailActions === undefined) return plan;
  const { rows } = await client.query<{ actions: string }>(tailActionsSql, [table.tableId, plan.range.mvVersion, version]);
  return Number(rows[0]?.actions ?? 0) > maxTailActions ? { level: 'l4', source: 'log' } : plan;
}
