/**
 * After each round the checker holds the run to the design's invariants
 * (DESIGN.md section 5):
 * - converged: every table's head pointer and materialized state reach the
 *   log's head, and the materialized state equals the log at its watermark
 *   (verifyTable);
 * - every answer a reader gave equals the log's snapshot of the version it
 *   reported (files: the same lines; summary: the same count and bytes);
 * - no `minVersion` answer older than asked;
 * - no head moved backward as seen by a reader instance: an answer without
 *   a version asked is never older than one that instance completed before
 *   the request started;
 * - every committed version reached Kafka, in version order per table
 *   after deduplication.
 */
import type { Pool } from '../db/index.ts';
import { type HeadPointers } from '../contracts/index.ts';
import { snapshotLines } from '../log-store/index.ts';
import { verifyTable } from '../materialized/index.ts';
import { eventViolations, type EventRecorder } from './events.ts';
import { digestLines, type Answer } from './readers.ts';

export interface TableHeads {
  readonly log: number;
  readonly pointer: number | undefined;
  readonly materialized: number | undefined;
}

// serves: delta_commit primary key (table_id, version) for max(version); table_state primary key
const headsSql = `
  SELECT t.name, (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)::int AS log,
         (SELECT mv_version FROM deltameta.table_state s WHERE s.table_id = t.table_id)::int AS materialized
    FROM deltameta.delta_table t WHERE t.name = ANY($1)`;

export class Checker {
  private readonly expected = new Map<string, { files: string; summary: string }>();
  /** per reader instance and table: latest answers, for the backward check across rounds */
  private readonly lastSeen = new Map<string, Answer[]>();
  answersChecked = 0;

  constructor(private readonly pool: Pool, private readonly heads: HeadPointers, private readonly tables: readonly string[]) {}

  async headsNow(): Promise<Map<string, TableHeads>> {
    const { rows } = await this.pool.query<{ name: string; log: number; materialized: number | null }>(headsSql, [this.tables]);
    const result = new Map<string, TableHeads>();
    for (const row of rows) result.set(row.name, { log: row.log, pointer: (await this.heads.get(row.name))?.version, materialized: row.materialized ?? undefined });
    return result;
  }

  /** Waits until every table's head pointer and materialized state reach the log head read at the start; the time it took. */
  async converge(timeoutMs: number): Promise<{ ms: number; behind: string[] }> {
    const started = Date.now();
    const target = await this.retry(() => this.headsNow());
    let behind: string[] = [];
    while (Date.now() - started < timeoutMs) {
      const now = await this.retry(() => this.headsNow());
      behind = [...target].flatMap(([table, { log }]) => {
        const heads = now.get(table);
        return (heads?.pointer ?? -1) >= log && (heads?.materialized ?? -1) >= log ? [] : [`${table}: log ${log}, head pointer ${heads?.pointer ?? '-'}, materialized ${heads?.materialized ?? '-'}`];
      });
      if (behind.length === 0) return { ms: Date.now() - started, behind };
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { ms: Date.now() - started, behind };
  }

  /** Materialized state equal to the log at its watermark, for every table. */
  async verifyState(): Promise<string[]> {
    const problems: string[] = [];
    for (const table of this.tables) {
      const result = await this.retry(() => verifyTable(this.pool, table, { maxProblems: 3 }));
      if (!result.ok) problems.push(`${table} at ${result.watermark}: ${result.problems.join('; ')}`);
    }
    return problems;
  }

  async checkAnswers(answers: readonly Answer[]): Promise<string[]> {
    const problems: string[] = [];
    for (const answer of answers) {
      if (answer.mode === 'minVersion' && answer.asked !== undefined && answer.version < answer.asked) {
        problems.push(`${answer.instance} answered ${answer.table} minVersion=${answer.asked} with v${answer.version}`);
      }
      const expected = await this.expectedAt(answer.table, answer.version);
      const wanted = answer.what === 'files' ? expected.files : expected.summary;
      if (answer.digest !== wanted) problems.push(`${answer.instance} answered ${answer.table} ${answer.what} at v${answer.version} unlike the log (${answer.digest.slice(0, 16)} ≠ ${wanted.slice(0, 16)})`);
      this.answersChecked++;
    }
    problems.push(...this.backward(answers));
    return problems;
  }

  private backward(answers: readonly Answer[]): string[] {
    return backwardViolations(this.lastSeen, answers);
  }

  checkEvents(recorder: EventRecorder, heads: ReadonlyMap<string, TableHeads>): string[] {
    return [...heads].flatMap(([table, { log }]) => eventViolations(table, recorder.versions.get(table) ?? [], log));
  }

  /** The log's answer at (table, version), computed once. */
  private async expectedAt(table: string, version: number): Promise<{ files: string; summary: string }> {
    const key = `${table}@${version}`;
    const known = this.expected.get(key);
    if (known) return known;
    const lines: string[] = [];
    let bytes = 0;
    const snapshot = await this.retry(() => snapshotLines(this.pool, table, { version }));
    for await (const line of snapshot.lines) {
      lines.push(line);
      bytes += (JSON.parse(line) as { add: { size: number } }).add.size;
    }
    const expected = { files: digestLines(lines), summary: `${lines.length}/${bytes}` };
    this.expected.set(key, expected);
    return expected;
  }

  /** PostgreSQL may be restarting when a check starts. */
  private async retry<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= 60) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }
}

/**
 * An answer of a reader instance older than one that instance completed
 * before the request started ("no head moved backward as seen by a
 * reader"). `lastSeen` carries each (instance, table)'s latest answers from
 * round to round and is updated.
 */
export function backwardViolations(lastSeen: Map<string, Answer[]>, answers: readonly Answer[]): string[] {
  const problems: string[] = [];
  const groups = new Map<string, Answer[]>();
  for (const answer of answers) {
    const key = `${answer.instance} ${answer.table}`;
    groups.set(key, [...(groups.get(key) ?? []), answer]);
  }
  for (const [key, group] of groups) {
    const byEnd = [...(lastSeen.get(key) ?? []), ...group].sort((a, b) => a.endedAt - b.endedAt);
    const byStart = [...group].sort((a, b) => a.startedAt - b.startedAt);
    let index = 0;
    let highest: Answer | undefined;
    for (const answer of byStart) {
      while (index < byEnd.length && (byEnd[index]?.endedAt ?? Infinity) < answer.startedAt) {
        const done = byEnd[index++];
        if (done && done.version > (highest?.version ?? -1)) highest = done;
      }
      if (highest && answer.version < highest.version) {
        problems.push(`${key}: v${answer.version} (${answer.mode}) after v${highest.version} (${highest.mode}) was answered ${answer.startedAt - highest.endedAt} ms before`);
      }
    }
    lastSeen.set(key, byEnd.slice(-20));
  }
  return problems;
}
