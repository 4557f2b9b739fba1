/**
 * The chaos run's writers: one loop a table, each commit of a kind drawn at
 * random — blind appends, updates (remove + add at a read version), deletes,
 * schema changes, appends with an application transaction (txn) — through
 * the library (`commit`) or the commit API (any committer instance, with an
 * Idempotency-Key so a retry after a lost answer cannot land twice). A
 * failed commit (PostgreSQL restarting, a committer killed) reloads the
 * table's live files from the log and goes on: the log is the truth, the
 * writer's own view only picks what to remove.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from '../db/index.ts';
import type { Action } from '../delta/index.ts';
import { commit, snapshotLines } from '../log-store/index.ts';
import type { Fleet } from './fleet.ts';

export const commitKinds = ['append', 'update', 'delete', 'schema', 'txn'] as const;
export type CommitKind = (typeof commitKinds)[number];

interface TableState {
  readonly name: string;
  live: Map<string, string>;
  head: number;
  columns: number;
  txnVersion: number;
}

export interface WorkloadCounts {
  commits: number;
  byKind: Record<string, number>;
  byPath: { library: number; api: number };
  failed: number;
}

const partitions = ['a', 'b', 'c', 'd'];

function schemaString(columns: number): string {
  const fields = [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }];
  for (let i = 1; i < columns; i++) fields.push({ name: `c${i}`, type: 'string', nullable: true, metadata: {} });
  return JSON.stringify({ type: 'struct', fields });
}

function metaData(table: string, columns: number): Action {
  return { kind: 'metaData', metaData: { id: table, format: { provider: 'parquet', options: {} }, schemaString: schemaString(columns), partitionColumns: ['p'], configuration: {}, createdTime: 0 } };
}

export class Workload {
  readonly counts: WorkloadCounts = { commits: 0, byKind: {}, byPath: { library: 0, api: 0 }, failed: 0 };
  private readonly tables: TableState[];
  private running = false;
  private loops: Promise<void>[] = [];
  private files = 0;

  constructor(private readonly pool: Pool, names: readonly string[], private readonly fleet: Fleet, private readonly pauseMs = 20) {
    this.tables = names.map((name) => ({ name, live: new Map(), head: -1, columns: 1, txnVersion: 0 }));
  }

  /** The newest version a writer of `table` saw committed. */
  head(table: string): number {
    return this.tables.find((candidate) => candidate.name === table)?.head ?? -1;
  }

  get tableNames(): string[] {
    return this.tables.map((table) => table.name);
  }

  async create(): Promise<void> {
    for (const table of this.tables) {
      const result = await commit(this.pool, { table: table.name, actions: [{ kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, metaData(table.name, 1)] });
      table.head = result.version;
    }
  }

  start(): void {
    this.running = true;
    this.loops = this.tables.map((table) => this.loop(table));
  }

  /** Stops after each table's commit in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(table: TableState): Promise<void> {
    while (this.running) {
      try {
        await this.commitOne(table);
      } catch {
        this.counts.failed++;
        await new Promise((resolve) => setTimeout(resolve, 250));
        await this.reload(table).catch(() => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
  }

  private async reload(table: TableState): Promise<void> {
    const snapshot = await snapshotLines(this.pool, table.name);
    const live = new Map<string, string>();
    for await (const line of snapshot.lines) {
      const add = (JSON.parse(line) as { add: { path: string; partitionValues: Record<string, string> } }).add;
      live.set(add.path, add.partitionValues['p'] ?? 'a');
    }
    table.live = live;
    table.head = snapshot.version;
  }

  private pick(): CommitKind {
    const draw = Math.random();
    return draw < 0.5 ? 'append' : draw < 0.72 ? 'update' : draw < 0.85 ? 'delete' : draw < 0.92 ? 'schema' : 'txn';
  }

  private newAdd(): { action: Action; path: string; partition: string } {
    const partition = partitions[Math.floor(Math.random() * partitions.length)] ?? 'a';
    const path = `p=${partition}/part-${this.files++}-${randomUUID()}.parquet`;
    const records = 1 + Math.floor(Math.random() * 1000);
    const stats = JSON.stringify({ numRecords: records, minValues: { id: 0 }, maxValues: { id: records }, nullCount: { id: 0 } });
    return { action: { kind: 'add', add: { path, partitionValues: { p: partition }, size: 100 + records, modificationTime: Date.now(), dataChange: true, stats } }, path, partition };
  }

  private async commitOne(table: TableState): Promise<void> {
    let kind = this.pick();
    const victims = [...table.live.keys()];
    if ((kind === 'update' || kind === 'delete') && victims.length < 3) kind = 'append';
    const actions: Action[] = [];
    const added: Array<{ path: string; partition: string }> = [];
    const removed: string[] = [];
    if (kind === 'append' || kind === 'update' || kind === 'txn') {
      for (let i = kind === 'update' ? 1 : 1 + Math.floor(Math.random() * 3); i > 0; i--) {
        const { action, path, partition } = this.newAdd();
        actions.push(action);
        added.push({ path, partition });
      }
    }
    if (kind === 'update' || kind === 'delete') {
      const victim = victims[Math.floor(Math.random() * victims.length)] ?? '';
      removed.push(victim);
      actions.push({ kind: 'remove', remove: { path: victim, deletionTimestamp: Date.now(), dataChange: true, partitionValues: { p: table.live.get(victim) ?? 'a' } } });
    }
    if (kind === 'schema') actions.push(metaData(table.name, table.columns + 1));
    if (kind === 'txn') actions.push({ kind: 'txn', txn: { appId: `chaos-${table.name}`, version: table.txnVersion + 1, lastUpdated: Date.now() } });
    const blind = kind === 'append' || kind === 'txn';
    const viaApi = Math.random() < 0.3 && this.fleet.ports('committer').length > 0 && kind !== 'schema';
    const version = viaApi ? await this.post(table, actions, blind) : (await commit(this.pool, { table: table.name, actions, ...(blind ? { isBlindAppend: true } : { readVersion: table.head }) })).version;
    for (const path of removed) table.live.delete(path);
    for (const { path, partition } of added) table.live.set(path, partition);
    if (kind === 'schema') table.columns++;
    if (kind === 'txn') table.txnVersion++;
    table.head = Math.max(table.head, version);
    this.counts.commits++;
    this.counts.byKind[kind] = (this.counts.byKind[kind] ?? 0) + 1;
    this.counts.byPath[viaApi ? 'api' : 'library']++;
  }

  /** Through a committer; a lost answer is retried with the same Idempotency-Key (never landing twice). */
  private async post(table: TableState, actions: readonly Action[], blind: boolean): Promise<number> {
    const body = actions.map((action) => JSON.stringify({ [action.kind]: (action as unknown as Record<string, unknown>)[action.kind] })).join('\n') + '\n';
    const key = randomUUID();
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', 'idempotency-key': key };
    if (blind) headers['delta-blind-append'] = 'true';
    else headers['delta-read-version'] = String(table.head);
    for (let attempt = 1; ; attempt++) {
      const committer = this.fleet.ports('committer')[0];
      try {
        if (!committer) throw new Error('no committer is up');
        const response = await fetch(`http://127.0.0.1:${committer.port}/v1/tables/${encodeURIComponent(table.name)}/commits`, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) });
        const text = await response.text();
        if (response.status === 201 || response.status === 200) return Number(response.headers.get('delta-table-version'));
        if (response.status < 500) throw new CommitRefused(`${response.status} ${text}`);
        throw new Error(`${response.status} ${text}`);
      } catch (error) {
        if (error instanceof CommitRefused || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}

class CommitRefused extends Error {}
