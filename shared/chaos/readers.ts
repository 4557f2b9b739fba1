/**
 * The chaos run's readers: clients that ask the reader instances for a
 * table's summary or its files, with no version (latest), with
 * `minVersion` (the version a writer last saw committed: read your writes)
 * or `consistency=strong`, and record every 200 answer: the instance, the
 * version it reported (Delta-Table-Version), what it said (files: the
 * sha-256 of its sorted lines; summary: its counts), and when the request
 * started and ended. The checker compares them with the log afterwards.
 */
import { createHash } from 'node:crypto';
import type { Fleet } from './fleet.ts';

export type ReadMode = 'latest' | 'minVersion' | 'strong';

export interface Answer {
  readonly instance: string;
  readonly table: string;
  readonly what: 'files' | 'summary';
  readonly mode: ReadMode;
  readonly asked: number | undefined;
  readonly version: number;
  /** files: sha-256 of the sorted lines; summary: `numFiles/sizeBytes` */
  readonly digest: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

export function digestLines(lines: readonly string[]): string {
  return createHash('sha256').update([...lines].sort().join('\n')).digest('hex');
}

export class Readers {
  readonly answers: Answer[] = [];
  /** requests that got no 200 (instance down, 503 while PostgreSQL restarts, …): not violations, only counted */
  unanswered = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly fleet: Fleet, private readonly tables: readonly string[], private readonly committedHead: (table: string) => number) {}

  start(clients: number): void {
    this.running = true;
    this.loops = Array.from({ length: clients }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Hands over the answers recorded so far (the checker takes them round by round). */
  take(): Answer[] {
    return this.answers.splice(0, this.answers.length);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const readers = this.fleet.ports('reader');
      const reader = readers[Math.floor(Math.random() * readers.length)];
      const table = this.tables[Math.floor(Math.random() * this.tables.length)] ?? '';
      if (!reader) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      await this.readOnce(reader, table).catch(() => {
        this.unanswered++;
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async readOnce(reader: { id: string; port: number }, table: string): Promise<void> {
    const draw = Math.random();
    const mode: ReadMode = draw < 0.5 ? 'latest' : draw < 0.8 ? 'minVersion' : 'strong';
    const what = Math.random() < 0.5 ? 'files' : 'summary';
    const asked = mode === 'minVersion' ? this.committedHead(table) : undefined;
    const query = mode === 'minVersion' ? `?minVersion=${asked}` : mode === 'strong' ? '?consistency=strong' : '';
    const url = `http://127.0.0.1:${reader.port}/v1/tables/${encodeURIComponent(table)}${what === 'files' ? '/files' : ''}${query}`;
    const startedAt = Date.now();
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    const endedAt = Date.now();
    if (response.status !== 200) {
      this.unanswered++;
      return;
    }
    const version = Number(response.headers.get('delta-table-version'));
    let digest: string;
    if (what === 'files') {
      digest = digestLines(text.split('\n').filter((line) => line !== ''));
    } else {
      const summary = JSON.parse(text) as { numFiles: number; sizeBytes: number };
      digest = `${summary.numFiles}/${summary.sizeBytes}`;
    }
    this.answers.push({ instance: reader.id, table, what, mode, asked, version, digest, startedAt, endedAt });
  }
}
